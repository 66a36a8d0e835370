package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/labctl/labctl/vm"
	"github.com/spf13/cobra"
)

func newConsoleCmd(g *globals) *cobra.Command {
	var logOnly bool
	cmd := &cobra.Command{
		Use:     "console NODE",
		Example: "  labctl console node2          # attach (Ctrl-] leaves)\n  labctl console node2 --log    # the boot log, also while the node is down",
		Short:   "Attach to a node's serial console (Ctrl-] leaves), or print its log",
		Long: `Attach to a node's serial console through virsh (Ctrl-] leaves). Every node's
console is also logged to the lab's state directory from its first boot:
--log prints that log instead, which works even while the node is down.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := g.openLab("", false)
			if err != nil {
				return err
			}
			defer l.Close()
			p := l.Plan
			n, ok := p.Node(args[0])
			if !ok {
				return usageErr("console: lab %s has no node %q", p.Lab, args[0])
			}
			uri := p.Libvirt.URI
			for _, h := range p.Hypervisors {
				if h.Name == n.Hypervisor {
					uri = h.URI
				}
			}
			if logOnly {
				if !strings.HasPrefix(uri, "qemu:///") {
					return fmt.Errorf("%s runs on hypervisor %s (%s): its console log is %s there; or attach with 'labctl console %s'", n.Name, n.Hypervisor, uri, vm.RemoteConsoleLog(n.Domain), n.Name)
				}
				f, err := os.Open(vm.ConsoleLog(l.Dir(), n.Name))
				if err != nil {
					return fmt.Errorf("console log of %s: %w", n.Name, err)
				}
				defer f.Close()
				_, err = io.Copy(g.stdout, f)
				return err
			}
			virsh, err := exec.LookPath("virsh")
			if err != nil {
				return fmt.Errorf("console needs virsh (Debian: apt-get install libvirt-clients); 'labctl console --log %s' prints the console log instead", n.Name)
			}
			// Asked first, so that a node that is not there or not running
			// is said in labctl's words, not virsh's.
			sctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			st, err := l.Status(sctx)
			cancel()
			if err != nil {
				return fmt.Errorf("console %s: %w", n.Name, err)
			}
			for _, v := range st {
				if v.Name != n.Name {
					continue
				}
				switch v.State {
				case "running":
				case "not labctl's":
					return fmt.Errorf("the domain %s is not labctl's (it lacks labctl's metadata): labctl leaves it alone; 'virsh console %s' attaches to it", n.Domain, n.Domain)
				case "absent":
					return fmt.Errorf("%s does not exist (lab %s is not up): 'labctl up' creates it; 'labctl console --log %s' prints the log of its last boot", n.Name, p.Lab, n.Name)
				default:
					return fmt.Errorf("%s is %s, not running: its console has nothing to attach to; 'labctl up' starts it, 'labctl console --log %s' prints its last boot", n.Name, v.State, n.Name)
				}
			}
			l.Close()
			return syscall.Exec(virsh, []string{"virsh", "-c", uri, "console", n.Domain}, os.Environ())
		},
	}
	cmd.Flags().BoolVar(&logOnly, "log", false, "print the console log instead of attaching")
	return cmd
}
