package labs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/topology"
	"github.com/labctl/labctl/transport"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/ssh"
)

// fakeDocker keeps containers and networks in memory; exec answers with
// the exec hook.
type fakeDocker struct {
	SwarmAPI   // nil unless a test sets it: only the Swarm lab uses it
	mu         sync.Mutex
	containers map[string]map[string]string // name -> labels
	networks   map[string]map[string]string
	exec       func(ctr string, argv []string) Output
	execs      map[string]Output
	n          int
}

func newFakeDocker() *fakeDocker {
	return &fakeDocker{containers: map[string]map[string]string{}, networks: map[string]map[string]string{}, execs: map[string]Output{}}
}

func (f *fakeDocker) ContainerCreate(ctx context.Context, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, p *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[name]; ok {
		return container.CreateResponse{}, fmt.Errorf("conflict: %s exists", name)
	}
	f.containers[name] = cfg.Labels
	return container.CreateResponse{ID: name}, nil
}
func (f *fakeDocker) ContainerStart(ctx context.Context, id string, o container.StartOptions) error {
	return nil
}
func (f *fakeDocker) ContainerRemove(ctx context.Context, id string, o container.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[id]; !ok {
		return cerrdefs.ErrNotFound.WithMessage("no such container " + id)
	}
	delete(f.containers, id)
	return nil
}
func (f *fakeDocker) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[id]; !ok {
		return container.InspectResponse{}, cerrdefs.ErrNotFound.WithMessage("no such container " + id)
	}
	return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{State: &container.State{Running: true, Status: "running"}}}, nil
}
func (f *fakeDocker) ContainerList(ctx context.Context, o container.ListOptions) ([]container.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []container.Summary
	for name, labels := range f.containers {
		if _, ok := labels[Label]; ok {
			out = append(out, container.Summary{ID: name, Labels: labels})
		}
	}
	return out, nil
}
func (f *fakeDocker) ContainerExecCreate(ctx context.Context, id string, o container.ExecOptions) (container.ExecCreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	eid := fmt.Sprint(f.n)
	out := Output{}
	if f.exec != nil {
		out = f.exec(id, o.Cmd)
	}
	f.execs[eid] = out
	return container.ExecCreateResponse{ID: eid}, nil
}
func (f *fakeDocker) ContainerExecAttach(ctx context.Context, id string, c container.ExecAttachOptions) (types.HijackedResponse, error) {
	f.mu.Lock()
	out := f.execs[id]
	f.mu.Unlock()
	// Multiplexed stream: stdout frame, then stderr frame.
	var b bytes.Buffer
	frame := func(stream byte, s string) {
		if s == "" {
			return
		}
		h := []byte{stream, 0, 0, 0, 0, 0, 0, 0}
		n := len(s)
		h[4], h[5], h[6], h[7] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		b.Write(h)
		b.WriteString(s)
	}
	frame(1, out.Stdout)
	frame(2, out.Stderr)
	c1, c2 := net.Pipe()
	go func() { io.Copy(c2, &b); c2.Close() }()
	return types.NewHijackedResponse(c1, ""), nil
}
func (f *fakeDocker) ContainerExecInspect(ctx context.Context, id string) (container.ExecInspect, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return container.ExecInspect{ExitCode: f.execs[id].Exit}, nil
}
func (f *fakeDocker) ContainerLogs(ctx context.Context, id string, o container.LogsOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}
func (f *fakeDocker) NetworkCreate(ctx context.Context, name string, o network.CreateOptions) (network.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networks[name] = o.Labels
	return network.CreateResponse{ID: name}, nil
}
func (f *fakeDocker) NetworkRemove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.networks[id]; !ok {
		return cerrdefs.ErrNotFound.WithMessage("no such network")
	}
	delete(f.networks, id)
	return nil
}
func (f *fakeDocker) NetworkInspect(ctx context.Context, id string, o network.InspectOptions) (network.Inspect, error) {
	return network.Inspect{}, errors.New("not used")
}
func (f *fakeDocker) NetworkList(ctx context.Context, o network.ListOptions) ([]network.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []network.Summary
	for name, labels := range f.networks {
		if _, ok := labels[Label]; ok {
			out = append(out, network.Summary{ID: name, Name: name, Labels: labels})
		}
	}
	return out, nil
}
func (f *fakeDocker) NetworkConnect(ctx context.Context, n, c string, cfg *network.EndpointSettings) error {
	return nil
}
func (f *fakeDocker) NetworkDisconnect(ctx context.Context, n, c string, force bool) error {
	return nil
}

type fakeNode struct {
	name string
	d    *fakeDocker
	mu   sync.Mutex
	sh   []string
}

func (n *fakeNode) Name() string      { return n.name }
func (n *fakeNode) Docker() DockerAPI { return n.d }
func (n *fakeNode) Sh(ctx context.Context, cmd string) (Output, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sh = append(n.sh, cmd)
	if strings.Contains(cmd, "exit 7") {
		return Output{Exit: 7, Stderr: "boom"}, nil
	}
	return Output{Stdout: "ok\n"}, nil
}

func fakeEnv(t *testing.T) (*Env, *fakeNode) {
	tp, err := topology.Load("")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New("t", tp)
	if err != nil {
		t.Fatal(err)
	}
	n1 := &fakeNode{name: "node1", d: newFakeDocker()}
	env := &Env{Plan: p, Nodes: map[string]Node{"node1": n1, "node2": &fakeNode{name: "node2", d: newFakeDocker()}, "node3": &fakeNode{name: "node3", d: newFakeDocker()}}}
	return env, n1
}

// pingLab: one container, one network, one node change; a ping that
// answers (expected), one that does not (expected).
func pingLab(failStep bool) *Exercise {
	steps := []Step{
		{"net and container", func(ctx context.Context, r *Run) error {
			if _, err := r.CreateNetwork(ctx, "node1", NetworkSpec{Name: "n1"}); err != nil {
				return err
			}
			_, err := r.RunContainer(ctx, "node1", ContainerSpec{Name: "milk", Image: "busybox", Network: "n1"})
			return err
		}},
		{"node change", func(ctx context.Context, r *Run) error {
			return r.NodeSh(ctx, "node1", "sudo ip link add dummy0 type dummy", "sudo ip link del dummy0")
		}},
	}
	if failStep {
		steps = append(steps, Step{"broken", func(ctx context.Context, r *Run) error {
			return r.NodeSh(ctx, "node1", "exit 7", "")
		}})
	}
	return &Exercise{Name: "t", Title: "test", MinNodes: 1, Steps: steps, Checks: []Check{
		{Name: "milk reaches 10.0.0.1", Expect: ExpectSuccess, Do: func(ctx context.Context, r *Run) (bool, []Evidence, error) {
			return one(r.Ping(ctx, "node1", "milk", "10.0.0.1"))
		}},
		{Name: "milk cannot reach 10.0.0.2", Expect: ExpectFailure, Do: func(ctx context.Context, r *Run) (bool, []Evidence, error) {
			return one(r.Ping(ctx, "node1", "milk", "10.0.0.2"))
		}},
	}}
}

// pingAnswers makes pings to 10.0.0.1 answer and everything else not.
func pingAnswers(ctr string, argv []string) Output {
	if argv[len(argv)-1] == "10.0.0.1" {
		return Output{Stdout: "2 packets transmitted, 2 packets received\n"}
	}
	return Output{Stdout: "2 packets transmitted, 0 packets received\n", Exit: 1}
}

func assertClean(t *testing.T, n *fakeNode) {
	t.Helper()
	if len(n.d.containers) != 0 || len(n.d.networks) != 0 {
		t.Errorf("left behind: containers %v, networks %v", n.d.containers, n.d.networks)
	}
	var added, removed bool
	for _, c := range n.sh {
		added = added || strings.Contains(c, "link add dummy0")
		removed = removed || strings.Contains(c, "link del dummy0")
	}
	if added && !removed {
		t.Errorf("node change not undone: %v", n.sh)
	}
}

func TestLabPassesAndCleansUp(t *testing.T) {
	env, n1 := fakeEnv(t)
	n1.d.exec = pingAnswers
	rep := RunLab(context.Background(), env, pingLab(false), Options{})
	if !rep.Passed || len(rep.Checks) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	for _, c := range rep.Checks {
		if len(c.Evidence) != 1 || c.Evidence[0].Command != "ping -c 2 -W 2 "+lastField(c.Check) || c.Evidence[0].Where != "container milk" {
			t.Errorf("evidence of %q: %+v", c.Check, c.Evidence)
		}
	}
	if !strings.Contains(rep.Checks[1].Evidence[0].Output, "0 packets received") {
		t.Errorf("evidence output: %q", rep.Checks[1].Evidence[0].Output)
	}
	assertClean(t, n1)
}

func TestWrongExpectationFailsTheRun(t *testing.T) {
	env, n1 := fakeEnv(t)
	n1.d.exec = func(ctr string, argv []string) Output { return Output{Stdout: "answered"} } // everything answers
	rep := RunLab(context.Background(), env, pingLab(false), Options{})
	if rep.Passed || !rep.Checks[0].Passed || rep.Checks[1].Passed {
		t.Fatalf("an expected failure that got through must fail: %+v", rep.Checks)
	}
	var b bytes.Buffer
	WriteText(&b, []Report{rep})
	out := b.String()
	if !strings.Contains(out, "FAILED: milk cannot reach 10.0.0.2 (expected: fails)") || !strings.HasSuffix(out, "1 passed, 1 failed\n") {
		t.Errorf("text report:\n%s", out)
	}
	assertClean(t, n1)
}

func TestSetupFailureStillTearsDown(t *testing.T) {
	env, n1 := fakeEnv(t)
	n1.d.exec = pingAnswers
	rep := RunLab(context.Background(), env, pingLab(true), Options{})
	if rep.Passed || !strings.Contains(rep.SetupError, "broken") || !strings.Contains(rep.SetupError, "boom") || len(rep.Checks) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	assertClean(t, n1)
	if p, f := Totals([]Report{rep}); p != 0 || f != 1 {
		t.Errorf("totals %d/%d: a failed setup must count as a failure", p, f)
	}
	// A lab without a Diagnose of its own reports the nodes' dockerd log
	// since the failed step started.
	if len(rep.SetupEvidence) != len(env.Plan.Nodes) || rep.SetupEvidence[0].Node != "node1" ||
		!strings.HasPrefix(rep.SetupEvidence[0].Command, "sudo journalctl -u docker") || !strings.Contains(rep.SetupEvidence[0].Command, "--since @") {
		t.Errorf("setup evidence: %+v", rep.SetupEvidence)
	}
}

// A failed setup step carries what the lab's Diagnose found, gathered
// with a context of its own (here the step failed because the run was
// cancelled), and every report format shows it.
func TestSetupFailureCarriesTheDiagnosis(t *testing.T) {
	env, n1 := fakeEnv(t)
	n1.d.exec = pingAnswers
	lab := pingLab(false)
	ctx, cancel := context.WithCancel(context.Background())
	lab.Steps = append(lab.Steps, Step{"stalls", func(ctx context.Context, r *Run) error {
		cancel()
		return ctx.Err()
	}})
	var gotSince time.Time
	before := time.Now()
	lab.Diagnose = func(dctx context.Context, r *Run, since time.Time) []Evidence {
		gotSince = since
		if dctx.Err() != nil {
			return []Evidence{{Node: "node1", Where: "node", Command: "journalctl", Output: "diagnosis had a dead context"}}
		}
		return []Evidence{{Node: "node1", Where: "node", Command: "journalctl -u docker", Output: "attach deadline missed on node1"}}
	}
	rep := RunLab(ctx, env, lab, Options{})
	if rep.Passed || !strings.Contains(rep.SetupError, "stalls") {
		t.Fatalf("report: %+v", rep)
	}
	if len(rep.SetupEvidence) != 1 || rep.SetupEvidence[0].Output != "attach deadline missed on node1" {
		t.Fatalf("setup evidence: %+v", rep.SetupEvidence)
	}
	if gotSince.Before(before) {
		t.Errorf("Diagnose was told %v, before the run started (%v); it must get the failed step's start", gotSince, before)
	}
	var text, junit bytes.Buffer
	WriteText(&text, []Report{rep})
	if err := WriteJUnit(&junit, []Report{rep}); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(rep)
	for name, out := range map[string]string{"text": text.String(), "junit": junit.String(), "json": string(js)} {
		if !strings.Contains(out, "attach deadline missed on node1") {
			t.Errorf("%s report lacks the diagnosis:\n%s", name, out)
		}
	}
	assertClean(t, n1)
}

func TestCancelStillTearsDown(t *testing.T) {
	env, n1 := fakeEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	n1.d.exec = func(ctr string, argv []string) Output { cancel(); return Output{Exit: 1} }
	rep := RunLab(ctx, env, pingLab(false), Options{})
	if rep.Passed {
		t.Fatal("a cancelled lab passed")
	}
	assertClean(t, n1)
}

func TestLeftoversOfAnEarlierRunAreRemovedFirst(t *testing.T) {
	env, n1 := fakeEnv(t)
	n1.d.exec = pingAnswers
	n1.d.containers["milk"] = map[string]string{Label: "t"}
	n1.d.networks["n1"] = map[string]string{Label: "t"}
	n1.d.containers["users-own"] = map[string]string{}
	rep := RunLab(context.Background(), env, pingLab(false), Options{})
	if !rep.Passed {
		t.Fatalf("%+v", rep)
	}
	if _, ok := n1.d.containers["users-own"]; !ok {
		t.Error("a container labctl did not create was removed")
	}
}

func TestKeepSkipsTeardown(t *testing.T) {
	env, n1 := fakeEnv(t)
	n1.d.exec = pingAnswers
	RunLab(context.Background(), env, pingLab(false), Options{Keep: true})
	if len(n1.d.containers) != 1 {
		t.Errorf("--keep removed the lab: %v", n1.d.containers)
	}
}

func TestJUnit(t *testing.T) {
	env, n1 := fakeEnv(t)
	n1.d.exec = func(ctr string, argv []string) Output { return Output{Stdout: "answered"} }
	rep := RunLab(context.Background(), env, pingLab(false), Options{})
	var b bytes.Buffer
	if err := WriteJUnit(&b, []Report{rep}); err != nil {
		t.Fatal(err)
	}
	x := b.String()
	for _, want := range []string{`<testsuites tests="2" failures="1">`, `<testsuite name="labctl.t" tests="2" failures="1"`, `<failure message="expected: fails">`, "ping -c 2 -W 2 10.0.0.2"} {
		if !strings.Contains(x, want) {
			t.Errorf("JUnit lacks %s:\n%s", want, x)
		}
	}
}

func TestCatalogue(t *testing.T) {
	want := []string{"bridge", "user-bridge", "host", "macvlan", "macvlan-8021q", "ipvlan-l2", "ipvlan-l3", "none", "overlay"}
	got := All()
	if len(got) != len(want) {
		t.Fatalf("%d labs", len(got))
	}
	for i, l := range got {
		if l.Name != want[i] || l.Title == "" || l.Explain == "" || len(l.Tutorial) == 0 || len(l.Checks) == 0 || l.MinNodes < 1 {
			t.Errorf("lab %d: %+v", i, l)
		}
		hasFailure := false
		for _, c := range l.Checks {
			if c.Expect != ExpectSuccess && c.Expect != ExpectFailure {
				t.Errorf("%s: %q: expectation %q", l.Name, c.Name, c.Expect)
			}
			hasFailure = hasFailure || c.Expect == ExpectFailure
		}
		_ = hasFailure
	}
	if _, ok := Lookup("macvlan"); !ok {
		t.Error("Lookup")
	}
	// A lab that needs more nodes than the topology has says so.
	env, _ := fakeEnv(t)
	env.Plan.Nodes = env.Plan.Nodes[:1]
	l, _ := Lookup("macvlan")
	rep := RunLab(context.Background(), env, l, Options{})
	if !strings.Contains(rep.SetupError, "needs 2 nodes") {
		t.Errorf("%+v", rep)
	}
}

func TestNeighMAC(t *testing.T) {
	out := "192.168.241.11 lladdr 52:06:47:32:b3:2f REACHABLE\n192.168.241.92 lladdr 52:06:47:32:B3:2F STALE\n192.168.241.2 FAILED\n"
	if neighMAC(out, "192.168.241.92") != "52:06:47:32:b3:2f" || neighMAC(out, "192.168.241.2") != "" {
		t.Error("neighMAC")
	}
}

func lastField(s string) string {
	f := strings.Fields(s)
	return f[len(f)-1]
}

// Connecting to a lab's nodes tries them all at once and names every node
// that cannot be reached (hosts check used to report the first of three),
// without a node that answers at once waiting for the others.
func TestConnectTargetsReportsEveryUnreachableNode(t *testing.T) {
	tp := topology.Default()
	topology.ApplyDefaults(tp)
	p, err := plan.New("t", tp)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var attempts []string
	host := LocalHost{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		attempts = append(attempts, addr)
		mu.Unlock()
		return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
	}}
	signer, _ := mustSigner(t)
	start := time.Now()
	_, _, err = ConnectTargets(context.Background(), p, func(n plan.Node) (transport.Target, error) {
		return transport.Target{Node: n.Name, Addr: n.Name + ".invalid:22", User: "lab", Signer: signer}, nil
	}, host)
	if err == nil {
		t.Fatal("connected to nodes that do not resolve")
	}
	for _, n := range p.Nodes {
		if strings.Count(err.Error(), n.Name+": SSH to "+n.Name+".invalid:22") != 1 || strings.Contains(err.Error(), n.Name+": "+n.Name+": ") {
			t.Errorf("the error does not name %s once:\n%v", n.Name, err)
		}
	}
	if len(attempts) != len(p.Nodes) || time.Since(start) > 5*time.Second {
		t.Errorf("%d attempts in %s for %d nodes", len(attempts), time.Since(start), len(p.Nodes))
	}
}

func mustSigner(t *testing.T) (ssh.Signer, error) {
	k, err := keys.Generate("t")
	if err != nil {
		t.Fatal(err)
	}
	return k.Signer()
}

func planFrom(t *testing.T, src string) *plan.Plan {
	t.Helper()
	tp, err := topology.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	topology.ApplyDefaults(tp)
	if ps := topology.Validate(tp); len(ps) > 0 {
		t.Fatal(ps)
	}
	p, err := plan.New("t", tp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A valid topology can still be unable to host a lab: the tutorial's
// container addresses must exist in the NAT subnet and be free. Every lab
// fits the default topology.
func TestFits(t *testing.T) {
	def := planFrom(t, "nodes: [{name: node1}, {name: node2}, {name: node3}]\n")
	for _, l := range All() {
		if err := Fits(l, def); err != nil {
			t.Errorf("%s does not fit the default topology: %v", l.Name, err)
		}
	}
	macvlan, _ := Lookup("macvlan")
	ipvlan, _ := Lookup("ipvlan-l2")
	for _, c := range []struct{ name, topo, want string }{
		{"a /26 NAT subnet", "networks: {nat: {subnet: 192.168.241.0/26, host: 192.168.241.2, dhcp: {start: 192.168.241.40, end: 192.168.241.50}}}\nnodes: [{name: node1}, {name: node2}]\n",
			"the NAT subnet 192.168.241.0/26 has no host .92, .93, .95, .96 for container milk, soup, bread, tea (it needs a /25 or larger)"},
		{"a node at .92", "nodes: [{name: node1}, {name: node2, nat: {address: 192.168.241.92}}]\n",
			"container milk gets 192.168.241.92, which is node2's address"},
		{"DHCP over .95", "networks: {nat: {dhcp: {start: 192.168.241.94, end: 192.168.241.99}}}\nnodes: [{name: node1}, {name: node2}]\n",
			"container bread gets 192.168.241.95, which is in the NAT network's DHCP range 192.168.241.94-192.168.241.99"},
		{"the gateway at .96", "networks: {nat: {host: 192.168.241.96}}\nnodes: [{name: node1}, {name: node2}]\n",
			"container tea gets 192.168.241.96, which is the host's address (the gateway)"},
	} {
		err := Fits(macvlan, planFrom(t, c.topo))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "lab macvlan cannot run on this topology: ") {
			t.Errorf("%s: %v\nwant %q", c.name, err, c.want)
		}
	}
	// ipvlan-l2 uses .92 and .95 only: the gateway at .96 leaves it be.
	if err := Fits(ipvlan, planFrom(t, "networks: {nat: {host: 192.168.241.96}}\nnodes: [{name: node1}, {name: node2}]\n")); err != nil {
		t.Errorf("ipvlan-l2: %v", err)
	}
	// RunLab refuses before touching a node.
	p := planFrom(t, "nodes: [{name: node1}, {name: node2, nat: {address: 192.168.241.92}}]\n")
	rep := RunLab(context.Background(), &Env{Plan: p, Nodes: map[string]Node{}}, macvlan, Options{})
	if rep.Passed || !strings.Contains(rep.SetupError, "which is node2's address") {
		t.Errorf("RunLab on a topology the lab does not fit: %+v", rep)
	}
}

// A named undo group runs once: early when a check asks (UndoGroup), or
// at teardown in the place where the group was first used.
func TestUndoGroups(t *testing.T) {
	var ran []string
	rec := func(s string) func(context.Context) error {
		return func(context.Context) error { ran = append(ran, s); return nil }
	}
	r := &Run{vars: map[string]string{}}
	r.OnUndo("first", rec("first"))
	r.OnUndoIn("router", "addr", rec("router addr"))
	r.OnUndo("middle", rec("middle"))
	r.OnUndoIn("router", "rule", rec("router rule"))
	r.OnUndo("last", rec("last"))
	if err := r.teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ran, ", "); got != "last, middle, router rule, router addr, first" {
		t.Errorf("teardown order: %s", got)
	}
	ran = nil
	r = &Run{vars: map[string]string{}}
	r.OnUndoIn("router", "addr", rec("router addr"))
	r.OnUndo("container", rec("container"))
	if err := r.UndoGroup(context.Background(), "router"); err != nil {
		t.Fatal(err)
	}
	if err := r.teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ran, ", "); got != "router addr, container" {
		t.Errorf("early undo then teardown: %s", got)
	}
}

// A failed undo is in the report (and fails the lab), with the lab's
// whole duration: both were lost when the report was returned before the
// deferred teardown wrote them.
func TestTeardownFailureIsReported(t *testing.T) {
	env, n1 := fakeEnv(t)
	n1.d.exec = pingAnswers
	lab := &Exercise{Name: "t", Title: "t", MinNodes: 1, Steps: []Step{{Title: "change", Do: func(ctx context.Context, r *Run) error {
		return r.NodeSh(ctx, "node1", "true", "exit 7")
	}}}, Checks: []Check{{Name: "ok", Expect: ExpectSuccess, Do: func(ctx context.Context, r *Run) (bool, []Evidence, error) {
		time.Sleep(20 * time.Millisecond)
		return true, nil, nil
	}}}}
	rep := RunLab(context.Background(), env, lab, Options{})
	if rep.Teardown == "" || rep.Passed || rep.Duration < 20*time.Millisecond {
		t.Errorf("teardown %q, passed %v, duration %s", rep.Teardown, rep.Passed, rep.Duration)
	}
}
