package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

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
			return syscall.Exec(virsh, []string{"virsh", "-c", uri, "console", n.Domain}, os.Environ())
		},
	}
	cmd.Flags().BoolVar(&logOnly, "log", false, "print the console log instead of attaching")
	return cmd
}
