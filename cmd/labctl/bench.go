package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/labctl/labctl/internal/atomicfile"

	"github.com/labctl/labctl/state"
	"github.com/labctl/labctl/topology"
	"github.com/labctl/labctl/vm"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// BenchRun is one measured `up` (and, for the first concurrent run, the
// labs) followed by `down`.
type BenchRun struct {
	Mode     string        `json:"mode"` // concurrent, sequential, single
	Nodes    int           `json:"nodes"`
	Parallel int           `json:"parallel"`
	UpS      float64       `json:"up_seconds"` // until every node is Docker-ready
	Phases   []state.Phase `json:"phases"`
	LabsS    float64       `json:"labs_seconds,omitempty"`
	Passed   int           `json:"passed,omitempty"`
	Failed   int           `json:"failed,omitempty"`
	DownS    float64       `json:"down_seconds"`
}

// BenchReport is what `labctl bench` writes.
type BenchReport struct {
	Lab            string             `json:"lab"`
	Image          string             `json:"image"`
	Virtualisation string             `json:"virtualisation"`
	CPUs           int                `json:"host_cpus"`
	Started        time.Time          `json:"started"`
	Runs           []BenchRun         `json:"runs"`
	Median         map[string]float64 `json:"median_up_seconds"` // per mode
	// SeqOverConc is the median one-at-a-time time divided by the median
	// concurrent time: above 1 means concurrent is faster.
	SeqOverConc float64 `json:"sequential_over_concurrent,omitempty"`
	// ConcOverSingle is the median concurrent time divided by the median
	// time for the first node alone.
	ConcOverSingle float64 `json:"concurrent_over_single,omitempty"`
}

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

bench runs this labctl binary as a user would ('up -o json', 'lab run all',
'down'), so the figures include everything a user waits for. It creates and
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
			ctx := cmd.Context()
			t, p, err := g.loadPlan()
			if err != nil {
				return err
			}
			c, err := vm.Connect(ctx, p.Libvirt.URI)
			if err != nil {
				return err
			}
			st, err := vm.Status(ctx, c, p)
			virt, aerr := vm.NewManager(c, p, vm.Options{}).Acceleration(ctx)
			c.Close()
			if err = errors.Join(err, aerr); err != nil {
				return err
			}
			for _, n := range st {
				if n.State != "absent" {
					return fmt.Errorf("lab %s exists (%s is %s): bench creates and removes its lab; use another --lab or run 'labctl down' first", p.Lab, n.Name, n.State)
				}
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			b := &bencher{g: g, self: self}
			rep := BenchReport{Lab: p.Lab, Image: t.Image, Virtualisation: virt, CPUs: runtime.NumCPU(), Started: time.Now().UTC(), Median: map[string]float64{}}
			type mode struct {
				name     string
				parallel int
				file     string
				labs     bool
			}
			modes := []mode{{"concurrent", len(p.Nodes), g.file, !noLabs}}
			if sequential {
				modes = append(modes, mode{"sequential", 1, g.file, false})
			}
			if single {
				f, err := singleNodeTopology(t)
				if err != nil {
					return err
				}
				defer os.Remove(f)
				modes = append(modes, mode{"single", 1, f, false})
			}
			for i := 0; i < runs; i++ {
				for _, m := range modes {
					r, err := b.run(ctx, m.name, m.file, m.parallel, m.labs && i == 0)
					rep.Runs = append(rep.Runs, r)
					if err != nil {
						b.writeReport(report, rep)
						return fmt.Errorf("bench %s run %d: %w", m.name, i+1, err)
					}
				}
			}
			for _, m := range modes {
				var ups []float64
				for _, r := range rep.Runs {
					if r.Mode == m.name {
						ups = append(ups, r.UpS)
					}
				}
				rep.Median[m.name] = median(ups)
			}
			if c := rep.Median["concurrent"]; c > 0 {
				rep.SeqOverConc = round2(rep.Median["sequential"] / c)
				if s := rep.Median["single"]; s > 0 {
					rep.ConcOverSingle = round2(c / s)
				}
			}
			if err := b.writeReport(report, rep); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "lab %s, %d nodes, %s, %d host CPUs, %d run(s) per mode\n", p.Lab, len(p.Nodes), virt, rep.CPUs, runs)
			for _, m := range modes {
				fmt.Fprintf(g.stdout, "  %-10s median up (Docker-ready): %6.1f s\n", m.name, rep.Median[m.name])
			}
			if rep.SeqOverConc > 0 {
				fmt.Fprintf(g.stdout, "  one node at a time takes %.2f times as long as all at once\n", rep.SeqOverConc)
			}
			if rep.ConcOverSingle > 0 {
				fmt.Fprintf(g.stdout, "  %d nodes take %.2f times as long as one\n", len(p.Nodes), rep.ConcOverSingle)
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

type bencher struct {
	g    *globals
	self string
}

// labctl runs this binary with the bench's globals and args; stdout is
// returned, stderr passed through.
func (b *bencher) labctl(ctx context.Context, file string, args ...string) ([]byte, error) {
	all := []string{"--lab", b.g.lab}
	if file != "" {
		all = append(all, "-f", file)
	}
	all = append(all, args...)
	c := exec.CommandContext(ctx, b.self, all...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, b.g.stderr
	err := c.Run()
	if err != nil {
		err = fmt.Errorf("labctl %s: %w", strings.Join(args, " "), err)
	}
	return out.Bytes(), err
}

func (b *bencher) run(ctx context.Context, mode, file string, parallel int, labs bool) (BenchRun, error) {
	r := BenchRun{Mode: mode, Parallel: parallel}
	fmt.Fprintf(b.g.stderr, "bench: %s: up --parallel %d\n", mode, parallel)
	start := time.Now()
	out, err := b.labctl(ctx, file, "up", "--parallel", fmt.Sprint(parallel), "-o", "json")
	r.UpS = round2(time.Since(start).Seconds())
	var res struct {
		state.State
		Type string `json:"type"`
	}
	if jerr := lastJSON(out, "result", &res); jerr == nil {
		r.Phases = res.Phases
	}
	r.Nodes = countNodes(r.Phases)
	if err == nil && labs {
		fmt.Fprintf(b.g.stderr, "bench: %s: lab run all\n", mode)
		ls := time.Now()
		out, lerr := b.labctl(ctx, file, "lab", "run", "all", "-o", "json")
		r.LabsS = round2(time.Since(ls).Seconds())
		var lr struct {
			Passed int `json:"passed"`
			Failed int `json:"failed"`
		}
		if jerr := lastJSON(out, "result", &lr); jerr != nil && lerr == nil {
			lerr = jerr
		}
		r.Passed, r.Failed = lr.Passed, lr.Failed
		var ee *exec.ExitError
		if errors.As(lerr, &ee) && ee.ExitCode() == 1 {
			lerr = nil // failed checks: reported, and the bench still takes the lab down
		}
		err = lerr
	}
	fmt.Fprintf(b.g.stderr, "bench: %s: down\n", mode)
	ds := time.Now()
	_, derr := b.labctl(context.WithoutCancel(ctx), file, "down")
	r.DownS = round2(time.Since(ds).Seconds())
	return r, errors.Join(err, derr)
}

// countNodes counts the nodes that have a per-node phase.
func countNodes(phases []state.Phase) int {
	seen := map[string]bool{}
	for _, ph := range phases {
		if ph.Node != "" {
			seen[ph.Node] = true
		}
	}
	return len(seen)
}

// lastJSON decodes the last line of out whose "type" is typ.
func lastJSON(out []byte, typ string, v any) error {
	var last []byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var t struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(sc.Bytes(), &t) == nil && t.Type == typ {
			last = append(last[:0], sc.Bytes()...)
		}
	}
	if last == nil {
		return fmt.Errorf("no %q line in the output", typ)
	}
	return json.Unmarshal(last, v)
}

func (b *bencher) writeReport(path string, rep BenchReport) error {
	if path == "" {
		return nil
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(data, '\n'), 0o644)
}

// singleNodeTopology writes the topology with only its first node to a
// temporary file.
func singleNodeTopology(t *topology.Topology) (string, error) {
	one := *t
	one.Nodes = t.Nodes[:1]
	data, err := yaml.Marshal(&one)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "labctl-bench-*.yaml")
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
		f.Close()
		return "", err
	}
	return f.Name(), f.Close()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return round2((s[len(s)/2-1] + s[len(s)/2]) / 2)
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
