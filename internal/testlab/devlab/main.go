// Command devlab starts the test harness (libvirtd in a private network
// namespace, with the upstream "outside" host) and keeps it running until
// interrupted, for working on labs by hand:
//
//	sudo go run ./internal/testlab/devlab &
//	sudo ip netns exec labctl-test-PID labctl up -f lab.yaml
//
// With -hypervisors N it also starts N-1 simulated hypervisors (hv2, ...)
// beside the namespace (hv1) and prints the topology's hypervisors: list.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/labctl/labctl/internal/testlab"
)

func main() {
	hvs := flag.Int("hypervisors", 1, "hypervisors to simulate, the namespace itself included")
	flag.Parse()
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
	if *hvs > 1 {
		fmt.Printf("hypervisors:\n  - name: hv1\n    uri: qemu:///system\n    address: %s\n", testlab.UnderlayAddr(1))
		for i := 2; i <= *hvs; i++ {
			name := fmt.Sprintf("hv%d", i)
			h, err := env.AddHypervisor(name, i, filepath.Join(dir, "hv-"+name))
			if err != nil {
				env.Stop()
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Printf("  - name: %s\n    uri: %s\n    address: %s\n    identity: %s\n", name, h.URI, h.Addr, h.Identity)
			fmt.Fprintf(os.Stderr, "%s: nsenter -t %d -m -n virsh list\n", name, h.Pid())
		}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	<-ch
	env.Stop()
}
