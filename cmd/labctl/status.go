package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "status",
		Example: "  labctl status\n  labctl --lab ws-s03 status -o json",
		Short:   "Show each node's state, MACs and addresses",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := g.openLab("", false)
			if err != nil {
				return err
			}
			defer l.Close()
			st, err := l.Status(cmd.Context())
			if err != nil {
				return err
			}
			impaired := l.Impaired()
			return g.emit(map[string]any{"lab": l.Name, "nodes": st, "impaired": impaired}, func() error {
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				spread := len(l.Plan.Hypervisors) > 0
				if spread {
					fmt.Fprint(tw, "HYPERVISOR\t")
				}
				fmt.Fprintln(tw, "NODE\tSTATE\tNIC\tMAC\tADDRESS\tNETWORK")
				for _, n := range st {
					for i, nic := range n.NICs {
						name, state, hv := n.Name, n.State, n.Hypervisor
						if i > 0 {
							name, state, hv = "", "", ""
						}
						if spread {
							fmt.Fprintf(tw, "%s\t", hv)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, state, nic.Guest, nic.MAC, nic.Address, nic.Network)
					}
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				for _, im := range impaired {
					fmt.Fprintf(g.stdout, "impaired %s (labctl impair NODE IFACE --clear)\n", im)
				}
				return nil
			})
		},
	}
}
