package labfile

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/exercise/exercisetest"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/topology"
)

// Every broken lab file is rejected with what its '# want:' lines say
// (file:line: path: message), every problem at once.
func TestInvalidLabFiles(t *testing.T) {
	testenv.InvalidFixtures(t, "testdata/invalid/*.yaml", 20, func(f string) error {
		_, err := LoadFile(f)
		return err
	}, func(err error) (int, bool) {
		ps, ok := err.(topology.Problems)
		return len(ps), ok
	})
}

func TestValuesOfThePlan(t *testing.T) {
	p := exercisetest.Plan(t, "vlans: [{id: 20, subnet: 10.20.0.0/24, gateway: 10.20.0.1, parent: ens33}]\nnodes: [{name: alpha}, {name: beta}]\n")
	v := planValues(p)
	for in, want := range map[string]string{
		"ping ${node2}":                  "ping beta",
		"${node1.nat} ${node2.hostonly}": "192.168.241.11 192.168.242.12",
		"${nat.92}/${nat.prefix}":        "192.168.241.92/24",
		"dev ${node1.nic.nat}":           "dev ens33",
		"${vlan20.gateway} ${vlan20.5}":  "10.20.0.1 10.20.0.5",
		"${l3net2.10} ${outside}":        "192.168.95.10 " + p.Outside.Address,
		"${mac} and $HOME and ${HOME}":   "aa:bb and $HOME and ${HOME}",
	} {
		got, err := expand(in, v, map[string]string{"mac": "aa:bb"}, nil)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := expand("${vlan30.subnet}", v, nil, nil); err == nil || !strings.Contains(err.Error(), "${vlan30.subnet}: not in this topology") {
		t.Errorf("a VLAN the topology lacks: %v", err)
	}
}

// A lab file runs like a Go exercise: its steps create (labelled) what
// they say, probes give evidence, a failed check carries its hint, and
// teardown removes everything, check actions included.
func TestFileLabRuns(t *testing.T) {
	f, err := ParseFile("t.yaml", []byte(`
title: two containers
steps:
  - title: run milk and bread
    networks: [{name: greatwall}]
    containers:
      - {name: milk, image: busybox, network: greatwall}
      - {name: bread, image: busybox, network: greatwall}
    run: echo set up
    undo: echo taken down
checks:
  - name: milk reaches bread
    in: milk
    ping: bread
    hint: put bread on greatwall
  - name: the node has the NAT address
    run: ip -o addr
    contains: ${node1.nat}
    capture: addrs
    note: the node's addresses
  - name: milk reaches outside after a route
    do:
      - run: ip route add 10.9.0.0/24 via ${nat.gateway}
        undo: ip route del 10.9.0.0/24 via ${nat.gateway}
    in: milk
    ping: ${outside}
    hint: there is no way out
`))
	if err != nil {
		t.Fatal(err)
	}
	ex := f.Exercise()
	env, n1 := exercisetest.Env(t)
	d := n1.D
	d.Exec = func(ctr string, argv []string) exercise.Output {
		if ctr == "milk" && argv[len(argv)-1] == "bread" {
			return exercise.Output{Stdout: "2 packets received"}
		}
		return exercise.Output{Stdout: "unreachable", Exit: 1}
	}
	rep := exercise.RunLab(context.Background(), env, ex, exercise.Options{})
	if rep.Passed || len(rep.Checks) != 3 {
		t.Fatalf("report: %+v", rep)
	}
	c0, c1, c2 := rep.Checks[0], rep.Checks[1], rep.Checks[2]
	if !c0.Passed || c0.Evidence[0].Where != "container milk" || c0.Evidence[0].Command != "ping -c 2 -W 2 bread" || c0.Hint != "" {
		t.Errorf("check 0: %+v", c0)
	}
	if c1.Evidence[0].Command != "ip -o addr" || c1.Evidence[0].Note != "the node's addresses" {
		t.Errorf("check 1: %+v", c1)
	}
	if c2.Passed || c2.Hint != "there is no way out" || len(c2.Evidence) != 2 || !strings.Contains(c2.Evidence[0].Command, "ip route add 10.9.0.0/24 via 192.168.241.2") {
		t.Errorf("check 2: %+v", c2)
	}
	if len(d.Containers) != 0 || len(d.Networks) != 0 {
		t.Errorf("left behind: %v %v", d.Containers, d.Networks)
	}
	sh := strings.Join(n1.Cmds, "\n")
	for _, want := range []string{"echo set up", "echo taken down", "ip route del 10.9.0.0/24 via 192.168.241.2"} {
		if !strings.Contains(sh, want) {
			t.Errorf("node shell did not run %q:\n%s", want, sh)
		}
	}
}

// Check-only mode runs the checks alone, on what is there: a container
// that is not there is said plainly, with the hint; nothing the student
// made is removed, and what the checks' actions did is undone.
func TestCheckOnly(t *testing.T) {
	f, err := ParseFile("t.yaml", []byte(`
title: t
steps:
  - title: never run by check
    containers: [{name: milk, image: busybox}]
checks:
  - name: milk pings beijing
    in: milk
    ping: beijing
    hint: "milk is missing: docker run -itd --rm --name milk busybox"
    stage: 1
  - name: beijing pings shenzhen
    in: beijing
    ping: shenzhen
    stage: 2
    do:
      - run: docker network connect greatwall beijing
        undo: docker network disconnect greatwall beijing
`))
	if err != nil {
		t.Fatal(err)
	}
	ex := f.Exercise()
	env, n1 := exercisetest.Env(t)
	d := n1.D
	d.Containers["beijing"] = map[string]string{}
	d.Exec = func(ctr string, argv []string) exercise.Output { return exercise.Output{Stdout: "ok"} }
	rep := exercise.RunChecks(context.Background(), env, ex, exercise.CheckOptions{})
	if rep.Passed || len(rep.Checks) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	if c := rep.Checks[0]; c.Passed || !strings.Contains(c.Error, "no container named milk on node1") || c.Hint == "" {
		t.Errorf("missing container: %+v", c)
	}
	if c := rep.Checks[1]; !c.Passed {
		t.Errorf("beijing: %+v", c)
	}
	if _, ok := d.Containers["beijing"]; !ok {
		t.Error("check-only removed the student's container")
	}
	if !strings.Contains(strings.Join(n1.Cmds, "\n"), "docker network disconnect greatwall beijing") {
		t.Error("the check's own action was not undone")
	}
	rep = exercise.RunChecks(context.Background(), env, ex, exercise.CheckOptions{Stage: 2})
	if len(rep.Checks) != 1 || rep.Checks[0].Check != "beijing pings shenzhen" {
		t.Errorf("stage 2: %+v", rep.Checks)
	}
}

// The file 'lab new' writes validates, and runs (against the fake nodes)
// with every check passing when the nodes behave.
func TestNewFileValidatesAndRuns(t *testing.T) {
	data, err := NewFile("tea-house")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile("tea-house.yaml", data)
	if err != nil {
		t.Fatalf("lab new writes a file that does not validate: %v", err)
	}
	if f.Name != "tea-house" || len(f.Checks) != 3 {
		t.Fatalf("%+v", f)
	}
	if _, err := NewFile("Tea House"); err == nil {
		t.Error("a bad name was accepted")
	}
	// A one-node lab whose node is not called node1.
	solo := &exercisetest.Node{ID: "solo", D: exercisetest.NewDocker()}
	env := &exercise.Env{Plan: exercisetest.Plan(t, "nodes: [{name: solo}]\n"), Nodes: map[string]exercise.Node{"solo": solo}}
	solo.D.Exec = func(string, []string) exercise.Output { return exercise.Output{Stdout: "2 packets received"} }
	rep := exercise.RunLab(context.Background(), env, f.Exercise(), exercise.Options{})
	if len(rep.Checks) != 3 || !rep.Checks[0].Passed || !rep.Checks[1].Passed || rep.Checks[0].Evidence[0].Node != "solo" {
		t.Errorf("%+v", rep)
	}
	if len(solo.D.Containers) != 0 || len(solo.D.Networks) != 0 {
		t.Errorf("left behind on solo: %v %v", solo.D.Containers, solo.D.Networks)
	}
}

// A value captured on a node, where the student is root, goes into later
// commands as it is; one that is more than an address, MAC, number or
// name is refused, and nothing that uses it runs - on the host least of
// all.
func TestHostileCaptureRunsNothing(t *testing.T) {
	f, err := ParseFile("t.yaml", []byte(`
title: capture and use
checks:
  - name: the host pings what node1 says
    do:
      - run: cat /tmp/addr
        capture: addr
    on: host
    run: ping -c 1 ${addr}
  - name: node1 says its address
    run: cat /tmp/addr
    capture: addr2
  - name: the host uses it
    on: host
    run: echo ${addr2}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, evil := range []string{"1.2.3.4; touch /tmp/pwned", "$(id)", "`id`", "\nrm -rf /", "a b", "\x1b]0;owned\x07", strings.Repeat("1", 300)} {
		env, n1 := exercisetest.Env(t)
		n1.Answer = func(cmd string) exercise.Output { return exercise.Output{Stdout: evil + "\n"} }
		host := &exercisetest.Host{}
		env.Host = host
		rep := exercise.RunChecks(context.Background(), env, f.Exercise(), exercise.CheckOptions{})
		if len(host.Cmds) != 0 {
			t.Errorf("%q: the host ran %q", evil, host.Cmds)
		}
		for i, c := range rep.Checks {
			if c.Passed {
				t.Errorf("%q: check %d passed", evil, i)
			}
		}
		if !strings.Contains(rep.Checks[0].Error+rep.Checks[0].Evidence[0].Output, "capture addr: the value read is not an address") {
			t.Errorf("%q: check 0 does not say why: %+v", evil, rep.Checks[0])
		}
	}
	// A plain address is kept and used.
	env, n1 := exercisetest.Env(t)
	n1.Answer = func(cmd string) exercise.Output { return exercise.Output{Stdout: "192.168.241.92\n"} }
	host := &exercisetest.Host{}
	env.Host = host
	exercise.RunChecks(context.Background(), env, f.Exercise(), exercise.CheckOptions{})
	if len(host.Cmds) != 2 || host.Cmds[0] != "ping -c 1 192.168.241.92" {
		t.Errorf("host ran %q", host.Cmds)
	}
}

// A probe try that never ends stops at its timeout, with that said.
func TestProbeTimeout(t *testing.T) {
	f, err := ParseFile("t.yaml", []byte("title: t\nchecks:\n  - name: docker answers\n    run: docker ps\n    timeout: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	env, n1 := exercisetest.Env(t)
	n1.Hang = true
	start := time.Now()
	rep := exercise.RunChecks(context.Background(), env, f.Exercise(), exercise.CheckOptions{})
	if took := time.Since(start); took > 10*time.Second || rep.Checks[0].Passed || !strings.Contains(rep.Checks[0].Error, "timed out: the probe did not finish within 1s") {
		t.Errorf("after %s: %+v", took, rep.Checks[0])
	}
	if _, err := ParseFile("t.yaml", []byte("title: t\nchecks:\n  - name: c\n    run: x\n    timeout: 4000\n    deadline: -1\n")); err == nil || !strings.Contains(err.Error(), "checks[0].timeout: 4000: 1 to 3600 seconds") || !strings.Contains(err.Error(), "checks[0].deadline: -1: 1 to 3600 seconds") {
		t.Errorf("bad timeouts: %v", err)
	}
}
