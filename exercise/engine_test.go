package exercise_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/exercise/exercisetest"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/topology"
	"github.com/labctl/labctl/transport"
	"golang.org/x/crypto/ssh"
)

// pingLab: one container, one network, one node change; a ping that
// answers (expected), one that does not (expected).
func pingLab(failStep bool) *exercise.Exercise {
	steps := []exercise.Step{
		{Title: "net and container", Do: func(ctx context.Context, r *exercise.Run) error {
			if _, err := r.CreateNetwork(ctx, "node1", exercise.NetworkSpec{Name: "n1"}); err != nil {
				return err
			}
			_, err := r.RunContainer(ctx, "node1", exercise.ContainerSpec{Name: "milk", Image: "busybox", Network: "n1"})
			return err
		}},
		{Title: "node change", Do: func(ctx context.Context, r *exercise.Run) error {
			return r.NodeSh(ctx, "node1", "sudo ip link add dummy0 type dummy", "sudo ip link del dummy0")
		}},
	}
	if failStep {
		steps = append(steps, exercise.Step{Title: "broken", Do: func(ctx context.Context, r *exercise.Run) error {
			return r.NodeSh(ctx, "node1", "exit 7", "")
		}})
	}
	return &exercise.Exercise{Name: "t", Title: "test", MinNodes: 1, Steps: steps, Checks: []exercise.Check{
		{Name: "milk reaches 10.0.0.1", Expect: exercise.ExpectSuccess, Do: func(ctx context.Context, r *exercise.Run) (bool, []exercise.Evidence, error) {
			return exercise.One(r.Ping(ctx, "node1", "milk", "10.0.0.1"))
		}},
		{Name: "milk cannot reach 10.0.0.2", Expect: exercise.ExpectFailure, Do: func(ctx context.Context, r *exercise.Run) (bool, []exercise.Evidence, error) {
			return exercise.One(r.Ping(ctx, "node1", "milk", "10.0.0.2"))
		}},
	}}
}

// pingAnswers makes pings to 10.0.0.1 answer and everything else not.
func pingAnswers(ctr string, argv []string) exercise.Output {
	if argv[len(argv)-1] == "10.0.0.1" {
		return exercise.Output{Stdout: "2 packets transmitted, 2 packets received\n"}
	}
	return exercise.Output{Stdout: "2 packets transmitted, 0 packets received\n", Exit: 1}
}

func assertClean(t *testing.T, n *exercisetest.Node) {
	t.Helper()
	if len(n.D.Containers) != 0 || len(n.D.Networks) != 0 {
		t.Errorf("left behind: containers %v, networks %v", n.D.Containers, n.D.Networks)
	}
	var added, removed bool
	for _, c := range n.Cmds {
		added = added || strings.Contains(c, "link add dummy0")
		removed = removed || strings.Contains(c, "link del dummy0")
	}
	if added && !removed {
		t.Errorf("node change not undone: %v", n.Cmds)
	}
}

func TestLabPassesAndCleansUp(t *testing.T) {
	env, n1 := exercisetest.Env(t)
	n1.D.Exec = pingAnswers
	rep := exercise.RunLab(context.Background(), env, pingLab(false), exercise.Options{})
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
	env, n1 := exercisetest.Env(t)
	n1.D.Exec = func(ctr string, argv []string) exercise.Output { return exercise.Output{Stdout: "answered"} } // everything answers
	rep := exercise.RunLab(context.Background(), env, pingLab(false), exercise.Options{})
	if rep.Passed || !rep.Checks[0].Passed || rep.Checks[1].Passed {
		t.Fatalf("an expected failure that got through must fail: %+v", rep.Checks)
	}
	var b bytes.Buffer
	exercise.WriteText(&b, []exercise.Report{rep})
	out := b.String()
	if !strings.Contains(out, "FAILED: milk cannot reach 10.0.0.2 (expected: fails)") || !strings.HasSuffix(out, "1 passed, 1 failed\n") {
		t.Errorf("text report:\n%s", out)
	}
	assertClean(t, n1)
}

func TestSetupFailureStillTearsDown(t *testing.T) {
	env, n1 := exercisetest.Env(t)
	n1.D.Exec = pingAnswers
	rep := exercise.RunLab(context.Background(), env, pingLab(true), exercise.Options{})
	if rep.Passed || !strings.Contains(rep.SetupError, "broken") || !strings.Contains(rep.SetupError, "boom") || len(rep.Checks) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	assertClean(t, n1)
	if p, f := exercise.Totals([]exercise.Report{rep}); p != 0 || f != 1 {
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
	env, n1 := exercisetest.Env(t)
	n1.D.Exec = pingAnswers
	lab := pingLab(false)
	ctx, cancel := context.WithCancel(context.Background())
	lab.Steps = append(lab.Steps, exercise.Step{Title: "stalls", Do: func(ctx context.Context, r *exercise.Run) error {
		cancel()
		return ctx.Err()
	}})
	var gotSince time.Time
	before := time.Now()
	lab.Diagnose = func(dctx context.Context, r *exercise.Run, since time.Time) []exercise.Evidence {
		gotSince = since
		if dctx.Err() != nil {
			return []exercise.Evidence{{Node: "node1", Where: "node", Command: "journalctl", Output: "diagnosis had a dead context"}}
		}
		return []exercise.Evidence{{Node: "node1", Where: "node", Command: "journalctl -u docker", Output: "attach deadline missed on node1"}}
	}
	rep := exercise.RunLab(ctx, env, lab, exercise.Options{})
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
	exercise.WriteText(&text, []exercise.Report{rep})
	if err := exercise.WriteJUnit(&junit, []exercise.Report{rep}); err != nil {
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
	env, n1 := exercisetest.Env(t)
	ctx, cancel := context.WithCancel(context.Background())
	n1.D.Exec = func(ctr string, argv []string) exercise.Output { cancel(); return exercise.Output{Exit: 1} }
	rep := exercise.RunLab(ctx, env, pingLab(false), exercise.Options{})
	if rep.Passed {
		t.Fatal("a cancelled lab passed")
	}
	assertClean(t, n1)
}

func TestLeftoversOfAnEarlierRunAreRemovedFirst(t *testing.T) {
	env, n1 := exercisetest.Env(t)
	n1.D.Exec = pingAnswers
	n1.D.Containers["milk"] = map[string]string{exercise.Label: "t"}
	n1.D.Networks["n1"] = map[string]string{exercise.Label: "t"}
	n1.D.Containers["users-own"] = map[string]string{}
	rep := exercise.RunLab(context.Background(), env, pingLab(false), exercise.Options{})
	if !rep.Passed {
		t.Fatalf("%+v", rep)
	}
	if _, ok := n1.D.Containers["users-own"]; !ok {
		t.Error("a container labctl did not create was removed")
	}
}

func TestKeepSkipsTeardown(t *testing.T) {
	env, n1 := exercisetest.Env(t)
	n1.D.Exec = pingAnswers
	exercise.RunLab(context.Background(), env, pingLab(false), exercise.Options{Keep: true})
	if len(n1.D.Containers) != 1 {
		t.Errorf("--keep removed the lab: %v", n1.D.Containers)
	}
}

func TestJUnit(t *testing.T) {
	env, n1 := exercisetest.Env(t)
	n1.D.Exec = func(ctr string, argv []string) exercise.Output { return exercise.Output{Stdout: "answered"} }
	rep := exercise.RunLab(context.Background(), env, pingLab(false), exercise.Options{})
	var b bytes.Buffer
	if err := exercise.WriteJUnit(&b, []exercise.Report{rep}); err != nil {
		t.Fatal(err)
	}
	x := b.String()
	for _, want := range []string{`<testsuites tests="2" failures="1">`, `<testsuite name="labctl.t" tests="2" failures="1"`, `<failure message="expected: fails">`, "ping -c 2 -W 2 10.0.0.2"} {
		if !strings.Contains(x, want) {
			t.Errorf("JUnit lacks %s:\n%s", want, x)
		}
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
	host := exercise.LocalHost{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		attempts = append(attempts, addr)
		mu.Unlock()
		return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
	}}
	signer, _ := mustSigner(t)
	start := time.Now()
	_, _, err = exercise.ConnectTargets(context.Background(), p, func(n plan.Node) (transport.Target, error) {
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

// A failed undo is in the report (and fails the lab), with the lab's
// whole duration: both were lost when the report was returned before the
// deferred teardown wrote them.
func TestTeardownFailureIsReported(t *testing.T) {
	env, n1 := exercisetest.Env(t)
	n1.D.Exec = pingAnswers
	lab := &exercise.Exercise{Name: "t", Title: "t", MinNodes: 1, Steps: []exercise.Step{{Title: "change", Do: func(ctx context.Context, r *exercise.Run) error {
		return r.NodeSh(ctx, "node1", "true", "exit 7")
	}}}, Checks: []exercise.Check{{Name: "ok", Expect: exercise.ExpectSuccess, Do: func(ctx context.Context, r *exercise.Run) (bool, []exercise.Evidence, error) {
		time.Sleep(20 * time.Millisecond)
		return true, nil, nil
	}}}}
	rep := exercise.RunLab(context.Background(), env, lab, exercise.Options{})
	if rep.Teardown == "" || rep.Passed || rep.Duration < 20*time.Millisecond {
		t.Errorf("teardown %q, passed %v, duration %s", rep.Teardown, rep.Passed, rep.Duration)
	}
}

// A check whose command never ends on the node fails as timed out at its
// deadline, and the checks after it still run.
func TestCheckDeadline(t *testing.T) {
	env, n1 := exercisetest.Env(t)
	n1.Hang = true
	ran := false
	lab := &exercise.Exercise{Name: "t", Title: "t", MinNodes: 1, CheckOnly: true, Checks: []exercise.Check{
		{Name: "hangs", Expect: exercise.ExpectSuccess, Timeout: 200 * time.Millisecond, Do: func(ctx context.Context, r *exercise.Run) (bool, []exercise.Evidence, error) {
			return exercise.One(r.OnNode(ctx, "node1", "docker ps", ""))
		}},
		{Name: "after", Expect: exercise.ExpectSuccess, Do: func(ctx context.Context, r *exercise.Run) (bool, []exercise.Evidence, error) {
			ran = true
			return true, nil, nil
		}},
	}}
	start := time.Now()
	rep := exercise.RunChecks(context.Background(), env, lab, exercise.CheckOptions{})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
	c := rep.Checks[0]
	if c.Passed || !c.TimedOut || !strings.Contains(c.Error, "timed out: the check did not finish within 200ms") || !ran || !rep.Checks[1].Passed {
		t.Errorf("report: %+v", rep)
	}
}

// A lab's own teardown limit holds when the run's options give none, and
// the options' wins over it.
func TestTeardownLimitOfTheLab(t *testing.T) {
	env, n1 := exercisetest.Env(t)
	n1.D.Exec = pingAnswers
	slowUndo := func(limit time.Duration) *exercise.Exercise {
		return &exercise.Exercise{Name: "t", Title: "t", MinNodes: 1, Teardown: limit, Steps: []exercise.Step{{Title: "change", Do: func(ctx context.Context, r *exercise.Run) error {
			r.OnUndo("slow undo", func(ctx context.Context) error {
				select {
				case <-time.After(300 * time.Millisecond):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			return nil
		}}}}
	}
	if rep := exercise.RunLab(context.Background(), env, slowUndo(50*time.Millisecond), exercise.Options{}); rep.Teardown == "" {
		t.Error("a 300 ms undo passed the lab's 50 ms teardown limit")
	}
	if rep := exercise.RunLab(context.Background(), env, slowUndo(50*time.Millisecond), exercise.Options{Teardown: time.Second}); rep.Teardown != "" {
		t.Errorf("the options' 1 s limit did not win over the lab's: %s", rep.Teardown)
	}
	if rep := exercise.RunLab(context.Background(), env, slowUndo(0), exercise.Options{}); rep.Teardown != "" {
		t.Errorf("the default limit cut a 300 ms undo: %s", rep.Teardown)
	}
}

// Check-only mode keeps what the student made: a check that needs a
// container's name for one of its own sets the student's aside and puts
// it back, as it was, once its own is removed.
func TestCheckOnlyPutsTheStudentsContainerBack(t *testing.T) {
	env, n1 := exercisetest.Env(t)
	n1.D.Containers["coffee"] = map[string]string{"by": "student"}
	var during []string
	lab := &exercise.Exercise{Name: "t", Title: "t", MinNodes: 1, CheckOnly: true, Checks: []exercise.Check{{Name: "replaces coffee", Expect: exercise.ExpectSuccess,
		Do: func(ctx context.Context, r *exercise.Run) (bool, []exercise.Evidence, error) {
			if err := r.RemoveContainer(ctx, "node1", "coffee"); err != nil {
				return false, nil, err
			}
			// What the check starts in its place, removed at undo.
			n1.D.Containers["coffee"] = map[string]string{exercise.Label: "t"}
			r.OnUndo("remove the check's coffee", func(ctx context.Context) error { return n1.D.ContainerRemove(ctx, "coffee", container.RemoveOptions{}) })
			for name := range n1.D.Containers {
				during = append(during, name)
			}
			return true, nil, nil
		}}}}
	rep := exercise.RunChecks(context.Background(), env, lab, exercise.CheckOptions{})
	if !rep.Passed || rep.Teardown != "" {
		t.Fatalf("check-only: passed %v, teardown %q, setup %q", rep.Passed, rep.Teardown, rep.SetupError)
	}
	slices.Sort(during)
	if strings.Join(during, ",") != "coffee,coffee-labctl-aside" {
		t.Errorf("during the check: %v, want the student's coffee set aside", during)
	}
	if got := n1.D.Containers; len(got) != 1 || got["coffee"]["by"] != "student" {
		t.Errorf("after the check: %v, want the student's coffee back", got)
	}
	// A full run (not check-only) removes a container as before.
	n1.D.Containers["coffee"] = map[string]string{"by": "student"}
	exercise.RunLab(context.Background(), env, &exercise.Exercise{Name: "u", Title: "u", MinNodes: 1, Checks: []exercise.Check{{Name: "removes", Expect: exercise.ExpectSuccess,
		Do: func(ctx context.Context, r *exercise.Run) (bool, []exercise.Evidence, error) {
			return true, nil, r.RemoveContainer(ctx, "node1", "coffee")
		}}}}, exercise.Options{})
	if _, ok := n1.D.Containers["coffee"]; ok {
		t.Error("lab run kept a container its check removed")
	}
}
