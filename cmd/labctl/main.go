// Command labctl builds multi-host Docker networking labs on libvirt VMs and
// proves, with automatic checks, what each Docker network mode does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/labctl/labctl/internal/termtext"
)

func main() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	go onSignals(sigs, cancel, os.Stderr, os.Exit)
	err := newRootCmd(os.Stdout, os.Stderr).ExecuteContext(ctx)
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, "labctl: "+termtext.Clean(ee.msg))
		}
		os.Exit(ee.code)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "labctl: interrupted:", err)
		os.Exit(130)
	}
	fmt.Fprintln(os.Stderr, "labctl: "+termtext.Clean(err.Error()))
	os.Exit(1)
}

// onSignals makes the first Ctrl-C or SIGTERM cancel the command, which
// then cleans up what it started (a lab's teardown, a partial download)
// and says where it stopped; a second one exits at once, for when the
// clean-up itself hangs.
func onSignals(sigs <-chan os.Signal, cancel context.CancelFunc, stderr io.Writer, exit func(int)) {
	s := <-sigs
	fmt.Fprintf(stderr, "labctl: %v: stopping and cleaning up (again to exit at once)\n", s)
	cancel()
	s = <-sigs
	fmt.Fprintf(stderr, "labctl: %v again: exiting now; 'labctl up' or 'labctl down' finishes what was left\n", s)
	exit(130)
}

// exitError ends labctl with a given status after its message (if any) was
// printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
