// Package exercise runs the network-mode exercises ("labs" to the person at
// the command line: 'labctl lab run bridge'): each Exercise is a list of
// setup steps and checks that reads like the tutorial, and one engine runs
// them, records evidence for every check (where it ran, the command, what
// it printed) and always tears down what the exercise created, leaving
// the nodes as it found them. Besides the engine: the probes a check runs
// (probe_*.go), check-only grading of what a student typed (checkonly.go),
// a failed setup's diagnosis, whether an exercise fits a topology (fit.go)
// and the reports (text, JUnit, HTML).
//
// The exercises themselves are elsewhere: lab files (package labfile), the
// Swarm overlay in Go (package overlay), the built-in ones and an
// instructor's files together (package catalog).
//
// In the code "lab" is one thing: the VMs, networks and state brought up
// from a topology under one name (package lab, the --lab flag); what runs
// on its nodes is an Exercise.
package exercise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/labctl/labctl/plan"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DockerAPI is the part of the Docker API the labs use; the real client
// implements it, tests use a fake.
type DockerAPI interface {
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, id string, options container.StartOptions) error
	ContainerRemove(ctx context.Context, id string, options container.RemoveOptions) error
	ContainerRename(ctx context.Context, id, newName string) error
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerExecCreate(ctx context.Context, id string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, config container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
	ContainerLogs(ctx context.Context, id string, options container.LogsOptions) (io.ReadCloser, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, id string) error
	NetworkInspect(ctx context.Context, id string, options network.InspectOptions) (network.Inspect, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error
	NetworkDisconnect(ctx context.Context, networkID, containerID string, force bool) error
	SwarmAPI
}

// SwarmAPI is the part of the Docker API the Swarm lab uses.
type SwarmAPI interface {
	Info(ctx context.Context) (system.Info, error)
	SwarmInit(ctx context.Context, req swarm.InitRequest) (string, error)
	SwarmJoin(ctx context.Context, req swarm.JoinRequest) error
	SwarmLeave(ctx context.Context, force bool) error
	SwarmInspect(ctx context.Context) (swarm.Swarm, error)
	NodeList(ctx context.Context, options swarm.NodeListOptions) ([]swarm.Node, error)
	ServiceCreate(ctx context.Context, service swarm.ServiceSpec, options swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error)
	ServiceRemove(ctx context.Context, serviceID string) error
	ServiceList(ctx context.Context, options swarm.ServiceListOptions) ([]swarm.Service, error)
	TaskList(ctx context.Context, options swarm.TaskListOptions) ([]swarm.Task, error)
}

// Output is what a command printed and how it ended.
type Output struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr,omitempty"`
	Exit   int    `json:"exit"`
}

// Node is one lab node: a shell on the node itself (SSH) and its Docker API.
type Node interface {
	Name() string
	// Sh runs cmd with sh on the node as the lab user (sudo where needed).
	// A non-zero exit is reported in Output.Exit, not as an error.
	Sh(ctx context.Context, cmd string) (Output, error)
	Docker() DockerAPI
}

// Host is the machine labctl runs on, as the labs see it: it fetches URLs
// (nginx published on a node) and can add a route (ipvlan L3).
type Host interface {
	HTTPGet(ctx context.Context, url string) (Output, error)
	Sh(ctx context.Context, cmd string) (Output, error)
}

// Env is what a lab runs against.
type Env struct {
	Plan  *plan.Plan
	Nodes map[string]Node
	Host  Host
}

// Exercise is one network-mode exercise: what it shows, how it is set up,
// what is checked.
type Exercise struct {
	Name     string
	Title    string
	Explain  string   // what it shows, in plain words
	Tutorial []string // the tutorial's commands
	LookFor  []string // what to look for
	MinNodes int
	// NATHosts are the host numbers in the NAT subnet the lab gives its
	// containers (92: "milk" is .92), as the tutorial does; Fits checks
	// them against the plan before anything is created.
	NATHosts map[int]string
	// Steps set the lab up, in order; they register what they create so
	// that teardown removes it.
	Steps []Step
	// Checks run after the steps, in order.
	Checks []Check
	// File is the lab file the exercise was read from ("" for one
	// written in Go).
	File string
	// CheckOnly says that the checks can run alone against what is on
	// the nodes ('labctl lab check'): they do not rely on state kept by
	// the setup.
	CheckOnly bool
	// Commands renders the setup as the commands a person types to build
	// the same by hand on a lab, each on its node, with that lab's own
	// values (nil for an exercise written in Go).
	Commands func(p *plan.Plan) ([]Command, error)
	// Diagnose gathers what explains a failed setup step; its evidence
	// goes into the report beside the error. Without it, every node's
	// dockerd log since the step started is gathered.
	Diagnose func(ctx context.Context, r *Run, since time.Time) []Evidence
	// Teardown is how long undoing the lab may take when the run's
	// options say nothing (default 2 minutes): a lab whose undo waits on
	// retries of its own (a swarm's leave) allows for them.
	Teardown time.Duration
}

// Command is one command of an exercise's setup as a person types it.
type Command struct {
	On  string `json:"on"` // a node's name, or "host"
	Run string `json:"run"`
}

// Step is one setup step.
type Step struct {
	Title string
	Do    func(ctx context.Context, r *Run) error
}

// Expectations of a check.
const (
	ExpectSuccess = "succeeds"
	ExpectFailure = "fails"
)

// Check is one claim the lab proves. Do runs the probe and returns the
// evidence and whether the probe succeeded (a ping answered, a page came
// back, a value matched); the check passes when that equals Expect.
type Check struct {
	Name   string
	Expect string // ExpectSuccess or ExpectFailure
	Do     func(ctx context.Context, r *Run) (ok bool, ev []Evidence, err error)
	// Stage groups checks for 'labctl lab check --stage N' (0 and 1:
	// the first stage).
	Stage int
	// Hint says what a student should do when the check fails.
	Hint string
	// Timeout bounds the check, its actions and probes together
	// (DefaultCheckTimeout when 0): a check still running then fails as
	// timed out, and the run goes on.
	Timeout time.Duration
}

// Run is one execution of a lab: it carries the environment and the undo
// list that teardown works through.
type Run struct {
	Env *Env
	Lab *Exercise
	mu  sync.Mutex
	// checkOnly: the containers on the nodes are the student's, and
	// stay (RemoveContainer sets them aside instead).
	checkOnly bool
	undo      []undo
	vars      map[string]string
	Log       func(msg string)

	// shown is everything the run has shown so far: log lines and the
	// evidence of finished checks (the Swarm lab proves that no secret
	// is among it).
	shown []string

	// groups are undo actions a lab can run before teardown, by name
	// (OnUndoIn, UndoGroup).
	groups map[string][]undo
}

type undo struct {
	what string
	fn   func(ctx context.Context) error
}

// Label marks every container and network a lab creates, so that leftovers
// of an interrupted run are found and removed before the next one.
const Label = "dev.labctl.lab"

// OnUndo registers an undo action; teardown runs them last first.
func (r *Run) OnUndo(what string, fn func(ctx context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.undo = append(r.undo, undo{what, fn})
}

// OnUndoIn registers an undo action in a named group, which a check can
// run before teardown (UndoGroup: "remove the router, then show the ping
// fails again"); teardown runs what is left of the group where the group
// was first used. An empty group is OnUndo.
func (r *Run) OnUndoIn(group, what string, fn func(ctx context.Context) error) {
	if group == "" {
		r.OnUndo(what, fn)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.groups == nil {
		r.groups = map[string][]undo{}
	}
	if _, ok := r.groups[group]; !ok {
		r.undo = append(r.undo, undo{"undo " + group, func(ctx context.Context) error { return r.UndoGroup(ctx, group) }})
	}
	r.groups[group] = append(r.groups[group], undo{what, fn})
}

// UndoGroup runs a group's undo actions now, last first, once.
func (r *Run) UndoGroup(ctx context.Context, group string) error {
	us := func() []undo {
		r.mu.Lock()
		defer r.mu.Unlock()
		us := r.groups[group]
		if r.groups != nil { // a group whose actions all failed was never made
			r.groups[group] = nil
		}
		return us
	}()
	return runUndos(ctx, us)
}

// Set and Get keep values between steps and checks (e.g. an address).
func (r *Run) Set(k, v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vars[k] = v
}

// Vars is every value set so far, a copy.
func (r *Run) Vars() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.vars))
	for k, v := range r.vars {
		out[k] = v
	}
	return out
}

// Get returns a value set by an earlier step.
func (r *Run) Get(k string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.vars[k]
}

// Show adds log lines or evidence to what the run has shown (which the
// tokens check of the overlay searches, among others).
func (r *Run) Show(s ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shown = append(r.shown, s...)
}

// Shown returns every log line and piece of evidence the run has shown so
// far.
func (r *Run) Shown() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.shown...)
}

// Node returns the node called name; it panics on a lab bug (a lab naming
// a node that MinNodes did not guarantee).
func (r *Run) Node(name string) Node {
	n, ok := r.Env.Nodes[name]
	if !ok {
		panic("lab uses node " + name + " that the lab does not have")
	}
	return n
}

// NodeName returns the i-th node's name (0-based), in plan order.
func (r *Run) NodeName(i int) string { return r.Env.Plan.Nodes[i].Name }

// Options for running labs.
type Options struct {
	Keep     bool // skip teardown (to look around); the next run cleans up
	Progress func(lab, msg string)
	Teardown time.Duration // how long teardown may take (default the lab's own, else 2 minutes)
}

// ErrNotEnoughNodes is returned for a lab that needs more nodes.
var ErrNotEnoughNodes = errors.New("not enough nodes")

// RunLab sets the lab up, runs its checks and tears it down. Teardown runs
// whatever happened before, also after a cancelled context (with a fresh,
// bounded one), unless o.Keep.
func RunLab(ctx context.Context, env *Env, lab *Exercise, o Options) (rep Report) {
	r, progress := newRun(env, lab, o.Progress)
	rep = Report{Lab: lab.Name, Title: lab.Title, started: time.Now()}
	defer func() { rep.Duration = time.Since(rep.started) }()
	if err := Fits(lab, env.Plan); err != nil {
		rep.SetupError = err.Error()
		return rep
	}
	if err := Clean(ctx, env, lab.Name); err != nil {
		rep.SetupError = "removing leftovers of an earlier run: " + err.Error()
		return rep
	}
	defer func() {
		if o.Keep {
			progress(lab.Name, "kept (--keep): 'labctl lab run' removes it next time")
			return
		}
		limit := o.Teardown
		if limit <= 0 {
			limit = lab.Teardown
		}
		r.undoAll(&rep, limit)
	}()
	for _, s := range lab.Steps {
		progress(lab.Name, s.Title)
		stepStart := time.Now()
		if err := s.Do(ctx, r); err != nil {
			rep.SetupError = fmt.Sprintf("%s: %v", s.Title, err)
			diagnose := lab.Diagnose
			if diagnose == nil {
				diagnose = DockerLogs
			}
			progress(lab.Name, "setup failed; gathering what explains it")
			// The run's context may be what ended the step; the
			// diagnosis gets its own, bounded one.
			dctx, cancel := context.WithTimeout(context.Background(), diagnoseTimeout)
			rep.SetupEvidence = diagnose(dctx, r, stepStart)
			cancel()
			return rep
		}
	}
	rep.Passed = true
	for _, c := range lab.Checks {
		if ctx.Err() != nil {
			rep.Passed = false
			rep.SetupError = "interrupted: " + ctx.Err().Error()
			break
		}
		r.record(ctx, &rep, c, progress)
	}
	return rep
}

// newRun starts a run of lab; progress is o.Progress or a no-op.
func newRun(env *Env, lab *Exercise, progress func(lab, msg string)) (*Run, func(lab, msg string)) {
	if progress == nil {
		progress = func(string, string) {}
	}
	r := &Run{Env: env, Lab: lab, vars: map[string]string{}}
	r.Log = func(m string) {
		r.Show(m)
		progress(lab.Name, m)
	}
	return r, progress
}

// undoAll runs the undo list within limit (default 2 minutes; a fresh
// context: the run's may be what ended it) and records a failure in rep.
func (r *Run) undoAll(rep *Report, limit time.Duration) {
	if limit <= 0 {
		limit = 2 * time.Minute
	}
	tctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := r.teardown(tctx); err != nil {
		rep.Teardown = err.Error()
		rep.Passed = false
	}
}

// record runs check c, says its verdict and adds it to rep; a failed
// check fails the report.
func (r *Run) record(ctx context.Context, rep *Report, c Check, progress func(lab, msg string)) {
	res := r.check(ctx, c)
	if !res.Passed {
		rep.Passed = false
	}
	progress(r.Lab.Name, fmt.Sprintf("%s: %s (expected: %s)", verdict(res.Passed), c.Name, c.Expect))
	if res.Evidence == nil {
		res.Evidence = []Evidence{} // "evidence": [] for a program, not null
	}
	rep.Checks = append(rep.Checks, res)
}

// check runs one check and judges it; a failed check carries its hint.
func (r *Run) check(ctx context.Context, c Check) (res Result) {
	start := time.Now()
	defer func() {
		// A bug in one check fails that check, with what went wrong;
		// the others and the teardown still run.
		if p := recover(); p != nil {
			res = Result{Lab: r.Lab.Name, Check: c.Name, Expect: c.Expect, Duration: time.Since(start), Error: fmt.Sprintf("labctl bug, please report: %v", p)}
		}
	}()
	limit := c.Timeout
	if limit <= 0 {
		limit = DefaultCheckTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	ok, ev, err := c.Do(cctx, r)
	res = Result{Lab: r.Lab.Name, Check: c.Name, Expect: c.Expect, Evidence: ev, Duration: time.Since(start)}
	switch {
	case ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded):
		res.TimedOut = true
		res.Error = fmt.Sprintf("timed out: the check did not finish within %s (a command on a node that never ends?)", limit)
	case err != nil:
		res.Error = err.Error()
	case c.Expect == ExpectFailure:
		res.Passed = !ok
	default:
		res.Passed = ok
	}
	if !res.Passed {
		res.Hint = c.Hint
	}
	for _, e := range ev {
		r.Show(e.Command, e.Output, e.Note)
	}
	return res
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// teardown runs the undo list last first; every action is tried.
func (r *Run) teardown(ctx context.Context) error {
	r.mu.Lock()
	us := r.undo
	r.undo = nil
	r.mu.Unlock()
	return runUndos(ctx, us)
}

// runUndos runs undo actions last first, all of them, and reports every
// failure.
func runUndos(ctx context.Context, us []undo) error {
	var errs []error
	for i := len(us) - 1; i >= 0; i-- {
		if err := us[i].fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", us[i].what, err))
		}
	}
	return errors.Join(errs...)
}

// Clean removes every container and network labelled for the lab on every
// node (leftovers of an interrupted or --keep run). lab "" means all labs.
func Clean(ctx context.Context, env *Env, lab string) error {
	var errs []error
	for _, pn := range env.Plan.Nodes {
		n := env.Nodes[pn.Name]
		if n == nil {
			continue
		}
		if err := cleanNode(ctx, n, lab); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", pn.Name, err))
		}
	}
	return errors.Join(errs...)
}
