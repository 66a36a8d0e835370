// Command devlab starts the test harness (libvirtd in a private network
// namespace, with the upstream "outside" host) and keeps it running until
// interrupted, for working on labs by hand:
//
//	sudo go run ./internal/testlab/devlab &
//	sudo ip netns exec labctl-test-PID labctl up -f lab.yaml
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/labctl/labctl/internal/testlab"
)

func main() {
	dir, err := os.MkdirTemp("", "devlab-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env, err := testlab.StartEnv(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := env.AddUpstream(); err != nil {
		env.Stop()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("namespace %s, outside %s, logs in %s; Ctrl-C stops\n", env.NS, testlab.UpstreamAddr, dir)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	<-ch
	env.Stop()
}
