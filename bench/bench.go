// Package bench measures labctl on this machine, above the library it
// measures (package lab): Run brings a lab up (all nodes at once, one at a
// time, the first node alone), runs every exercise and takes it down,
// phase by phase, with medians and ratios; CompareVagrant (vagrant.go)
// brings up the same nodes with labctl and with vagrant-libvirt side by
// side, the yardstick.
package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"time"

	"github.com/labctl/labctl/lab"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/exercise/catalog"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/state"
	"github.com/labctl/labctl/topology"
)

// Round is one measured Up (and, for the first concurrent run, the
// labs) followed by Down.
type Round struct {
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

// Report is what Bench measured.
type Report struct {
	Lab            string             `json:"lab"`
	Image          string             `json:"image"`
	Virtualisation string             `json:"virtualisation"`
	CPUs           int                `json:"host_cpus"`
	Started        time.Time          `json:"started"`
	Runs           []Round            `json:"runs"`
	Median         map[string]float64 `json:"median_up_seconds"` // per mode
	// SeqOverConc is the median one-at-a-time time divided by the median
	// concurrent time: above 1 means concurrent is faster.
	SeqOverConc float64 `json:"sequential_over_concurrent,omitempty"`
	// ConcOverSingle is the median concurrent time divided by the median
	// time for the first node alone.
	ConcOverSingle float64 `json:"concurrent_over_single,omitempty"`
	// Modes are the modes measured, in order.
	Modes []string `json:"modes"`
}

// Options say what Bench measures.
type Options struct {
	Lab        lab.Options // the lab (Name, File or Topology, Progress, Log); Bench locks it
	Runs       int         // runs per mode (medians over them)
	Labs       bool        // run every lab in the first concurrent run
	Sequential bool        // also measure one node at a time (--parallel 1)
	Single     bool        // also measure the first node alone
	Say        func(string)
}

// Run brings the lab up, runs every lab, and takes it down again,
// measuring each phase, in each mode asked for, Runs times; the report
// gives medians and ratios. It creates and removes the lab, so it refuses
// a lab that exists already. The report is returned also on failure, with
// the runs done so far.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Say == nil {
		o.Say = func(string) {}
	}
	if o.Runs < 1 {
		return Report{}, fmt.Errorf("bench: %d runs: must be 1 or more", o.Runs)
	}
	t, p, virt, err := openBenchable(ctx, o.Lab)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Lab: p.Lab, Image: t.Image, Virtualisation: virt, CPUs: runtime.NumCPU(), Started: time.Now().UTC(), Median: map[string]float64{}}
	type mode struct {
		name     string
		parallel int
		opts     lab.Options
		labs     bool
	}
	whole := o.Lab
	whole.Topology = t // the same topology in every run, read once
	modes := []mode{{"concurrent", len(p.Nodes), whole, o.Labs}}
	if o.Sequential {
		modes = append(modes, mode{"sequential", 1, whole, false})
	}
	if o.Single {
		one := *t
		one.Nodes = t.Nodes[:1]
		first := o.Lab
		first.Topology = &one
		modes = append(modes, mode{"single", 1, first, false})
	}
	for _, m := range modes {
		rep.Modes = append(rep.Modes, m.name)
	}
	for i := 0; i < o.Runs; i++ {
		for _, m := range modes {
			r, err := benchRun(ctx, o.Say, m.opts, m.name, m.parallel, m.labs && i == 0, nil)
			rep.Runs = append(rep.Runs, r)
			if err != nil {
				return rep, fmt.Errorf("bench %s run %d: %w", m.name, i+1, err)
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
	return rep, nil
}

// openBenchable opens the lab a benchmark is about, refuses it when it
// exists (benchable), and gives its topology, plan and virtualisation.
func openBenchable(ctx context.Context, o lab.Options) (*topology.Topology, *plan.Plan, string, error) {
	l, err := lab.Open(o)
	if err != nil {
		return nil, nil, "", err
	}
	defer l.Close()
	virt, err := benchable(ctx, l)
	return l.Topology, l.Plan, virt, err
}

// benchable refuses a lab that exists (a benchmark creates and removes
// its lab) and says how the VMs are virtualised.
func benchable(ctx context.Context, l *lab.Lab) (string, error) {
	st, err := l.Status(ctx)
	virt, verr := l.Virtualisation(ctx)
	if err != nil || verr != nil {
		return "", errors.Join(err, verr)
	}
	for _, n := range st {
		if n.State != "absent" {
			return "", fmt.Errorf("lab %s exists (%s is %s): bench creates and removes its lab; use another --lab or run 'labctl down' first", l.Plan.Lab, n.Name, n.State)
		}
	}
	return virt, nil
}

// benchRun is one Up (with the labs when asked), then Down; after, when
// set, runs between them (on success) to measure the lab that is up.
func benchRun(ctx context.Context, say func(string), o lab.Options, mode string, parallel int, withLabs bool, after func(*lab.Lab) error) (Round, error) {
	r := Round{Mode: mode, Parallel: parallel}
	o.Lock = "labctl bench"
	o.AllowChangedTopology = true
	l, err := lab.Open(o)
	if err != nil {
		return r, err
	}
	defer l.Close()
	say(fmt.Sprintf("bench: %s: up --parallel %d", mode, parallel))
	start := time.Now()
	err = l.Up(ctx, lab.UpOptions{Parallel: parallel})
	r.UpS = round2(time.Since(start).Seconds())
	r.Phases = l.State().Phases
	r.Nodes = countNodes(r.Phases)
	if err == nil && after != nil {
		err = after(l)
	}
	if err == nil && withLabs {
		say(fmt.Sprintf("bench: %s: lab run all", mode))
		ls := time.Now()
		var reps []exercise.Report
		reps, err = l.RunLabs(ctx, catalog.All(), lab.RunOptions{})
		r.LabsS = round2(time.Since(ls).Seconds())
		r.Passed, r.Failed = exercise.Totals(reps)
	}
	say(fmt.Sprintf("bench: %s: down", mode))
	ds := time.Now()
	_, derr := l.Down(context.WithoutCancel(ctx))
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
