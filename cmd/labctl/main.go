// Command labctl builds multi-host Docker networking labs on libvirt VMs and
// proves, with automatic checks, what each Docker network mode does.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd(os.Stdout, os.Stderr).ExecuteContext(ctx)
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, "labctl: "+ee.msg)
		}
		os.Exit(ee.code)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "labctl: interrupted:", err)
		os.Exit(130)
	}
	fmt.Fprintln(os.Stderr, "labctl: "+err.Error())
	os.Exit(1)
}

// exitError ends labctl with a given status after its message (if any) was
// printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
