package main

import (
	"fmt"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/plan"
	"github.com/spf13/cobra"
)

func newValidateCmd(g *globals) *cobra.Command {
	var noHost bool
	cmd := &cobra.Command{
		Use:   "validate [FILE...]",
		Short: "Check topology files and report every problem at once",
		Long: `Check a topology file: strict parsing (an unknown field is an error with its
line), then every rule at once, each problem with the path of its field
(nodes[1].memory: ...). Then, unless --no-host, compare the lab's NAT and
host-only subnets with this host's interfaces and routes and say which free
subnet to use instead when one is taken.

Files can be given as arguments or with -f; with neither, the built-in
default is checked. The exit status is 0 only when everything is valid.`,
		Example: `  labctl validate -f lab.yaml
  labctl validate labs/*.yaml --no-host --output json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files := args
			if len(files) == 0 {
				files = []string{g.file}
			}
			var host *plan.Host
			if !noHost {
				h, err := plan.ReadHost()
				if err != nil {
					return err
				}
				host = &h
			}
			var results []lab.Validation
			failed := 0
			for _, f := range files {
				r := lab.Validate(g.lab, f, host)
				if !r.Valid {
					failed++
				}
				results = append(results, r)
			}
			if g.output == "json" {
				if err := g.writeJSON(map[string]any{"files": results}); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					printValidate(g, r)
				}
			}
			if failed > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noHost, "no-host", false, "check the file only, not against this host's networks")
	return cmd
}

func printValidate(g *globals, r lab.Validation) {
	switch {
	case r.Error != "":
		fmt.Fprintf(g.stderr, "%s\n", r.Error)
	case len(r.Problems) > 0:
		fmt.Fprintf(g.stderr, "%s: %d problem(s):\n", r.File, len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(g.stderr, "  %s\n", p)
		}
	case len(r.Clashes) > 0:
		fmt.Fprintf(g.stderr, "%s: valid, but clashes with this host's networks:\n", r.File)
		for _, c := range r.Clashes {
			fmt.Fprintf(g.stderr, "  %s\n", c)
		}
	default:
		fmt.Fprintf(g.stdout, "%s: valid\n", r.File)
	}
	for _, l := range r.LabsThatCannotRun {
		fmt.Fprintf(g.stderr, "%s: note: %s\n", r.File, l)
	}
}
