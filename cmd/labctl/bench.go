package main

import (
	"encoding/json"
	"fmt"

	"github.com/labctl/labctl/internal/atomicfile"
	"github.com/labctl/labctl/lab"

	"github.com/spf13/cobra"
)

func newBenchCmd(g *globals) *cobra.Command {
	var runs int
	var report string
	var noLabs, sequential, single bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure up (concurrent and one node at a time), the labs and down; write a JSON report",
		Long: `Brings the lab up, runs every lab, and takes it down again, measuring each
phase; then (with --sequential, the default) does the same 'up' with one node
at a time (--parallel 1), and (with --single) with the first node alone. Each
is repeated --runs times and the report gives the median per mode and the
ratios: sequential/concurrent (above 1: concurrent is faster) and
concurrent/single (how much three nodes cost over one).

bench does what 'up', 'lab run all' and 'down' do, in this process, so the
figures include everything a user waits for. It creates and
removes the lab, so it refuses a lab that exists already: use another --lab
(it must not overlap a lab that is up) or 'labctl down' first. Caches are
kept: build or pull the image first, or the first run measures that too.`,
		Example: `  sudo labctl bench --lab bench --runs 3 --report bench.json
  sudo labctl bench -f lab.yaml --no-labs --single`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runs < 1 {
				return usageErr("--runs %d: must be 1 or more", runs)
			}
			rep, err := lab.Bench(cmd.Context(), lab.BenchOptions{
				Lab: g.labOptions("", true), Runs: runs, Labs: !noLabs, Sequential: sequential, Single: single,
				Say: func(m string) { fmt.Fprintln(g.stderr, m) },
			})
			if rep.Lab == "" {
				return err // nothing measured
			}
			if werr := writeBenchReport(report, rep); werr != nil && err == nil {
				err = werr
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "lab %s, %d nodes, %s, %d host CPUs, %d run(s) per mode\n", rep.Lab, rep.Runs[0].Nodes, rep.Virtualisation, rep.CPUs, runs)
			for _, m := range rep.Modes {
				fmt.Fprintf(g.stdout, "  %-10s median up (Docker-ready): %6.1f s\n", m, rep.Median[m])
			}
			if rep.SeqOverConc > 0 {
				fmt.Fprintf(g.stdout, "  one node at a time takes %.2f times as long as all at once\n", rep.SeqOverConc)
			}
			if rep.ConcOverSingle > 0 {
				fmt.Fprintf(g.stdout, "  %d nodes take %.2f times as long as one\n", rep.Runs[0].Nodes, rep.ConcOverSingle)
			}
			for _, r := range rep.Runs {
				if r.Failed > 0 {
					fmt.Fprintf(g.stdout, "  labs: %d passed, %d failed\n", r.Passed, r.Failed)
					return &exitError{code: 1}
				}
				if r.LabsS > 0 {
					fmt.Fprintf(g.stdout, "  labs: %d passed, %d failed in %.0f s\n", r.Passed, r.Failed, r.LabsS)
				}
			}
			if report != "" {
				fmt.Fprintf(g.stdout, "report: %s\n", report)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&runs, "runs", 1, "measure each mode this many times (the report gives medians)")
	cmd.Flags().StringVar(&report, "report", "bench.json", "write the JSON report to FILE (\"\" for none)")
	cmd.Flags().BoolVar(&noLabs, "no-labs", false, "do not run the labs (measure up and down only)")
	cmd.Flags().BoolVar(&sequential, "sequential", true, "also measure creating and provisioning one node at a time")
	cmd.Flags().BoolVar(&single, "single", false, "also measure the first node alone")
	return cmd
}

// writeBenchReport writes the report as JSON to path ("" for none).
func writeBenchReport(path string, rep lab.BenchReport) error {
	if path == "" {
		return nil
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(data, '\n'), 0o644)
}
