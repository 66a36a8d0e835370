package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/lab"
	"github.com/spf13/cobra"

	"github.com/labctl/labctl/internal/golden"

	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/state"
	"github.com/labctl/labctl/topology"
)

// TestMain keeps the tests away from the user's own labs: state goes to a
// directory of the test run.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "labctl-cmd-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// A lab brought up from a file is acted on with that file by later
// commands that name none; --file overrides; a file that has gone is an
// error naming it and the flag.
func TestCommandsUseTheTopologyOfTheLabsLastUp(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "two.yaml")
	os.WriteFile(topo, []byte("nodes:\n  - name: alpha\n  - name: beta\n"), 0o644)
	root, err := state.Root()
	if err != nil {
		t.Fatal(err)
	}
	d, err := state.Open(root, "recorded")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Save(state.State{Lab: "recorded", Topology: topo}); err != nil {
		t.Fatal(err)
	}
	nodes := func(args ...string) []string {
		t.Helper()
		out, errOut, code := run(t, append([]string{"plan", "-o", "json", "--lab", "recorded"}, args...)...)
		if code != 0 {
			t.Fatalf("plan %v: exit %d: %s", args, code, errOut)
		}
		var p plan.Plan
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, n := range p.Nodes {
			names = append(names, n.Name)
		}
		return names
	}
	if got := strings.Join(nodes(), ","); got != "alpha,beta" {
		t.Errorf("without --file: nodes %s, want the recorded topology's alpha,beta", got)
	}
	def := filepath.Join(dir, "default.yaml")
	out, _, _ := run(t, "topology", "default")
	os.WriteFile(def, []byte(out), 0o644)
	if got := strings.Join(nodes("-f", def), ","); got != "node1,node2,node3" {
		t.Errorf("with --file: nodes %s", got)
	}
	os.Remove(topo)
	_, errOut, code := run(t, "plan", "--lab", "recorded")
	if code == 0 || !strings.Contains(errOut, topo) || !strings.Contains(errOut, "--file") {
		t.Errorf("recorded file gone: exit %d, %q", code, errOut)
	}
	// Other labs are not affected.
	if _, errOut, code := run(t, "plan", "--lab", "other"); code != 0 {
		t.Errorf("another lab: exit %d: %s", code, errOut)
	}
}

// run executes labctl in-process and returns stdout, stderr and the exit
// status main would use.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runWith(t, &globals{}, args...)
}

// runWith is run over g (its writers are set here): for tests that give
// labctl their hypervisors.
func runWith(t *testing.T, g *globals, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	g.stdout, g.stderr = &out, &errb
	cmd := newRoot(g)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	code := 0
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
			if ee.msg != "" {
				errb.WriteString(ee.msg + "\n")
			}
		} else {
			code = 1
			errb.WriteString(err.Error() + "\n")
		}
	}
	return out.String(), errb.String(), code
}

func TestPlanJSONStableAndPerLab(t *testing.T) {
	a, _, code := run(t, "plan", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, _, _ := run(t, "plan", "-o", "json")
	c, _, _ := run(t, "plan", "-o", "json", "--lab", "workshop-2")
	if a != b {
		t.Error("plan differs between two runs")
	}
	var pa, pc plan.Plan
	if err := json.Unmarshal([]byte(a), &pa); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(c), &pc); err != nil {
		t.Fatal(err)
	}
	if len(pa.Nodes) != 3 {
		t.Fatalf("%d nodes", len(pa.Nodes))
	}
	for i, n := range pa.Nodes {
		if n.NICs[0].Guest != "ens33" || len(n.VLANs) != 2 {
			t.Errorf("%s: %+v", n.Name, n)
		}
		for j := range n.NICs {
			if n.NICs[j].MAC == pc.Nodes[i].NICs[j].MAC {
				t.Errorf("%s: MAC %s same in another lab", n.Name, n.NICs[j].MAC)
			}
		}
	}
}

func TestPlanTextGolden(t *testing.T) {
	out, _, code := run(t, "plan")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	golden.Check(t, filepath.Join("testdata", "plan-default.txt"), []byte(out))
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`vlans:
  - {id: 5000, subnet: 192.168.20.0/24}
nodes:
  - {name: a, memory: 64MiB}
  - {name: a, cpus: 0}
`), 0o644)
	_, stderr, code := run(t, "validate", "--no-host", "-f", bad)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, w := range []string{"vlans[0].id: 5000 is outside 1..4094", "nodes[0].memory", "nodes[1].name", "nodes[1].cpus"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	out, _, code := run(t, "validate", "--no-host", "-o", "json", bad, "../../topology/testdata/valid/minimal.yaml")
	if code != 1 {
		t.Errorf("json exit %d", code)
	}
	var doc struct{ Files []lab.Validation }
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	res := doc.Files
	if len(res) != 2 || res[0].Valid || len(res[0].Problems) != 4 || !res[1].Valid {
		t.Errorf("results: %+v", res)
	}
	if _, _, code := run(t, "validate", "--no-host"); code != 0 {
		t.Errorf("default topology: exit %d", code)
	}
	_, stderr, code = run(t, "validate", "--no-host", "-f", filepath.Join(dir, "missing.yaml"))
	if code != 1 || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("missing file: exit %d, %s", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--lab", "Bad Lab"}, `--lab "Bad Lab"`},
		{[]string{"plan", "--output", "yaml"}, `--output "yaml"`},
		{[]string{"plan", "--frobnicate"}, "unknown flag: --frobnicate"},
		{[]string{"plan", "extra"}, ""},
		{[]string{"workshop", "serve"}, "--listen ADDRESS:PORT is required"},
		{[]string{"workshop", "serve", "--listen", "lab:8443"}, "--listen lab:8443"},
		{[]string{"workshop", "serve", "--listen", "0.0.0.0:8443"}, "give --url https://HOST:PORT"},
		{[]string{"workshop", "serve", "--listen", "127.0.0.1:8443", "--url", "http://x:1"}, "--url http://x:1: give https://HOST[:PORT]"},
		{[]string{"workshop", "serve", "--listen", "127.0.0.1:8443", "--url", "https://x:1/a?b"}, "and nothing more"},
		{[]string{"workshop", "serve", "--listen", "127.0.0.1:8443", "--cert", "c.pem"}, "--cert and --key go together"},
		{[]string{"workshop", "serve", "--listen", "127.0.0.1:8443", "--idle", "5s"}, "--idle 5s"},
		{[]string{"workshop", "snapshot", "Bad"}, `stage name "Bad"`},
		{[]string{"workshop", "reset", "1", "--stage", "x/y"}, `--stage: stage name "x/y"`},
		{[]string{"hosts", "import", "--vagrant", "--", "--provider=x"}, `"--provider=x" is not a Vagrant machine name`},
		{[]string{"image", "vagrant-box", "--name", "a/b/c"}, `--name: "a/b/c" is not a box name`},
	}
	for _, tc := range tests {
		_, stderr, code := run(t, tc.args...)
		if code == 0 {
			t.Errorf("%v: exit 0", tc.args)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr, tc.want)
		}
	}
}

// A mistyped command fails with exit status 2 under every command group,
// naming the word and the closest command; a group alone prints its help.
func TestUnknownSubcommands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "labctl"`},
		{[]string{"lab", "frobnicate"}, `unknown command "frobnicate" for "labctl lab"`},
		{[]string{"image", "frobnicate"}, `unknown command "frobnicate" for "labctl image"`},
		{[]string{"lab", "rnu", "all"}, `did you mean "run"?`},
		{[]string{"imag", "ls"}, `did you mean "image"?`},
		{[]string{"swarm", "stauts"}, `did you mean "status"?`},
	} {
		out, stderr, code := run(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, stderr, tc.want)
		}
	}
	for _, args := range [][]string{{"lab"}, {"image"}, {}} {
		out, _, code := run(t, args...)
		if code != 0 || !strings.Contains(out, "Available Commands:") {
			t.Errorf("%v: exit %d, want the group's help:\n%s", args, code, out)
		}
	}
}

// Commands that act on a lab's nodes say at once that the lab is not up,
// instead of retrying SSH to nodes that do not exist.
func TestCommandsOnALabThatIsNotUp(t *testing.T) {
	for _, args := range [][]string{
		{"--lab", "never-up", "lab", "run", "bridge"},
		{"--lab", "never-up", "exec", "node1", "--", "true"},
		{"--lab", "never-up", "swarm", "status"},
		{"--lab", "never-up", "ssh", "node1"},
	} {
		start := time.Now()
		_, stderr, code := run(t, args...)
		if code == 0 || !strings.Contains(stderr, "lab never-up is not up") || !strings.Contains(stderr, "labctl up --lab never-up") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%v: took %s to say so", args, took)
		}
	}
}

// An unknown node is a usage error that lists the lab's nodes.
func TestUnknownNodeListsTheNodes(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	for _, args := range [][]string{{"ssh", "node9"}, {"exec", "node9", "--", "true"}} {
		_, stderr, code := run(t, append([]string{"--lab", "nodes-test"}, args...)...)
		if code != 2 || !strings.Contains(stderr, `has no node "node9"; its nodes: node1, node2, node3`) {
			t.Errorf("%v: exit %d, %q", args, code, stderr)
		}
	}
}

func TestTopologyDefaultRoundTrips(t *testing.T) {
	out, _, code := run(t, "topology", "default")
	if code != 0 {
		t.Fatal(code)
	}
	tp, err := topology.Parse("printed", []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	topology.ApplyDefaults(tp)
	if ps := topology.Validate(tp); len(ps) > 0 {
		t.Fatal(ps)
	}
	schema, _, _ := run(t, "topology", "schema")
	if !json.Valid([]byte(schema)) {
		t.Error("schema is not JSON")
	}
}

func TestVersion(t *testing.T) {
	out, _, code := run(t, "version", "-o", "json")
	var v versionInfo
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || v.Go == "" {
		t.Errorf("version: %d %s", code, out)
	}
	// The document's shape, with what the build decides replaced.
	shape := regexp.MustCompile(`"(labctl|go|platform)": "[^"]*"`).ReplaceAllString(out, `"$1": "BUILD"`)
	golden.Check(t, filepath.Join("testdata", "json-version.json"), []byte(shape))
}

func TestLabListAndExplain(t *testing.T) {
	out, _, code := run(t, "lab", "ls", "-o", "json")
	var doc struct {
		Labs []struct {
			Name   string
			Checks int
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Labs) != 9 {
		t.Fatalf("lab ls: %d %s", code, out)
	}
	out, _, code = run(t, "lab", "explain", "macvlan")
	if code != 0 || !strings.Contains(out, "-o parent=ens33 subway") || !strings.Contains(out, "cannot reach its own macvlan containers") {
		t.Errorf("explain: %d\n%s", code, out)
	}
	if _, stderr, code := run(t, "lab", "explain", "nope"); code != 2 || !strings.Contains(stderr, `no lab "nope"`) {
		t.Errorf("unknown lab: %d %s", code, stderr)
	}
	if _, stderr, code := run(t, "lab", "run", "nope"); code != 2 || !strings.Contains(stderr, `no lab "nope"`) {
		t.Errorf("run unknown lab: %d %s", code, stderr)
	}
}

// The first signal cancels (the command cleans up), the second exits at
// once with status 130.
func TestSignals(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr testenv.Buffer
	exited := make(chan int, 1)
	go onSignals(sigs, cancel, &stderr, func(code int) { exited <- code })
	sigs <- os.Interrupt
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the first signal did not cancel")
	}
	select {
	case code := <-exited:
		t.Fatalf("exited (%d) on the first signal", code)
	case <-time.After(100 * time.Millisecond):
	}
	sigs <- syscall.SIGTERM
	select {
	case code := <-exited:
		if code != 130 {
			t.Errorf("exit %d, want 130", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second signal did not exit")
	}
	if out := stderr.String(); !strings.Contains(out, "cleaning up (again to exit at once)") || !strings.Contains(out, "exiting now") {
		t.Errorf("stderr: %q", out)
	}
}

// workshop plan and up take the same planning flags; a bad one is a usage
// error (exit 2) that names the flag as written, before anything else.
func TestWorkshopPlanningFlags(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--seats", "0"}, "--seats 0: 1 to 999 seats"},
		{[]string{"--seats", "2", "--space", "10.200.0.1/16"}, `--space "10.200.0.1/16": has host bits set; did you mean 10.200.0.0/16?`},
		{[]string{"--seats", "2", "--space", "0.0.0.0/0"}, `--space "0.0.0.0/0": /0: a space of /8 to /24`},
		{[]string{"--seats", "2", "--space", "127.0.0.0/16"}, `--space "127.0.0.0/16": overlaps loopback`},
		{[]string{"--seats", "2", "--l3-space", "224.0.0.0/16"}, `--l3-space "224.0.0.0/16": overlaps multicast`},
		{[]string{"--seats", "2", "--hypervisor", "hv1=4,8GiB", "--hypervisor", "hv1=8,16GiB"}, `--hypervisor "hv1=8,16GiB": hypervisor hv1 is given twice`},
		{[]string{"--seats", "2", "--hypervisor", "HV 1=4,8GiB"}, `--hypervisor "HV 1=4,8GiB": NAME "HV 1": lowercase letters`},
		{[]string{"--seats", "2", "--hypervisor", "hv1=4,9999999T"}, `"9999999T" is too large`},
		{[]string{"--seats", "2", "--hypervisor", "hv1=4,1MiB"}, `MEMORY "1MiB": 256MiB to 1PiB`},
		{[]string{"--seats", "2", "--cpu-overcommit", "0"}, "--cpu-overcommit 0: 1 to 32 vCPUs per CPU"},
		{[]string{"--seats", "2", "--cpu-overcommit", "33"}, "--cpu-overcommit 33: 1 to 32 vCPUs per CPU"},
		{[]string{"--seats", "2", "--cpu-overcommit", "8", "--hypervisor", "hv1=4,8GiB"}, "--cpu-overcommit is for seats on this machine"},
	} {
		for _, verb := range []string{"plan", "up"} {
			_, stderr, code := run(t, append([]string{"--lab", "ws", "workshop", verb}, c.args...)...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("workshop %s %v: exit %d, %q; want exit 2 and %q", verb, c.args, code, stderr, c.want)
			}
		}
	}
}

func TestWorkshopReadySummary(t *testing.T) {
	if got := readySummary([]int{1, 2, 3, 4}, map[int]bool{2: true, 4: true}); got != "2/4 seats ready; not ready: 2, 4" {
		t.Error(got)
	}
	if got := readySummary([]int{1, 2}, nil); got != "2/2 seats ready" {
		t.Error(got)
	}
}

// The CLI conventions people expect: --version, $LABCTL_LAB, a wrong
// number of arguments as a usage error with the usage line, an unknown
// exercise with the closest name, "did you mean" counting a swap as one.
func TestCLIConventions(t *testing.T) {
	if out, _, code := run(t, "--version"); code != 0 || !strings.HasPrefix(out, "labctl ") {
		t.Errorf("--version: %d %q", code, out)
	}
	_, stderr, code := run(t, "exec")
	if code != 2 || !strings.Contains(stderr, "labctl exec: requires at least 2 arg(s), only received 0") || !strings.Contains(stderr, "Usage: labctl exec NODE -- COMMAND...") {
		t.Errorf("exec without arguments: exit %d, %q", code, stderr)
	}
	if _, stderr, code := run(t, "lab", "explain", "macvaln"); code != 2 || !strings.Contains(stderr, `no lab "macvaln" (did you mean "macvlan"?)`) {
		t.Errorf("a misspelt exercise: exit %d, %q", code, stderr)
	}
	t.Setenv("LABCTL_LAB", "from-env")
	if out, _, code := run(t, "plan", "-o", "json"); code != 0 || !strings.Contains(out, `"lab": "from-env"`) {
		t.Errorf("LABCTL_LAB: %d %s", code, out[:min(len(out), 200)])
	}
	if out, _, code := run(t, "--lab", "flag-wins", "plan", "-o", "json"); code != 0 || !strings.Contains(out, `"lab": "flag-wins"`) {
		t.Errorf("--lab over LABCTL_LAB: %d", code)
	}
}

// Without Graphviz, graph --format svg fails with what to do and writes
// nothing to standard output (lab.svg is never DOT in disguise).
func TestSVGWithoutGraphvizWritesNothing(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	out, stderr, code := run(t, "graph", "--format", "svg")
	if code == 0 || out != "" || !strings.Contains(stderr, "apt-get install graphviz") {
		t.Errorf("exit %d, stdout %d bytes, stderr %q", code, len(out), stderr)
	}
	if out, _, code := run(t, "graph", "--format", "mermaid"); code != 0 || !strings.Contains(out, "graph") {
		t.Errorf("mermaid without Graphviz: %d", code)
	}
}

func TestColourOnlyOnATerminalWithoutNoColor(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm-256color")
	if !colorAllowed(true) || colorAllowed(false) {
		t.Error("a terminal gets colour, anything else none")
	}
	t.Setenv("NO_COLOR", "1")
	if colorAllowed(true) {
		t.Error("NO_COLOR=1 still coloured")
	}
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "dumb")
	if colorAllowed(true) {
		t.Error("TERM=dumb still coloured")
	}
	// And lab output through a pipe (as here) has no escapes at all.
	var b bytes.Buffer
	exercise.Text{Color: colorFor(&b)}.Write(&b, []exercise.Report{{Lab: "t", Checks: []exercise.Result{{Check: "c", Passed: true}}}})
	if strings.Contains(b.String(), "\x1b") {
		t.Errorf("escapes in piped output: %q", b.String())
	}
}

// Completion is dynamic: nodes, exercises, labs and enum flags.
func TestCompletion(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "ssh", ""}, []string{"node1", "node2", "node3"}},
		{[]string{"__complete", "exec", "node"}, []string{"node1", "node2", "node3"}},
		{[]string{"__complete", "lab", "run", "mac"}, []string{"macvlan", "macvlan-8021q"}},
		{[]string{"__complete", "lab", "run", "a"}, []string{"all"}},
		{[]string{"__complete", "graph", "--format", ""}, []string{"dot", "mermaid", "svg"}},
		{[]string{"__complete", "up", "--docker", ""}, []string{"offline", "online"}},
		{[]string{"__complete", "status", "-o", ""}, []string{"text", "json"}},
		{[]string{"__complete", "image", "build", "debian-12-d"}, []string{"debian-12-docker"}},
		{[]string{"__complete", "image", "vagrant-box", ""}, []string{"debian-12", "debian-12-docker"}},
		{[]string{"__complete", "image", "vagrant-box", "debian-12", ""}, nil},
	} {
		out, _, _ := run(t, c.args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var got []string
		for _, l := range lines {
			if !strings.HasPrefix(l, ":") && !strings.HasPrefix(l, "Completion ended") {
				got = append(got, strings.SplitN(l, "\t", 2)[0])
			}
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%v: %q, want %q", c.args, got, c.want)
		}
	}
}

func TestLsWithNoLab(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	out, _, code := run(t, "ls", "-o", "json")
	if code != 0 || strings.Join(strings.Fields(out), "") != `{"version":1,"labs":[]}` {
		t.Errorf("ls -o json: %d %q", code, out)
	}
	if out, _, code := run(t, "ls"); code != 0 || !strings.HasPrefix(out, "NAME") {
		t.Errorf("ls: %d %q", code, out)
	}
}

// Every command a person runs has an example in its --help, and the man
// pages and Markdown reference are generated from the commands.
func TestEveryLeafCommandHasAnExampleAndAManPage(t *testing.T) {
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb)
	var leaves []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			walk(s)
		}
		if !c.HasSubCommands() && !c.Hidden && c.Name() != "help" && c.Parent() != nil && c.Parent().Name() != "completion" {
			leaves = append(leaves, c)
		}
	}
	walk(root)
	for _, c := range leaves {
		if c.Example == "" {
			t.Errorf("%s has no example in its --help", c.CommandPath())
		}
	}
	dir := t.TempDir()
	if _, stderr, code := run(t, "__docs", dir); code != 0 {
		t.Fatalf("__docs: %d %s", code, stderr)
	}
	for _, c := range leaves {
		name := strings.ReplaceAll(c.CommandPath(), " ", "-")
		if _, err := os.Stat(filepath.Join(dir, "man", "man1", name+".1")); err != nil {
			t.Errorf("no man page for %s: %v", c.CommandPath(), err)
		}
		if _, err := os.Stat(filepath.Join(dir, "cli", strings.ReplaceAll(c.CommandPath(), " ", "_")+".md")); err != nil {
			t.Errorf("no Markdown page for %s: %v", c.CommandPath(), err)
		}
	}
	if len(leaves) < 40 {
		t.Errorf("%d leaf commands", len(leaves))
	}
}

// Progress is shown also when stderr is no terminal (a pipe, a CI log):
// plain timestamped lines, no escape codes, node output cleaned.
func TestProgressWithoutATerminal(t *testing.T) {
	var out, errb bytes.Buffer
	g := &globals{stdout: &out, stderr: &errb, output: "text"}
	g.progress("node2", "waiting for SSH (25 s)")
	g.progress("", "3/3 nodes ready in 58 s")
	g.progress("node1", "docker: \x1b]0;owned\x07")
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^\d\d:\d\d:\d\d  node2    waiting for SSH \(25 s\)$`).MatchString(lines[0]) || !strings.HasSuffix(lines[1], "  3/3 nodes ready in 58 s") {
		t.Errorf("%q", lines)
	}
	if strings.ContainsAny(errb.String(), "\x1b\x07") || out.Len() != 0 {
		t.Errorf("escapes or stdout: %q %q", errb.String(), out.String())
	}
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	if isTerminal(devnull) {
		t.Error("/dev/null taken for a terminal")
	}
}

// Every JSON document a command prints without a lab up is kept as a
// golden file, and each starts with its version; a command without JSON
// output refuses --output json with exit 2 and says which have it.
func TestJSONOutputs(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("LABCTL_CACHE", t.TempDir())
	lf := filepath.Join(t.TempDir(), "tea.yaml")
	os.WriteFile(lf, []byte("title: tea\nchecks:\n  - name: node1 answers\n    on: node1\n    run: 'true'\n"), 0o644)
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"json-ls.json", []string{"ls"}},
		{"json-lab-ls.json", []string{"lab", "ls"}},
		{"json-lab-explain.json", []string{"lab", "explain", "macvlan"}},
		{"json-lab-validate.json", []string{"lab", "validate", lf}},
		{"json-validate.json", []string{"validate", "--no-host", "../../topology/testdata/valid/minimal.yaml"}},
		{"json-plan.json", []string{"plan"}},
		{"json-workshop-plan.json", []string{"--lab", "ws", "workshop", "plan", "--seats", "2", "--hypervisor", "hv1=8,16GiB", "--hypervisor", "hv2=8,16GiB"}},
	} {
		out, stderr, code := run(t, append(c.args, "-o", "json")...)
		if code != 0 || !strings.HasPrefix(out, "{\n  \"version\": 1,\n") {
			t.Errorf("%v -o json: exit %d, does not start with its version:\n%.200s%s", c.args, code, out, stderr)
			continue
		}
		golden.Check(t, filepath.Join("testdata", c.golden), []byte(strings.ReplaceAll(out, lf, "LABFILE")))
	}
	out, _, code := run(t, "version", "-o", "json")
	var v struct {
		Version int    `json:"version"`
		Labctl  string `json:"labctl"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version != 1 || v.Labctl == "" {
		t.Errorf("version -o json: %d %s", code, out)
	}
	for _, args := range [][]string{{"topology", "default"}, {"ssh-config"}, {"graph"}, {"workshop", "cards", "x"}} {
		_, stderr, code := run(t, append(args, "-o", "json")...)
		if code != 2 || !strings.Contains(stderr, "has no JSON output") || !strings.Contains(stderr, "labctl lab run") {
			t.Errorf("%v -o json: exit %d, want 2 with a refusal:\n%s", args, code, stderr)
		}
	}
}
