package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/exercise/catalog"
	"github.com/labctl/labctl/exercise/overlay"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/internal/testlab"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/plan/plantest"
)

const labsLab = "itest-labs"

// The labs run on three nodes (the overlay lab needs them; the others use
// one or two) booted from the Docker-ready image, with the harness's
// upstream host as "outside", spread over two hypervisors: node1 and node2
// on the harness's own (hv1, the gateway), node3 on a simulated second one
// (hv2) behind the underlay, so that every lab between node1 or node2 and
// node3 (macvlan, VLAN routing, ipvlan L2, the whole Swarm overlay) crosses
// the VXLAN tunnels. The lab's NAT and host-only subnets are not the
// tutorial's (as a workshop seat's are not): every lab, and the commands
// 'lab explain' gives, must take the lab's own. The harness appends the
// hypervisors: list.
const topo = `image: debian-12-docker
networks:
  nat: {subnet: 10.210.41.0/24}
  hostonly: {subnet: 10.210.42.0/24}
nodes:
  - name: node1
  - name: node2
  - name: node3
    hypervisor: hv2
outside:
  address: ` + testlab.UpstreamAddr + `
`

// TestLabsForReal runs every lab on real VMs: every check must
// pass with evidence, the nodes must be left as they were, running a lab
// again gives the same result, and a deliberately wrong expectation makes
// the run fail.
func TestLabsForReal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	h := testlab.Start(t, ctx, testlab.Setup{Lab: labsLab, Topology: topo, Upstream: true, Tools: []string{"ssh", "tcpdump", "chromium", "dot"},
		Images: []string{"debian-12-docker", "docker.io-debian-12", "busybox", "nginx"}, Hypervisors: []string{"hv2"}})
	env, c, work, file := h.Env, h.CLI, h.Work, h.CLI.File
	hv2 := h.Hypervisors[0]
	labctl := func(args ...string) (string, error) {
		out, _, err := c.Run(ctx, args...)
		return out, err
	}
	start := time.Now()
	upWithHypervisorCrash(t, ctx, c, hv2)
	_, upErr, err := c.Run(ctx, "up", "-v")
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	// The Docker-ready image has the labs' container images in its Docker
	// store: no node uploads or loads one.
	if strings.Contains(upErr, "loading image") {
		t.Errorf("up loaded container images into nodes of the Docker-ready image:\n%s", testlab.LastLines(upErr, 40))
	}
	t.Logf("TIMING up (3 nodes over 2 hypervisors, Docker-ready image, provisioned; including the interrupted up): %s", time.Since(start).Round(time.Second))
	if out, err := labctl("status"); err != nil || !regexp.MustCompile(`(?m)^hv2\s+node3\s+running`).MatchString(out) || !regexp.MustCompile(`(?m)^hv1\s+node1\s+running`).MatchString(out) {
		t.Errorf("status does not show node3 running on hv2 and node1 on hv1 (err=%v):\n%s", err, out)
	}
	if out, err := hv2.Virsh("list", "--name"); err != nil || strings.TrimSpace(out) != plan.DomainName(labsLab, "node3") {
		t.Errorf("hv2's libvirtd runs %q (err=%v), want only node3", out, err)
	}
	// up records the topology file's hash, so that a later change of the
	// file is reported instead of mixed in.
	if st, err := os.ReadFile(filepath.Join(c.LabDir(), "state.json")); err != nil || !bytes.Contains(st, []byte(`"topology_sha256": "`)) {
		t.Errorf("state after up lacks the topology's hash (%v):\n%s", err, st)
	}

	// Every lab, through the CLI, with JSON, JUnit and the HTML report.
	junit, page := filepath.Join(work, "results.xml"), filepath.Join(work, "report.html")
	start = time.Now()
	out, runErr := labctl("lab", "run", "all", "--output", "json", "--junit", junit, "--html", page)
	t.Logf("TIMING lab run all: %s", time.Since(start).Round(time.Second))
	var res struct {
		Labs           []exercise.Report
		Passed, Failed int
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("lab run --output json: %v\n%s", err, out)
	}
	var text bytes.Buffer
	exercise.WriteText(&text, res.Labs)
	t.Logf("results:\n%s", text.String())
	if runErr != nil || res.Failed != 0 || len(res.Labs) != len(catalog.All()) {
		t.Errorf("lab run all: err=%v, %d passed, %d failed, %d labs", runErr, res.Passed, res.Failed, len(res.Labs))
	}
	for _, r := range res.Labs {
		for _, c := range r.Checks {
			if len(c.Evidence) == 0 || c.Evidence[0].Command == "" {
				t.Errorf("%s: %q has no evidence", r.Lab, c.Check)
			}
		}
	}
	// During the overlay lab the manager listed every node Ready.
	sawSwarm := false
	for _, r := range res.Labs {
		for _, c := range r.Checks {
			if r.Lab == "overlay" && strings.HasPrefix(c.Check, "the swarm has every node Ready") {
				sawSwarm = c.Passed && strings.Count(c.Evidence[0].Output, " ready ") == 3
				t.Logf("docker node ls during the overlay lab:\n%s", c.Evidence[0].Output)
			}
		}
	}
	if !sawSwarm {
		t.Error("the overlay lab did not show 3 Ready nodes")
	}
	if x, err := os.ReadFile(junit); err != nil || !bytes.Contains(x, []byte(`<testsuites tests="`)) {
		t.Errorf("JUnit file: %v", err)
	}
	// The run's HTML report in headless Chromium: every check of every
	// lab, the summary and the picture.
	dom, png := testenv.RenderInChromium(t, page)
	htmlText := strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(dom, " ")), " ")
	if !strings.Contains(htmlText, fmt.Sprintf("%d passed, 0 failed", res.Passed)) || !strings.Contains(htmlText, "milk pings bread by IP") ||
		strings.Count(dom, `class="check"`) != res.Passed+res.Failed || !strings.Contains(dom, "<svg") || len(png) < 1000 {
		t.Errorf("the HTML report in Chromium: %d checks of %d, text %.300q", strings.Count(dom, `class="check"`), res.Passed+res.Failed, htmlText)
	}

	// The nodes are as the labs found them.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lp := plantest.New(t, labsLab, string(data))
	k := keys.Lab{Dir: c.LabDir(), Lab: labsLab}
	host := exercise.LocalHost{Dial: env.Dial, Wrap: []string{"ip", "netns", "exec", env.NS}}
	lenv, closeEnv, err := exercise.Connect(ctx, lp, k, host)
	if err != nil {
		t.Fatal(err)
	}
	defer closeEnv()
	for name, n := range lenv.Nodes {
		cs, err := n.Docker().ContainerList(ctx, container.ListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 0 {
			t.Errorf("%s: %d containers left", name, len(cs))
		}
		ns, err := n.Docker().NetworkList(ctx, network.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, nw := range ns {
			if nw.Name != "bridge" && nw.Name != "host" && nw.Name != "none" {
				t.Errorf("%s: network %s left", name, nw.Name)
			}
		}
		o, _ := n.Sh(ctx, "ip -4 -o addr show dev ens33.20; ip -4 -o addr show dev ens33.30; sudo iptables -S DOCKER-USER")
		if strings.Contains(o.Stdout, "inet ") || strings.Contains(o.Stdout, "-j ACCEPT") || strings.Contains(o.Stdout, "192.168.94") {
			t.Errorf("%s: lab changes left on the node:\n%s", name, o.Stdout)
		}
	}
	if o, _ := host.Sh(ctx, "ip route show 192.168.94.0/24; iptables -S FORWARD | grep 192.168.94; iptables -t nat -S POSTROUTING | grep 192.168.94"); strings.TrimSpace(o.Stdout) != "" {
		t.Errorf("host route or rules left: %s", o.Stdout)
	}

	// The overlay lab left the swarm on every node.
	for _, ns := range overlay.SwarmStatus(ctx, lenv) {
		if ns.State != "inactive" {
			t.Errorf("%s: swarm %s after the overlay lab", ns.Node, ns.State)
		}
	}
	out, err = labctl("swarm", "status", "--output", "json")
	if err != nil || strings.Count(out, `"state": "inactive"`) != 3 {
		t.Errorf("swarm status after the lab (err=%v):\n%s", err, out)
	}

	studentChecks(t, ctx, c)
	typedInstructions(t, ctx, c, lp, "bridge")
	seeIt(t, ctx, c, env, lp, work)
	tunnelsCarryVLANs(t, ctx, env, hv2, lenv, lp, work)

	// The labs on hosts labctl did not create, as far as the run can
	// tell: another lab name (no keys, no VMs of its own), the nodes
	// reached only through an inventory. Host keys are trusted on first
	// use, then pinned; a changed key is refused.
	var inv strings.Builder
	fmt.Fprintf(&inv, "user: lab\nkey: %s\nhosts:\n", filepath.Join(c.LabDir(), "id_ed25519"))
	for _, n := range lp.Nodes {
		fmt.Fprintf(&inv, "  - name: %s\n    address: %s\n", n.Name, strings.Split(n.NIC(plan.RoleHostOnly).Address, "/")[0])
	}
	invFile := filepath.Join(work, "hosts.yaml")
	os.WriteFile(invFile, []byte(inv.String()), 0o644)
	ci := *c
	ci.Lab = "itest-inventory"
	invOut, stderr, err := ci.Run(ctx, "--inventory", invFile, "lab", "run", "ipvlan-l2")
	if err != nil || strings.Count(stderr, "first contact, trusting host key SHA256:") != len(lp.Nodes) || !strings.Contains(invOut, " passed, 0 failed") {
		t.Errorf("labs through the inventory: %v\n%s\n%s", err, testlab.LastLines(invOut, 40), stderr)
	}
	if out, stderr, err := ci.Run(ctx, "--inventory", invFile, "hosts", "check"); err != nil || strings.Contains(stderr, "first contact") || strings.Count(out, "20.10") != len(lp.Nodes) {
		t.Errorf("hosts check with pinned keys: %v\n%s%s", err, out, stderr)
	}
	kh := filepath.Join(ci.LabDir(), "inventory_known_hosts")
	pins, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	// node1's pin becomes node2's key: node1 now "offers another key".
	pinLines := strings.Split(strings.TrimSpace(string(pins)), "\n")
	keyOf := map[string]string{}
	for _, l := range pinLines {
		f := strings.SplitN(l, " ", 2)
		keyOf[f[0]] = f[1]
	}
	os.WriteFile(kh, []byte("node1 "+keyOf["node2"]+"\nnode2 "+keyOf["node2"]+"\nnode3 "+keyOf["node3"]+"\n"), 0o600)
	if _, stderr, err := ci.Run(ctx, "--inventory", invFile, "lab", "run", "bridge"); err == nil || !strings.Contains(stderr, "node1") || !strings.Contains(stderr, "host key mismatch") {
		t.Errorf("a changed host key was not refused: %v\n%s", err, stderr)
	}

	// A wrong expectation fails the run: the none lab with "milk cannot
	// reach outside" turned into "milk reaches outside".
	l, _ := catalog.Lookup("none")
	for i := range l.Checks {
		if l.Checks[i].Expect == exercise.ExpectFailure {
			l.Checks[i].Expect = exercise.ExpectSuccess
		}
	}
	rep := exercise.RunLab(ctx, lenv, l, exercise.Options{})
	if rep.Passed {
		t.Errorf("a wrong expectation passed: %+v", rep)
	}
	closeEnv()

	vmDestroyedDuringLab(t, ctx, c, lp)

	// down without the lab's state (lost, or another machine): the
	// topology file names the hypervisors, names and metadata find the
	// rest on both. The clean-up then checks that nothing is left.
	if err := os.Remove(filepath.Join(c.LabDir(), "state.json")); err != nil {
		t.Fatal(err)
	}
	if out, err := labctl("down"); err != nil || !strings.Contains(out, "removed 3 domains") || !strings.Contains(out, "4 tunnel devices") {
		t.Errorf("down without state (err=%v): %s", err, out)
	}
}

// vmDestroyedDuringLab is a fault: node2, the VLAN router of the
// macvlan-8021q lab, is destroyed (power cut) once the lab has begun. The
// lab must fail with evidence naming node2, teardown must still clean
// node1, `up` must bring node2 back, and the lab must then pass.
func vmDestroyedDuringLab(t *testing.T, ctx context.Context, c *testlab.CLI, lp *plan.Plan) {
	const lab = "macvlan-8021q"
	victim := lp.Nodes[1]
	start := time.Now()
	cmd := c.Cmd(ctx, "lab", "run", lab, "-v")
	var stdout, stderr testenv.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(stderr.String(), "create macvlan20") && time.Since(start) < 3*time.Minute {
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := testlab.Virsh("destroy", victim.Domain); err != nil {
		t.Fatalf("virsh destroy %s: %v: %s", victim.Domain, err, out)
	}
	destroyed := time.Now()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var runErr error
	select {
	case runErr = <-waited:
	case <-time.After(8 * time.Minute):
		// A hang: Go prints every goroutine's stack on SIGQUIT.
		cmd.Process.Signal(syscall.SIGQUIT)
		<-waited
		t.Fatalf("lab run went on for 8 minutes after %s was destroyed; its goroutines:\n%s", victim.Name, testlab.LastLines(stderr.String(), 400))
	}
	t.Logf("FAULT %s destroyed %s into `lab run %s`; the run ended %s later (err=%v):\n%s\n%s",
		victim.Name, destroyed.Sub(start).Round(time.Second), lab, time.Since(destroyed).Round(time.Second), runErr,
		testlab.FailuresExpected(testlab.LastLines(stdout.String(), 30)), testlab.LastLines(stderr.String(), 15))
	out := stdout.String()
	if runErr == nil || !strings.Contains(out, "FAIL") {
		t.Errorf("the lab did not fail with a node destroyed")
	}
	if !strings.Contains(out, victim.Name+": the SSH connection was lost") {
		t.Errorf("the report does not name %s and the lost connection", victim.Name)
	}
	if d := time.Since(destroyed); d > 5*time.Minute {
		t.Errorf("the run took %s to end after the node was destroyed", d)
	}
	// Teardown still ran on node1: nothing of the lab is left there.
	left, _, err := c.Run(ctx, "exec", lp.Nodes[0].Name, "--", "docker ps -aq; docker network ls -q --filter driver=macvlan")
	if err != nil || strings.TrimSpace(left) != "" {
		t.Errorf("%s after the failed lab (err=%v): %q left", lp.Nodes[0].Name, err, left)
	}
	// `up` brings the node back; the lab passes again, typed by hand from
	// 'lab explain' this time (node2 routing between the VLANs again).
	start = time.Now()
	if _, _, err := c.Run(ctx, "up"); err != nil {
		t.Fatalf("up after %s was destroyed: %v", victim.Name, err)
	}
	t.Logf("FAULT up brought %s back in %s", victim.Name, time.Since(start).Round(time.Second))
	typedInstructions(t, ctx, c, lp, lab)
}

// studentChecks is check-only mode as a student meets it when a name is
// wrong: the tutorial's commands for the user-defined bridge typed over
// SSH with the network misspelt, then 'labctl lab check user-bridge'
// fails with the hint and removes nothing. (The same lab typed right, and
// checked, is typedInstructions's.)
func studentChecks(t *testing.T, ctx context.Context, c *testlab.CLI) {
	node := "node1"
	ssh := func(cmd string) {
		t.Helper()
		if out, stderr, err := c.Run(ctx, "ssh", node, cmd); err != nil {
			t.Fatalf("ssh %s %q: %v\n%s%s", node, cmd, err, out, stderr)
		}
	}
	ssh("docker network create greatwal" +
		" && docker run -itd --rm --network greatwal --name beijing busybox" +
		" && docker run -itd --rm --network greatwal --name shenzhen busybox" +
		" && docker run -itd --rm --name milk busybox")
	left := func() string {
		out, _, _ := c.Run(ctx, "ssh", node, "docker ps --format '{{.Names}}' | sort | tr '\\n' ' '; docker network ls --format '{{.Name}}' | grep great")
		return strings.TrimSpace(out)
	}
	before := left()
	start := time.Now()
	out, _, err := c.Run(ctx, "lab", "check", "user-bridge")
	t.Logf("TIMING lab check user-bridge, the network misspelt: %s\n%s", time.Since(start).Round(time.Second), testlab.FailuresExpected(out))
	if err == nil || !strings.Contains(out, "hint: there is no network greatwall: docker network create greatwall") {
		t.Errorf("lab check on a misspelt network: %v, and no hint", err)
	}
	if after := left(); after != before || !strings.Contains(after, "beijing milk shenzhen") || !strings.Contains(after, "greatwal") {
		t.Errorf("lab check changed what the student made: before %q, after %q", before, after)
	}
	ssh("docker rm -f beijing shenzhen milk >/dev/null && docker network rm greatwal >/dev/null")
}

// seeIt is what the lab looks like: the live picture, a capture (text and
// pcap), and an impaired link in ping's round trip.
func seeIt(t *testing.T, ctx context.Context, c *testlab.CLI, env *testlab.Env, lp *plan.Plan, work string) {
	// graph --live --format svg: every network, VLAN and interface.
	svg, _, err := c.Run(ctx, "graph", "--live", "--format", "svg")
	if err != nil {
		t.Errorf("graph --live --format svg: %v", err)
	}
	// The graph's stable node IDs (its SVG <title>s): every network, VLAN
	// and interface of the plan.
	var ids []string
	for _, n := range lp.Networks {
		ids = append(ids, "net:"+n.Role)
	}
	for _, v := range lp.VLANs {
		ids = append(ids, fmt.Sprintf("vlan:%d", v.ID))
	}
	for _, n := range lp.Nodes {
		for _, nic := range n.NICs {
			ids = append(ids, "nic:"+n.Name+":"+nic.Guest)
		}
		for _, v := range n.VLANs {
			ids = append(ids, "nic:"+n.Name+":"+v.Name)
		}
	}
	for _, id := range ids {
		if !strings.Contains(svg, "<title>"+id+"</title>") {
			t.Errorf("the live SVG has no %s", id)
		}
	}
	if !strings.Contains(svg, "docker bridge (bridge)") {
		t.Error("the live SVG shows no Docker network")
	}

	// capture: 5 packets as text, and as pcap on stdout that tcpdump reads.
	n1 := lp.Nodes[0]
	ho := n1.NIC(plan.RoleHostOnly).Guest
	out, stderr, err := c.Run(ctx, "capture", n1.Name, ho, "--filter", "tcp port 22", "--count", "5")
	if err != nil || strings.Count(strings.TrimSpace(out), "\n") != 4 || !strings.Contains(out, n1.NIC(plan.RoleHostOnly).MAC) {
		t.Errorf("capture --count 5 (err=%v):\n%s\n%s", err, out, stderr)
	}
	pcap, _, err := c.Run(ctx, "capture", n1.Name, ho, "--filter", "tcp port 22", "--count", "5", "-w", "-")
	if err != nil || !strings.HasPrefix(pcap, "\xd4\xc3\xb2\xa1") {
		t.Errorf("capture -w - gave no pcap (err=%v, %d bytes)", err, len(pcap))
	}
	pf := filepath.Join(work, "c.pcap")
	os.WriteFile(pf, []byte(pcap), 0o644)
	if o, err := exec.Command("tcpdump", "-Z", "root", "-nn", "-r", pf).CombinedOutput(); err != nil || strings.Count(string(o), " IP ") != 5 {
		t.Errorf("tcpdump -r of the capture (err=%v):\n%s", err, o)
	}

	// impair: 100 ms on node1's host-only NIC shows in the host's ping.
	addr := n1.Addr(plan.RoleHostOnly)
	rtt := func() float64 {
		o, err := env.Command(ctx, "ping", "-c", "5", "-i", "0.3", "-q", addr).CombinedOutput()
		m := regexp.MustCompile(`= [0-9.]+/([0-9.]+)/`).FindStringSubmatch(string(o))
		if err != nil || m == nil {
			t.Fatalf("ping %s: %v\n%s", addr, err, o)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	before := rtt()
	if _, stderr, err := c.Run(ctx, "impair", n1.Name, ho, "--delay", "100ms"); err != nil {
		t.Fatalf("impair: %v\n%s", err, stderr)
	}
	during := rtt()
	st, _, _ := c.Run(ctx, "status")
	_, warn, _ := c.Run(ctx, "lab", "run", "none")
	if _, stderr, err := c.Run(ctx, "impair", n1.Name, ho, "--clear"); err != nil {
		t.Fatalf("impair --clear: %v\n%s", err, stderr)
	}
	after := rtt()
	t.Logf("TIMING ping rtt to %s: %.1f ms, impaired 100ms: %.1f ms, cleared: %.1f ms", n1.Name, before, during, after)
	if during-before < 90 || after-before > 50 {
		t.Errorf("impair: rtt %.1f ms before, %.1f with 100ms delay, %.1f after --clear", before, during, after)
	}
	if !strings.Contains(st, "impaired "+n1.Name+"/"+ho+": delay 100ms") || !strings.Contains(warn, "warning: impaired "+n1.Name+"/"+ho) {
		t.Errorf("status or lab run did not say the link is impaired:\n%s\n%s", st, warn)
	}

}

// typedInstructions types, for each of the labs, the commands 'lab explain
// -o json' gives - each on its node, verbatim - and then 'lab check'
// passes and leaves the student's containers and networks as they were;
// before anything is typed the first lab's check fails. Two labs are
// typed: bridge (containers on docker0, and a check that needs one of
// their names), and macvlan-8021q after node2 was destroyed and brought
// back (VLAN sub-interfaces, node2 routing between them). The other labs
// are the same kinds of step in other combinations, every lab's commands
// are checked against a seat's values without VMs (catalog's
// TestBuiltinCommandsUseTheSeatsValues), and the workshop test types the
// none lab from the student's page; each typed lab costs about two
// minutes of emulated CPU.
func typedInstructions(t *testing.T, ctx context.Context, c *testlab.CLI, lp *plan.Plan, labs ...string) {
	clean := func() {
		for _, n := range lp.Nodes {
			c.Run(ctx, "exec", n.Name, "--", "docker rm -f $(docker ps -aq) >/dev/null 2>&1; docker network prune -f >/dev/null")
		}
	}
	clean()
	if out, _, err := c.Run(ctx, "lab", "check", labs[0]); err == nil || strings.Contains(out, " 0 failed") {
		t.Errorf("lab check %s passed on nodes where nothing was typed:\n%s", labs[0], out)
	}
	for _, name := range labs {
		out, _, err := c.Run(ctx, "lab", "explain", name, "-o", "json")
		var e struct {
			Steps []struct{ On, Run string } `json:"steps"`
		}
		if err != nil || json.Unmarshal([]byte(out), &e) != nil || len(e.Steps) == 0 {
			t.Errorf("lab explain %s -o json (err=%v):\n%s", name, err, out)
			continue
		}
		start := time.Now()
		var typedOn []string
		// Typed as they come, one SSH session per run of steps on the
		// same node (each stops at its first failure, as a person would).
		for i := 0; i < len(e.Steps); {
			on := e.Steps[i].On
			var cmds []string
			for ; i < len(e.Steps) && e.Steps[i].On == on; i++ {
				cmds = append(cmds, e.Steps[i].Run)
			}
			if on == "host" {
				t.Errorf("%s: steps on the host: %q", name, cmds)
				continue
			}
			if !slices.Contains(typedOn, on) {
				typedOn = append(typedOn, on)
			}
			if out, stderr, err := c.Run(ctx, "exec", on, "--", strings.Join(cmds, " && ")); err != nil {
				t.Errorf("%s: typing %q on %s: %v\n%s%s", name, cmds, on, err, out, stderr)
			}
		}
		made := func() string {
			var b strings.Builder
			for _, on := range typedOn {
				o, _, _ := c.Run(ctx, "exec", on, "--", "docker ps -a --format '{{.Names}} {{.Status}}' | sed 's/ (.*//; s/ Up .*/ Up/' | sort; docker network ls --format '{{.Name}}' | sort")
				fmt.Fprintf(&b, "%s:\n%s", on, o)
			}
			return b.String()
		}
		before := made()
		out, _, err = c.Run(ctx, "lab", "check", name)
		t.Logf("TIMING %s typed (%d commands) and checked: %s", name, len(e.Steps), time.Since(start).Round(time.Second))
		if err != nil || !strings.Contains(out, " passed, 0 failed") {
			t.Errorf("lab check %s after typing its explained steps (err=%v):\n%s", name, err, out)
		}
		if after := made(); after != before || !strings.Contains(before, " Up\n") {
			t.Errorf("lab check %s changed what the student made:\nbefore:\n%s\nafter:\n%s", name, before, after)
		}
		clean()
	}
}
