package main

import (
	"context"
	"fmt"
	"time"

	"github.com/labctl/labctl/graph"
	"github.com/labctl/labctl/lab"
	"github.com/spf13/cobra"
)

func newGraphCmd(g *globals) *cobra.Command {
	var format string
	var live bool
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Draw the lab: networks, nodes, NICs with addresses, VLANs on the trunk (DOT, Mermaid or SVG)",
		Long: `Draw the lab as a picture: the host with the NAT and host-only networks,
each node with its NICs (addresses, MACs) and VLAN sub-interfaces on the
802.1q trunk. --live adds what is on the nodes now: each node's Docker
networks and the containers on them.

--format dot (Graphviz), mermaid (for Markdown) or svg (through Graphviz's
dot: Debian's graphviz package). Without Graphviz, --format svg fails with
what to do and writes nothing to standard output, so that 'graph --format
svg > lab.svg' never leaves a file that is not SVG; dot and mermaid need
nothing.`,
		Example: `  labctl graph --format svg > lab.svg
  labctl graph --live --format mermaid
  labctl graph | dot -Tpng > lab.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch format {
			case "dot", "mermaid", "svg":
			default:
				return usageErr("--format %q: use dot, mermaid or svg", format)
			}
			l, err := g.openLab("", false)
			if err != nil {
				return err
			}
			defer l.Close()
			var state map[string]graph.Live
			if live {
				if state, err = liveState(ctx, l); err != nil {
					return err
				}
			}
			switch format {
			case "mermaid":
				_, err = fmt.Fprint(g.stdout, graph.Mermaid(l.Plan, state))
				return err
			case "svg":
				dot := graph.DOT(l.Plan, state)
				svg, err := graph.SVG(ctx, dot)
				if err != nil {
					return err
				}
				_, err = g.stdout.Write(graph.Stamp(svg, dot))
				return err
			}
			_, err = fmt.Fprint(g.stdout, graph.DOT(l.Plan, state))
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "dot", "dot, mermaid or svg")
	cmd.Flags().BoolVar(&live, "live", false, "also the Docker networks and containers on the nodes now")
	return cmd
}

// liveState asks every node's Docker for its networks and containers.
func liveState(ctx context.Context, l *lab.Lab) (map[string]graph.Live, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return l.Live(ctx)
}
