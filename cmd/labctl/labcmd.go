package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/labs"
	"github.com/spf13/cobra"
)

func newLabCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "List, explain and run the network-mode labs",
		Long: `Each lab sets up one of Docker's network modes on the lab's nodes the way the
tutorial does, then proves what it does with checks that pass or fail with
evidence: the command, where it ran, and what it printed. Expected failures
("milk cannot reach beijing") are checks too: they fail if the packet gets
through. Every lab removes what it created, also when a check fails.`,
	}
	cmd.AddCommand(newLabLsCmd(g), newLabExplainCmd(g), newLabRunCmd(g))
	return cmd
}

func newLabLsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the labs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			type row struct {
				Name   string `json:"name"`
				Title  string `json:"title"`
				Nodes  int    `json:"min_nodes"`
				Checks int    `json:"checks"`
			}
			var rows []row
			for _, l := range labs.All() {
				rows = append(rows, row{l.Name, l.Title, l.MinNodes, len(l.Checks)})
			}
			return g.emit(rows, func() error {
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "LAB\tNODES\tCHECKS\tWHAT")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", r.Name, r.Nodes, r.Checks, r.Title)
				}
				return tw.Flush()
			})
		},
	}
}

func newLabExplainCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "explain NAME",
		Short: "What a lab shows, the tutorial's commands, and what to look for",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, ok := labs.Lookup(args[0])
			if !ok {
				return usageErr("lab explain: no lab %q; 'labctl lab ls' lists them", args[0])
			}
			w := g.stdout
			fmt.Fprintf(w, "%s: %s\n\n%s\n\nThe tutorial's commands:\n", l.Name, l.Title, l.Explain)
			for _, c := range l.Tutorial {
				fmt.Fprintf(w, "  %s\n", c)
			}
			fmt.Fprintln(w, "\nWhat to look for:")
			for _, c := range l.LookFor {
				fmt.Fprintf(w, "  - %s\n", c)
			}
			fmt.Fprintln(w, "\nWhat 'labctl lab run "+l.Name+"' checks:")
			for _, c := range l.Checks {
				fmt.Fprintf(w, "  - %s (%s)\n", c.Name, c.Expect)
			}
			return nil
		},
	}
}

func newLabRunCmd(g *globals) *cobra.Command {
	var keep bool
	var junit string
	cmd := &cobra.Command{
		Use:   "run NAME...|all",
		Short: "Run labs on the lab's nodes and report every check with its evidence",
		Long: `Run labs on the nodes of the lab (bring them up with 'labctl up' first).
Prints a table of checks and, for every failed check, its evidence; the last
line is "N passed, N failed". The exit status is 1 when any check failed.
--output json prints progress as JSON lines ({"type":"event",...}) and last
{"type":"result",...} with every check and its evidence; --junit FILE writes
JUnit XML for CI or for grading a workshop.`,
		Example: `  labctl lab run bridge
  labctl lab run all --junit results.xml
  labctl lab run all --inventory hosts.yaml   # on machines labctl did not create
  labctl lab run macvlan --keep     # leave it set up to look around`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var run []*labs.Exercise
			if len(args) == 1 && args[0] == "all" {
				run = labs.All()
			} else {
				for _, a := range args {
					l, ok := labs.Lookup(a)
					if !ok {
						return usageErr("lab run: no lab %q; 'labctl lab ls' lists them", a)
					}
					run = append(run, l)
				}
			}
			l, err := g.openLab("labctl lab run "+strings.Join(args, " "), false)
			if err != nil {
				return err
			}
			defer l.Close()
			ctx := cmd.Context()
			reps, runErr := l.RunLabs(ctx, run, lab.RunOptions{Keep: keep, Unfit: func(err error) {
				fmt.Fprintf(g.stderr, "labctl: %v\n", err)
			}})
			if reps == nil {
				return runErr
			}
			if junit != "" {
				f, err := os.Create(junit)
				if err != nil {
					return err
				}
				if err := labs.WriteJUnit(f, reps); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			if g.output == "json" {
				p, f := labs.Totals(reps)
				if err := json.NewEncoder(g.stdout).Encode(map[string]any{"type": "result", "labs": reps, "passed": p, "failed": f}); err != nil {
					return err
				}
			} else {
				labs.WriteText(g.stdout, reps)
			}
			if runErr != nil { // the reports are shown; the state could not be saved
				return runErr
			}
			if _, f := labs.Totals(reps); f > 0 || ctx.Err() != nil {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the lab set up afterwards (the next run removes it)")
	cmd.Flags().StringVar(&junit, "junit", "", "also write the results as JUnit XML to FILE")
	return cmd
}
