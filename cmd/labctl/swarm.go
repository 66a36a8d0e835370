package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/labctl/labctl/exercise/overlay"
	"github.com/spf13/cobra"
)

func newSwarmCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "swarm",
		Short: "Show or leave the Swarm the overlay lab builds",
		Long: `The overlay lab ('labctl lab run overlay') makes the lab's nodes a Swarm:
the first node initialises it on its host-only address, the others join over
the host-only network. The lab leaves the swarm again when it ends; with
--keep the swarm stays for you to explore, and 'labctl swarm leave' ends it.`,
	}
	cmd.AddCommand(newSwarmStatusCmd(g), newSwarmLeaveCmd(g))
	return cmd
}

func newSwarmStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Each node's Swarm state, role and address; the manager's node list",
		Long: `Asks every node's Docker (over the lab's SSH connection) whether it is in a
swarm, as what, at which address, and which managers it knows; a manager
also lists the swarm's nodes ('docker node ls').`,
		Example: `  labctl swarm status
  labctl swarm status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, closeEnv, err := g.openNodes(ctx)
			if err != nil {
				return err
			}
			defer closeEnv()
			st := overlay.SwarmStatus(ctx, env)
			var members []overlay.Member
			var from string
			for _, ns := range st {
				if ns.Role == "manager" {
					members, err = overlay.SwarmMembers(ctx, env.Nodes[ns.Node].Docker())
					if err != nil {
						return fmt.Errorf("%s: list the swarm's nodes: %w", ns.Node, err)
					}
					from = ns.Node
					break
				}
			}
			return g.emit(map[string]any{"nodes": st, "members": members, "members_from": from}, func() error {
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NODE\tSTATE\tROLE\tADDRESS\tMANAGERS\tLABCTL'S")
				for _, ns := range st {
					state := ns.State
					if ns.Error != "" {
						state += " (" + ns.Error + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ns.Node, state, dash(ns.Role), dash(ns.NodeAddr), dash(strings.Join(ns.Managers, ",")), yesNo(ns.Ours))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if from != "" {
					fmt.Fprintf(g.stdout, "\nnodes of the swarm (from %s):\n%s\n", from, overlay.MembersTable(members))
				}
				return nil
			})
		},
	}
}

func newSwarmLeaveCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:     "leave",
		Example: "  labctl swarm leave",
		Short:   "Make every node leave the swarm labctl created (safe to repeat)",
		Long: `Workers leave first, then the managers, all with --force. Nodes not in a swarm
are left alone. A node in a swarm that labctl did not create is reported and
left as it is, unless --all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, closeEnv, err := g.openNodes(ctx)
			if err != nil {
				return err
			}
			defer closeEnv()
			if err := overlay.LeaveSwarm(ctx, env, all); err != nil {
				return err
			}
			fmt.Fprintln(g.stderr, "no node of the lab is in a labctl swarm")
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also leave a swarm labctl did not create")
	return cmd
}
