package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/exercise/catalog"
	"github.com/labctl/labctl/internal/termtext"
	"github.com/labctl/labctl/lab"
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
	cmd.PersistentFlags().StringArrayVar(&g.labFiles, "labs", nil, "also these lab files (a file or a directory of .yaml files; repeatable; default $LABCTL_LABS, colon-separated)")
	cmd.AddCommand(newLabLsCmd(g), newLabExplainCmd(g), newLabRunCmd(g), newLabCheckCmd(g), newLabValidateCmd(g), newLabNewCmd(g), newLabSchemaCmd(g))
	return cmd
}

// catalog is the built-in exercises and the lab files of --labs (or
// $LABCTL_LABS).
func (g *globals) catalog() (*catalog.Catalog, error) {
	paths := g.labFiles
	if len(paths) == 0 {
		for _, p := range strings.Split(os.Getenv("LABCTL_LABS"), ":") {
			if p != "" {
				paths = append(paths, p)
			}
		}
	}
	return catalog.NewCatalog(paths)
}

func newLabLsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Example: "  labctl lab ls\n  labctl lab ls --labs ./course/ -o json",
		Short:   "List the labs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			type row struct {
				Name   string `json:"name"`
				Title  string `json:"title"`
				Nodes  int    `json:"min_nodes"`
				Checks int    `json:"checks"`
				File   string `json:"file,omitempty"`
			}
			c, err := g.catalog()
			if err != nil {
				return err
			}
			var rows []row
			for _, l := range c.All() {
				file := l.File
				if strings.HasPrefix(file, "builtin/") {
					file = "" // embedded
				}
				rows = append(rows, row{l.Name, l.Title, l.MinNodes, len(l.Checks), file})
			}
			return g.emit(map[string]any{"labs": rows}, func() error {
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "LAB\tNODES\tCHECKS\tWHAT\tFILE")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", r.Name, r.Nodes, r.Checks, r.Title, dash(r.File))
				}
				return tw.Flush()
			})
		},
	}
}

// explanation is what 'lab explain -o json' prints.
type explanation struct {
	Name     string             `json:"name"`
	Title    string             `json:"title"`
	Explain  string             `json:"explain"`
	Tutorial []string           `json:"tutorial"`
	LookFor  []string           `json:"look_for"`
	Lab      string             `json:"lab"`
	Steps    []exercise.Command `json:"steps"`
	Checks   []explainedCheck   `json:"checks"`
}

type explainedCheck struct {
	Name   string `json:"name"`
	Expect string `json:"expect"`
	Stage  int    `json:"stage"`
	Hint   string `json:"hint,omitempty"`
}

func newLabExplainCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "explain NAME",
		Short: "What a lab shows, the tutorial's commands, the commands that build it on this lab, and what to look for",
		Long: `Explain an exercise: what it shows, the tutorial's commands, what to look
for, and the commands that build it by hand on this lab's nodes - with the
lab's own subnets, gateways, addresses and NIC names (a workshop seat's:
'labctl --lab ws-s07 lab explain macvlan'), each on the node it runs on.
Typed there, they leave what 'labctl lab run' builds, so 'labctl lab check'
passes. -o json gives the same, with the steps as {"on", "run"}.`,
		Example: `  labctl lab explain macvlan
  labctl --lab ws-s07 lab explain ipvlan-l3 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.catalog()
			if err != nil {
				return err
			}
			ls, err := c.Resolve(args)
			if err != nil {
				return usageErr("lab explain: %v", err)
			}
			if len(ls) != 1 {
				return usageErr("lab explain: %s holds %d labs; name one", args[0], len(ls))
			}
			l := ls[0]
			_, p, err := g.loadPlan(false)
			if err != nil {
				return err
			}
			e := explanation{Name: l.Name, Title: l.Title, Explain: l.Explain, Tutorial: l.Tutorial, LookFor: l.LookFor, Lab: p.Lab, Steps: []exercise.Command{}}
			if l.Commands != nil {
				if e.Steps, err = l.Commands(p); err != nil {
					return err
				}
			}
			for _, c := range l.Checks {
				e.Checks = append(e.Checks, explainedCheck{Name: c.Name, Expect: c.Expect, Stage: max(c.Stage, 1), Hint: c.Hint})
			}
			if g.output == "json" {
				return g.writeJSON(e)
			}
			w := termtext.Writer(g.stdout) // a lab file's text
			fmt.Fprintf(w, "%s: %s\n\n%s\n\nThe tutorial's commands:\n", l.Name, l.Title, l.Explain)
			for _, c := range l.Tutorial {
				fmt.Fprintf(w, "  %s\n", c)
			}
			fmt.Fprintln(w, "\nWhat to look for:")
			for _, c := range l.LookFor {
				fmt.Fprintf(w, "  - %s\n", c)
			}
			if len(e.Steps) > 0 {
				fmt.Fprintf(w, "\nBuilt by hand on lab %s (each command on the node it names):\n", p.Lab)
				for _, s := range e.Steps {
					fmt.Fprintf(w, "  %s$ %s\n", s.On, s.Run)
				}
			} else if l.Commands == nil {
				fmt.Fprintln(w, "\nIts setup is written in Go (labctl lab run builds it); there are no commands to type.")
			}
			fmt.Fprintln(w, "\nWhat 'labctl lab run "+l.Name+"' checks:")
			for _, c := range l.Checks {
				stage := ""
				if c.Stage > 1 {
					stage = fmt.Sprintf(", stage %d", c.Stage)
				}
				fmt.Fprintf(w, "  - %s (%s%s)\n", c.Name, c.Expect, stage)
			}
			if l.CheckOnly {
				fmt.Fprintln(w, "\nBuilt it by hand? 'labctl lab check "+l.Name+"' checks what is there, and removes nothing.")
			}
			return nil
		},
	}
}

func newLabRunCmd(g *globals) *cobra.Command {
	var keep bool
	var rf reportFiles
	cmd := &cobra.Command{
		Use:   "run NAME...|all|FILE...",
		Short: "Run labs on the lab's nodes and report every check with its evidence",
		Long: `Run labs on the nodes of the lab (bring them up with 'labctl up' first).
Prints a table of checks and, for every failed check, its evidence; the last
line is "N passed, N failed". The exit status is 1 when any check failed.
--output json prints progress as JSON lines ({"type":"event",...}) and last
{"type":"result",...} with every check and its evidence; --junit FILE writes
JUnit XML for CI or for grading a workshop.

A lab file (see 'labctl lab new') is run by its path: an argument with a /
or ending in .yaml, or a directory of lab files.`,
		Example: `  labctl lab run bridge
  labctl lab run ./tea-house.yaml ./course/     # lab files of your own
  labctl lab run all --junit results.xml
  labctl lab run all --inventory hosts.yaml   # on machines labctl did not create
  labctl lab run macvlan --keep     # leave it set up to look around`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.catalog()
			if err != nil {
				return err
			}
			run, err := c.Resolve(args)
			if err != nil {
				return usageErr("lab run: %v", err)
			}
			l, err := g.openLab("labctl lab run "+strings.Join(args, " "), false)
			if err != nil {
				return err
			}
			defer l.Close()
			for _, im := range l.Impaired() {
				fmt.Fprintf(g.stderr, "labctl: warning: impaired %s: checks may time out or fail ('labctl impair NODE IFACE --clear' removes it)\n", im)
			}
			ctx := cmd.Context()
			reps, runErr := l.RunLabs(ctx, run, lab.RunOptions{Keep: keep, Unfit: func(err error) {
				fmt.Fprintf(g.stderr, "labctl: %v\n", err)
			}})
			if reps == nil {
				return runErr
			}
			rerr := g.renderReports(ctx, l, reps, rf, ctx.Err() != nil)
			if runErr != nil { // the reports are shown; the state could not be saved
				return runErr
			}
			return rerr
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the lab set up afterwards (the next run removes it)")
	rf.flags(cmd)
	return cmd
}
