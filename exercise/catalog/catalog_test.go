package catalog

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/exercise/exercisetest"
	"github.com/labctl/labctl/exercise/labfile"
	"github.com/labctl/labctl/internal/testenv"
)

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
			if c.Expect != exercise.ExpectSuccess && c.Expect != exercise.ExpectFailure {
				t.Errorf("%s: %q: expectation %q", l.Name, c.Name, c.Expect)
			}
			hasFailure = hasFailure || c.Expect == exercise.ExpectFailure
		}
		_ = hasFailure
	}
	if _, ok := Lookup("macvlan"); !ok {
		t.Error("Lookup")
	}
	// A lab that needs more nodes than the topology has says so.
	env, _ := exercisetest.Env(t)
	env.Plan.Nodes = env.Plan.Nodes[:1]
	l, _ := Lookup("macvlan")
	rep := exercise.RunLab(context.Background(), env, l, exercise.Options{})
	if !strings.Contains(rep.SetupError, "needs 2 nodes") {
		t.Errorf("%+v", rep)
	}
}

// A valid topology can still be unable to host a lab: the tutorial's
// container addresses must exist in the NAT subnet and be free. Every lab
// fits the default topology.
func TestFits(t *testing.T) {
	def := exercisetest.Plan(t, "nodes: [{name: node1}, {name: node2}, {name: node3}]\n")
	for _, l := range All() {
		if err := exercise.Fits(l, def); err != nil {
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
		err := exercise.Fits(macvlan, exercisetest.Plan(t, c.topo))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "lab macvlan cannot run on this topology: ") {
			t.Errorf("%s: %v\nwant %q", c.name, err, c.want)
		}
	}
	// ipvlan-l2 uses .92 and .95 only: the gateway at .96 leaves it be.
	if err := exercise.Fits(ipvlan, exercisetest.Plan(t, "networks: {nat: {host: 192.168.241.96}}\nnodes: [{name: node1}, {name: node2}]\n")); err != nil {
		t.Errorf("ipvlan-l2: %v", err)
	}
	// RunLab refuses before touching a node.
	p := exercisetest.Plan(t, "nodes: [{name: node1}, {name: node2, nat: {address: 192.168.241.92}}]\n")
	rep := exercise.RunLab(context.Background(), &exercise.Env{Plan: p, Nodes: map[string]exercise.Node{}}, macvlan, exercise.Options{})
	if rep.Passed || !strings.Contains(rep.SetupError, "which is node2's address") {
		t.Errorf("RunLab on a topology the lab does not fit: %+v", rep)
	}
}

// The built-in exercises that are lab files prove what they proved when
// they were Go: the same checks, by name and expectation, in the same
// order (testdata/checks.golden was written from the Go exercises).
func TestBuiltinFilesKeepTheChecks(t *testing.T) {
	want, err := os.ReadFile("testdata/checks.golden")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range All() {
		for _, c := range e.Checks {
			fmt.Fprintf(&b, "%s\t%s\t%s\n", e.Name, c.Expect, c.Name)
		}
	}
	if b.String() != string(want) {
		t.Errorf("checks differ from testdata/checks.golden:\n got:\n%s\nwant:\n%s", b.String(), want)
	}
	for _, e := range All() {
		if (e.File != "") != (e.Name != "overlay") {
			t.Errorf("%s: file %q: every built-in but the overlay is a lab file", e.Name, e.File)
		}
	}
}

// The schema compiles, accepts every built-in lab file and the one 'lab
// new' writes, and refuses unknown fields as labctl does.
func TestLabSchema(t *testing.T) {
	sch := testenv.CompileSchema(t, "lab.schema.json", labfile.Schema())
	asJSON := func(data []byte) any { return testenv.YAMLAsJSON(t, data) }
	files, _ := builtinFS.ReadDir("builtin")
	for _, e := range files {
		data, _ := builtinFS.ReadFile("builtin/" + e.Name())
		if err := sch.Validate(asJSON(data)); err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
	}
	data, _ := labfile.NewFile("x")
	if err := sch.Validate(asJSON(data)); err != nil {
		t.Errorf("lab new: %v", err)
	}
	bad, _ := os.ReadFile("testdata/invalid/unknown-field.yaml")
	if err := sch.Validate(asJSON(bad)); err == nil {
		t.Error("the schema accepts an unknown field")
	}
}

// The setup of every built-in lab file, rendered for a seat whose subnets
// are not the tutorial's: every value is the seat's, every command names
// its node, and every container a check looks in (but does not make
// itself) is started by one of the commands.
func TestBuiltinCommandsUseTheSeatsValues(t *testing.T) {
	seat := exercisetest.Plan(t, `networks:
  nat: {subnet: 10.200.12.0/24, host: 10.200.12.2, dhcp: {start: 10.200.12.100, end: 10.200.12.200}}
  hostonly: {subnet: 10.200.13.0/24, host: 10.200.13.1}
nodes: [{name: node1}, {name: node2}, {name: node3}]
`)
	nodes := map[string]bool{"host": true}
	for _, n := range seat.Nodes {
		nodes[n.Name] = true
	}
	for _, f := range builtinFiles {
		cmds, err := f.Exercise().Commands(seat)
		if err != nil {
			t.Errorf("%s: %v", f.Name, err)
			continue
		}
		if len(cmds) == 0 {
			t.Errorf("%s: no commands", f.Name)
		}
		started := map[string]bool{}
		for _, c := range cmds {
			if !nodes[c.On] || strings.Contains(c.Run, "${") || strings.Contains(c.Run, "192.168.241.") {
				t.Errorf("%s: %+v", f.Name, c)
			}
			if i := strings.Index(c.Run, " --name "); i >= 0 && strings.HasPrefix(c.Run, "docker run ") {
				started[strings.Fields(c.Run[i+8:])[0]] = true
			}
		}
		for i, c := range f.Checks {
			made := map[string]bool{}
			for _, a := range c.Do {
				for _, ct := range a.Containers {
					made[ct.Name] = true
				}
			}
			for _, p := range append([]labfile.FileProbe{c.FileProbe}, c.Also...) {
				for _, ctr := range []string{p.In, p.Logs} {
					if ctr != "" && !made[ctr] && !started[ctr] {
						t.Errorf("%s: check %d (%s) looks in container %s, which no command starts", f.Name, i, c.Name, ctr)
					}
				}
			}
		}
	}
}
