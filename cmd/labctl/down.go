package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDownCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "down",
		Example: "  sudo labctl down\n  sudo labctl --lab ws-s03 down -f lab.yaml    # without its state: the file names its hypervisors",
		Short:   "Remove the lab's VMs, disks, seeds and networks",
		Long: `Remove every libvirt object of the lab: its domains, its disks and seeds in
the storage pool, and its networks (a network is kept, and said so, if a VM
that is not part of the lab still uses it). labctl finds its objects by their
metadata and names, so 'down' works also when the lab's state is lost.
Cached images are kept ('labctl image rm' removes those). The lab's state
directory (keys, known_hosts, logs) is removed too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// down removes the lab by its names and metadata: a changed
			// file does not matter.
			l, err := g.openLab("labctl down", true)
			if err != nil {
				return err
			}
			defer l.Close()
			r, err := l.Down(cmd.Context())
			if g.output == "json" {
				if jerr := g.writeJSON(r); jerr != nil {
					return jerr
				}
			} else if err != nil {
				// What was removed before it failed, not as a success.
				if n := len(r.Domains) + len(r.Volumes) + len(r.Networks) + len(r.Tunnels); n > 0 {
					fmt.Fprintf(g.stderr, "labctl: down removed %d domains, %d volumes, %d networks, %d tunnel devices before it failed\n", len(r.Domains), len(r.Volumes), len(r.Networks), len(r.Tunnels))
				}
			} else {
				fmt.Fprintf(g.stdout, "lab %s: removed %d domains, %d volumes, %d networks", l.Name, len(r.Domains), len(r.Volumes), len(r.Networks))
				if len(r.Tunnels) > 0 {
					fmt.Fprintf(g.stdout, ", %d tunnel devices", len(r.Tunnels))
				}
				fmt.Fprintln(g.stdout)
				for _, k := range r.Kept {
					fmt.Fprintf(g.stdout, "kept %s\n", k)
				}
			}
			return err
		},
	}
}
