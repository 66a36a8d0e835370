package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/labctl/labctl/vm"
	"github.com/spf13/cobra"
)

func newDownCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove the lab's VMs, disks, seeds and networks",
		Long: `Remove every libvirt object of the lab: its domains, its disks and seeds in
the storage pool, and its networks (a network is kept, and said so, if a VM
that is not part of the lab still uses it). labctl finds its objects by their
metadata and names, so 'down' works also when the lab's state is lost.
Cached images are kept ('labctl image rm' removes those). The lab's state
directory (keys, known_hosts, logs) is removed too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			g.topologyChangeOK = true // down removes the lab by its names and metadata
			s, err := g.openLab("labctl down")
			if err != nil {
				return err
			}
			defer s.close()
			if err := s.connect(ctx); err != nil {
				return err
			}
			r, err := vm.Down(ctx, s.conn, s.plan.Lab, s.plan.Libvirt.Pool)
			if g.output == "json" {
				if jerr := g.writeJSON(r); jerr != nil {
					return jerr
				}
			} else {
				fmt.Fprintf(g.stdout, "lab %s: removed %d domains, %d volumes, %d networks\n", s.plan.Lab, len(r.Domains), len(r.Volumes), len(r.Networks))
				for _, k := range r.Kept {
					fmt.Fprintf(g.stdout, "kept %s\n", k)
				}
			}
			if err != nil {
				return fmt.Errorf("lab %s: down: %w\n(run 'labctl down' again)", s.plan.Lab, err)
			}
			return clearStateDir(s.dir.Path)
		},
	}
}

// clearStateDir removes everything in the lab's directory but its lock.
func clearStateDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var failed []string
	for _, e := range entries {
		if e.Name() == "lock" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("clear state: %s", strings.Join(failed, "; "))
	}
	return nil
}
