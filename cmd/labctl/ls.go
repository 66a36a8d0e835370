package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/labctl/labctl/internal/termtext"
	"github.com/labctl/labctl/lab"
	"github.com/spf13/cobra"
)

func newLsCmd(g *globals) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the labs that exist here: name, state, nodes, hypervisors, topology file",
		Long: `List the labs this user has brought up (their state under
~/.local/state/labctl): each lab's name, whether its last up finished (up),
failed (up again carries on) or was never run (created), its nodes and
hypervisors, and the topology file it came from. It reads the labs' state
only: quick, and without libvirt ('labctl --lab NAME status' asks libvirt).
The exercises are 'labctl lab ls'.`,
		Example: `  labctl ls
  labctl ls -q | xargs -n1 -I{} labctl --lab {} status
  labctl ls -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			labs, err := lab.List()
			if err != nil {
				return err
			}
			if labs == nil {
				labs = []lab.Summary{}
			}
			if quiet {
				for _, l := range labs {
					fmt.Fprintln(g.stdout, l.Name)
				}
				return nil
			}
			return g.emit(map[string]any{"labs": labs}, func() error {
				tw := tabwriter.NewWriter(termtext.Writer(g.stdout), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSTATE\tNODES\tHYPERVISORS\tTOPOLOGY")
				for _, l := range labs {
					file := l.Topology
					if file == "" {
						file = "(built-in)"
					}
					if l.Error != "" {
						file += " (" + l.Error + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", l.Name, l.State, l.Nodes, strings.Join(l.Hypervisors, ","), file)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print the names only")
	return cmd
}
