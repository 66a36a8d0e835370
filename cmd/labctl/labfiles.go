package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"strings"
	"time"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/exercise/labfile"
	"github.com/labctl/labctl/graph"
	"github.com/labctl/labctl/internal/atomicfile"
	"github.com/labctl/labctl/lab"
	"github.com/spf13/cobra"
)

func newLabCheckCmd(g *globals) *cobra.Command {
	var stage int
	var rf reportFiles
	cmd := &cobra.Command{
		Use:   "check NAME...|FILE...",
		Short: "Check what a student built by hand: only a lab's checks, no setup, nothing removed",
		Long: `Run only the checks of a lab against what is on the nodes now, to verify what
was typed from 'labctl lab explain NAME'. Nothing is set up and nothing the
student made is removed; what a check itself changes (a route, a network
connected to show a ping working) is taken back at the end. Each check
passes or fails with its evidence, and a failed one prints its hint. A
container a check needs that is not there is said plainly ("no container
named milk on node1").

--stage N checks one stage of a lab file's checks (stage: in the file).
The overlay lab has no check-only mode: its checks need its own setup's
state.`,
		Example: `  labctl lab check user-bridge
  labctl lab check ./tea-house.yaml --stage 2`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if stage < 0 {
				return usageErr("--stage %d: stages are 1, 2, ...", stage)
			}
			c, err := g.catalog()
			if err != nil {
				return err
			}
			run, err := c.Resolve(args)
			if err != nil {
				return usageErr("lab check: %v", err)
			}
			for _, x := range run {
				if !x.CheckOnly {
					return usageErr("lab check: %s: %v", x.Name, exercise.ErrNoCheckOnly)
				}
			}
			// Locked: the checks' own actions must not meet a lab run.
			l, err := g.openLab("labctl lab check "+strings.Join(args, " "), false)
			if err != nil {
				return err
			}
			defer l.Close()
			reps, err := l.CheckLabs(cmd.Context(), run, stage)
			if err != nil {
				return err
			}
			return g.renderReports(cmd.Context(), l, reps, rf, cmd.Context().Err() != nil)
		},
	}
	cmd.Flags().IntVar(&stage, "stage", 0, "only the checks of this stage (default: all)")
	rf.flags(cmd)
	return cmd
}

func newLabValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check lab files: every problem at once, with its file, line and field",
		Long: `Read lab files (or directories of them) strictly, as 'lab run' does: unknown
fields, wrong types, values the format does not know (${node1.mac}), probes
that are not exactly one of run, ping, http and logs, ... Every problem is
reported with its file, line and field path. Nothing is run.`,
		Example: `  labctl lab validate tea-house.yaml
  labctl lab validate ./course/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs, err := labfile.LoadPaths(args)
			if err != nil {
				return err
			}
			type row struct {
				File   string `json:"file"`
				Name   string `json:"name"`
				Checks int    `json:"checks"`
			}
			var rows []row
			for _, f := range fs {
				e := f.Exercise()
				rows = append(rows, row{e.File, e.Name, len(e.Checks)})
			}
			return g.emit(map[string]any{"files": rows}, func() error {
				for _, r := range rows {
					fmt.Fprintf(g.stdout, "%s: lab %s, %d checks: valid\n", r.File, r.Name, r.Checks)
				}
				return nil
			})
		},
	}
}

func newLabNewCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "new NAME",
		Short: "Write NAME.yaml: a commented lab file to start an exercise from",
		Long: `Write NAME.yaml in the current directory: a complete, commented exercise
(two containers on a network of their own) that validates and runs on a
one-node lab, with every field of the format and the topology values a
lab file can use (${node1.nat}, ${nat.92}, ${outside}, ...). An existing
file is not overwritten.`,
		Example: `  labctl lab new tea-house && labctl lab run ./tea-house.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := labfile.NewFile(args[0])
			if err != nil {
				return usageErr("lab new: %v", err)
			}
			path := args[0] + ".yaml"
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s exists: pick another name, or remove it first", path)
			}
			if err != nil {
				return err
			}
			if _, err := f.Write(data); err != nil {
				f.Close()
				os.Remove(path)
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "wrote %s: edit it, then 'labctl lab validate %s' and 'labctl lab run ./%s'\n", path, path, path)
			return nil
		},
	}
}

func newLabSchemaCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "schema",
		Example: "  labctl lab schema > lab.schema.json",
		Short:   "Print the JSON Schema of lab files (for editors)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := g.stdout.Write(labfile.Schema())
			return err
		},
	}
}

// reportFiles are the files a lab run or check also writes.
type reportFiles struct {
	junit string
	html  string
}

func (rf *reportFiles) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&rf.junit, "junit", "", "also write the results as JUnit XML to FILE")
	cmd.Flags().StringVar(&rf.html, "html", "", "also write the results as one self-contained HTML page to FILE (the lab's picture, every check, its evidence)")
}

// renderReports prints lab reports as the flags ask (text or JSON, JUnit,
// HTML), and returns exit status 1 when a check failed.
func (g *globals) renderReports(ctx context.Context, l *lab.Lab, reps []exercise.Report, rf reportFiles, interrupted bool) error {
	if rf.junit != "" {
		if err := writeJUnit(rf.junit, reps); err != nil {
			return err
		}
	}
	if rf.html != "" {
		if err := writeHTML(ctx, rf.html, l, reps, g.stderr); err != nil {
			return err
		}
	}
	if g.output == "json" {
		p, f := exercise.Totals(reps)
		if err := g.writeJSONLine(labsResult{Type: "result", Labs: reps, Passed: p, Failed: f}); err != nil {
			return err
		}
	} else {
		exercise.Text{Color: colorFor(g.stdout)}.Write(g.stdout, reps)
	}
	if _, f := exercise.Totals(reps); f > 0 || interrupted {
		return &exitError{code: 1}
	}
	return nil
}

func writeJUnit(path string, reps []exercise.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := exercise.WriteJUnit(f, reps); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeHTML writes the self-contained report page, with the lab's picture
// when Graphviz is there to draw it.
func writeHTML(ctx context.Context, path string, l *lab.Lab, reps []exercise.Report, warn io.Writer) error {
	page := exercise.HTMLPage{Title: "labctl: lab " + l.Name, Lab: l.Name, Reports: reps, Made: time.Now()}
	svg, err := graph.SVG(ctx, graph.DOT(l.Plan, nil))
	if err == nil {
		if i := bytes.Index(svg, []byte("<svg")); i >= 0 {
			page.Picture = template.HTML(svg[i:])
		}
	} else {
		fmt.Fprintf(warn, "labctl: warning: the HTML report has no picture of the lab: %v\n", err)
	}
	var b bytes.Buffer
	if err := exercise.WriteHTML(&b, page); err != nil {
		return err
	}
	return atomicfile.Write(path, b.Bytes(), 0o644)
}

// labsResult is the last line of 'lab run/check --output json': every
// lab's report, and the checks passed and failed over all of them.
type labsResult struct {
	Type   string            `json:"type"` // "result"
	Labs   []exercise.Report `json:"labs"`
	Passed int               `json:"passed"`
	Failed int               `json:"failed"`
}
