package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/labctl/labctl/internal/atomicfile"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/internal/strictyaml"
	"github.com/labctl/labctl/inventory"
	"github.com/spf13/cobra"
)

// openNodes connects to the nodes the labs run on (the lab's VMs, or the
// --inventory hosts) without locking the lab: for commands that only look
// or act inside the nodes.
func (g *globals) openNodes(ctx context.Context) (*exercise.Env, func(), error) {
	l, err := g.openLab("", false)
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	return l.Nodes(ctx)
}

func newHostsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "Run the labs on hosts labctl did not create (Vagrant boxes, your own machines)",
		Long: `An inventory file lists machines that play the topology's nodes: how to log
in (address, user, key) and, where they differ from the topology, their NIC
names and addresses. With --inventory FILE, 'labctl lab run' and
'labctl swarm' use those hosts instead of labctl's VMs; labctl creates no VM,
network or Docker installation there: the hosts must have Docker (the login
user in the docker group, sudo without a password) and the topology's
networks and VLAN sub-interfaces.

Host keys are trusted on first use: the first connection prints each host's
key fingerprint and pins it in the lab's state directory; later a changed
key is refused.

An inventory file:

  user: vagrant
  key: ~/.vagrant.d/insecure_private_key
  hosts:
    - name: node1
      address: 192.168.121.10      # host[:port] of its SSH server
      nics: {nat: eth1}            # when not the topology's names
      addresses: {hostonly: 192.168.242.11/24}
    - name: node2
      address: 192.168.121.11`,
	}
	cmd.AddCommand(newHostsImportCmd(g), newHostsCheckCmd(g))
	return cmd
}

// machineName is what a Vagrant machine name may be here: nothing that
// vagrant would read as an option or a pattern.
var machineName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func newHostsImportCmd(g *globals) *cobra.Command {
	var vagrant bool
	var dir, to string
	cmd := &cobra.Command{
		Use:   "import --vagrant [MACHINE...]",
		Short: "Write an inventory from 'vagrant ssh-config'",
		Long: `Runs 'vagrant ssh-config' (in --dir, where the Vagrantfile is) and writes an
inventory with each machine's name, address, port, user and key: every
machine of the project, or the MACHINEs named (those 'vagrant up' brought
up, when not all of them). Check the NIC names and addresses against your
topology, then run 'labctl hosts check --inventory FILE'.`,
		Example: `  labctl hosts import --vagrant --to hosts.yaml
  labctl hosts import --vagrant node1 --to hosts.yaml
  labctl hosts check --inventory hosts.yaml
  labctl lab run all --inventory hosts.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !vagrant {
				return usageErr("hosts import: say where from: --vagrant")
			}
			for _, a := range args {
				if !machineName.MatchString(a) {
					return usageErr("hosts import: %s is not a Vagrant machine name", strictyaml.Quote(a))
				}
			}
			c := exec.CommandContext(cmd.Context(), "vagrant", append([]string{"ssh-config"}, args...)...)
			c.Dir = dir
			var out, errb bytes.Buffer
			c.Stdout, c.Stderr = &out, &errb
			if err := c.Run(); err != nil {
				return fmt.Errorf("vagrant ssh-config (in %s): %w: %s", dirOrHere(dir), err, errb.String())
			}
			inv, err := inventory.FromSSHConfig(&out)
			if err != nil {
				return err
			}
			var b bytes.Buffer
			if err := inv.Marshal(&b, "labctl inventory from 'vagrant ssh-config' in "+dirOrHere(dir)+"\nAdd nics:/addresses: where the hosts differ from the topology."); err != nil {
				return err
			}
			if to == "" {
				_, err := g.stdout.Write(b.Bytes())
				return err
			}
			if err := atomicfile.Write(to, b.Bytes(), 0o644); err != nil {
				return err
			}
			noun := "hosts"
			if len(inv.Hosts) == 1 {
				noun = "host"
			}
			fmt.Fprintf(g.stderr, "wrote %s (%d %s)\n", to, len(inv.Hosts), noun)
			return nil
		},
	}
	cmd.Flags().BoolVar(&vagrant, "vagrant", false, "import the machines of a Vagrant project")
	cmd.Flags().StringVar(&dir, "dir", "", "the Vagrant project's directory (default: the current one)")
	cmd.Flags().StringVar(&to, "to", "", "write the inventory to FILE instead of stdout")
	return cmd
}

func dirOrHere(d string) string {
	if d == "" {
		if wd, err := os.Getwd(); err == nil {
			return wd
		}
		return "."
	}
	return d
}

func newHostsCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "check --inventory FILE",
		Example: "  labctl hosts check --inventory hosts.yaml",
		Short:   "Validate an inventory, log into every host (pinning new host keys) and ask Docker",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.inventory == "" {
				return usageErr("hosts check: --inventory FILE is required")
			}
			ctx := cmd.Context()
			env, closeEnv, err := g.openNodes(ctx)
			if err != nil {
				return err
			}
			defer closeEnv()
			type row struct {
				Node    string `json:"node"`
				Docker  string `json:"docker"`
				Missing string `json:"missing,omitempty"`
			}
			var rows []row
			failed := false
			for _, n := range env.Plan.Nodes {
				r := row{Node: n.Name}
				info, err := env.Nodes[n.Name].Docker().Info(ctx)
				if err != nil {
					r.Docker, failed = "error: "+err.Error(), true
				} else {
					r.Docker = info.ServerVersion
				}
				var ifs []string
				for _, nic := range n.NICs {
					ifs = append(ifs, nic.Guest)
				}
				for _, v := range n.VLANs {
					ifs = append(ifs, v.Name)
				}
				for _, i := range ifs {
					o, err := env.Nodes[n.Name].Sh(ctx, "ip link show dev "+i+" >/dev/null 2>&1")
					if err != nil || o.Exit != 0 {
						r.Missing += i + " "
						failed = true
					}
				}
				r.Missing = strings.TrimSpace(r.Missing)
				rows = append(rows, r)
			}
			if g.output == "json" {
				if err := g.writeJSON(map[string]any{"nodes": rows}); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NODE\tDOCKER\tMISSING INTERFACES")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Node, r.Docker, dash(r.Missing))
				}
				tw.Flush()
			}
			if failed {
				return &exitError{code: 1, msg: "some hosts are not ready for the labs (see above)"}
			}
			return nil
		},
	}
}
