package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/exercise/exercisetest"
	"github.com/labctl/labctl/hypervisor"
	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/internal/golden"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/labtest"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/workshop"
	"golang.org/x/crypto/ssh"
)

// A lab over two in-memory hypervisors: its topology file, and a run of
// labctl against them.
type memLab struct {
	t    *testing.T
	lab  string
	file string
	hvs  *labtest.Hypervisors
	// nodes, when set, are the labs' nodes (in memory) instead of SSH.
	nodes func(*plan.Plan) *exercise.Env
	// jumps are the workshops' jump hosts opened, by hypervisor.
	jumps map[string]hypervisor.JumpHost
}

// memJumpHost is a hypervisor's jump host in memory: it records what it
// was asked to open.
type memJumpHost struct {
	m  *memLab
	hv string
}

func (j memJumpHost) OpenJump(ctx context.Context, d hypervisor.JumpHost) (ssh.PublicKey, error) {
	j.m.jumps[j.hv] = d
	k, err := keys.Generate("jump")
	if err != nil {
		return nil, err
	}
	sg, err := k.Signer()
	if err != nil {
		return nil, err
	}
	return sg.PublicKey(), nil
}

func (j memJumpHost) CloseJump(ctx context.Context, workshop string) (string, error) {
	delete(j.m.jumps, j.hv)
	return "", nil
}

func (memJumpHost) Close() error { return nil }

func newMemLab(t *testing.T) *memLab {
	t.Helper()
	return newMemLabOf(t, "mem", labtest.TwoHypervisors)
}

// newMemLabOf is lab (or workshop) name from topology on in-memory
// hypervisors.
func newMemLabOf(t *testing.T, name, topology string) *memLab {
	t.Helper()
	file := labtest.Setup(t, topology)
	t.Setenv("LABCTL_LAB", "")
	return &memLab{t: t, lab: name, file: file, hvs: labtest.New(), jumps: map[string]hypervisor.JumpHost{}}
}

// run is labctl with args against m's hypervisors: stdout, stderr and
// the exit status.
func (m *memLab) run(args ...string) (string, string, int) {
	m.t.Helper()
	g := &globals{openHypervisor: func(ctx context.Context, hv plan.Hypervisor) (lab.Hypervisor, error) {
		h, err := m.hvs.Open(ctx, hv)
		if err != nil {
			return nil, err
		}
		return h, nil
	}, openJumpHost: func(ctx context.Context, hv plan.Hypervisor) (workshop.JumpHoster, error) {
		return memJumpHost{m: m, hv: hv.Name}, nil
	}}
	if m.nodes != nil {
		g.connectNodes = func(ctx context.Context, p *plan.Plan) (*exercise.Env, func(), error) {
			return m.nodes(p), func() {}, nil
		}
	}
	return runWith(m.t, g, append([]string{"--lab", m.lab, "-f", m.file}, args...)...)
}

var times = regexp.MustCompile(`"(created_at|updated_at|started|created)": ?"[^"]*"|"(duration_ns|seconds)": ?[0-9.e+-]+`)

// zeroTimes is a JSON output with its times, which differ each run,
// zeroed, and the topology file's path named LABFILE.
func zeroTimes(s, file string) []byte {
	s = strings.ReplaceAll(s, file, "LABFILE")
	return []byte(times.ReplaceAllStringFunc(s, func(f string) string {
		k := f[:strings.Index(f, ":")]
		if strings.HasSuffix(k, `_ns"`) || k == `"seconds"` {
			return k + ": 0"
		}
		return k + `: "TIME"`
	}))
}

// The JSON documents of a lab's life - its images, up, status, a lab
// checked and run, the swarm's status, an inventory's hosts checked,
// down - over two in-memory
// hypervisors and in-memory nodes, kept as golden files: the fields a program reads
// (the version first, the nodes with their hypervisors, MACs and
// addresses) stay as they are. Times, which differ each run, are zeroed.
func TestJSONOutputsOfALab(t *testing.T) {
	m := newMemLab(t)
	zero := func(s string) []byte { return zeroTimes(s, m.file) }
	// The image cache the lab comes from: one VM image.
	out, stderr, code := m.run("image", "ls", "-o", "json")
	if code != 0 || !strings.HasPrefix(out, "{\n  \"version\": 1,\n") || !strings.Contains(out, `"name": "debian-12"`) {
		t.Fatalf("image ls -o json: exit %d\n%s%s", code, out, stderr)
	}
	golden.Check(t, "testdata/json-image-ls.json", zero(out))

	// A pull from a server on loopback, verified by the digest given.
	disk := []byte("a disk image of a few bytes")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(disk) }))
	defer srv.Close()
	url := srv.URL + "/disk.qcow2"
	out, stderr, code = m.run("image", "pull", fmt.Sprintf("%s#sha256:%x", url, sha256.Sum256(disk)), "-o", "json")
	if code != 0 || !strings.HasPrefix(out, "{\n  \"version\": 1,\n") {
		t.Fatalf("image pull -o json: exit %d\n%s%s", code, out, stderr)
	}
	pulled := regexp.MustCompile(`url-[0-9a-f]{12}`).ReplaceAllString(strings.ReplaceAll(out, url, "URL"), "url-NAME")
	golden.Check(t, "testdata/json-image-pull.json", zero(pulled))

	// A build that is a cache hit: the recipe's inputs did not change.
	c, err := images.OpenCache(os.Getenv("LABCTL_CACHE_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := images.LookupRecipe("busybox")
	src := filepath.Join(t.TempDir(), "busybox.tar")
	os.WriteFile(src, []byte("an image archive"), 0o644)
	f, err := c.AddFile(src, "containers/busybox.tar", "archive")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(images.Entry{Name: "busybox", Kind: images.KindContainerImage, Files: []images.File{f}, InputHash: r.InputHash(images.DefaultMirror)}); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = m.run("image", "build", "busybox", "-o", "json")
	if code != 0 || !strings.HasPrefix(out, "{\n  \"version\": 1,\n") || !strings.Contains(stderr, "busybox: up to date (cache hit") {
		t.Fatalf("image build -o json: exit %d\n%s%s", code, out, stderr)
	}
	golden.Check(t, "testdata/json-image-build.json", zero(out))

	out, stderr, code = m.run("up", "--no-provision", "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) < 2 {
		t.Fatalf("up -o json: exit %d\n%s%s", code, out, stderr)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, `{"version":1,"type":"event","time":"`) {
			t.Errorf("up -o json: not a versioned event line: %q", l)
		}
	}
	golden.Check(t, "testdata/json-up.json", append(zero(lines[len(lines)-1]), '\n'))
	if d1, d2 := m.hvs.Get("hv1").Domains(), m.hvs.Get("hv2").Domains(); len(d1) != 1 || len(d2) != 1 {
		t.Fatalf("after up: hv1 runs %v, hv2 %v", d1, d2)
	}

	out, stderr, code = m.run("status", "-o", "json")
	if code != 0 || !strings.HasPrefix(out, "{\n  \"version\": 1,\n") {
		t.Fatalf("status -o json: exit %d\n%s%s", code, out, stderr)
	}
	golden.Check(t, "testdata/json-status.json", zero(out))

	// The none lab on in-memory nodes whose containers answer as a
	// container without a network does: checked before anything is there
	// (failing, with the hint), then run (passing, with evidence).
	m.nodes = noneLabNodes
	out, stderr, code = m.run("lab", "check", "none", "-o", "json")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || !strings.Contains(lines[len(lines)-1], `"hint":`) {
		t.Fatalf("lab check none -o json: exit %d, want 1 with the hint\n%s%s", code, out, stderr)
	}
	golden.Check(t, "testdata/json-lab-check.json", append(zero(lines[len(lines)-1]), '\n'))
	out, stderr, code = m.run("lab", "run", "none", "-o", "json")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 {
		t.Fatalf("lab run none -o json: exit %d\n%s%s", code, out, stderr)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, `{"version":1,"type":"event","time":"`) {
			t.Errorf("lab run -o json: not a versioned event line: %q", l)
		}
	}
	golden.Check(t, "testdata/json-lab-run.json", append(zero(lines[len(lines)-1]), '\n'))

	// A swarm of labctl's on the in-memory nodes: node1 its manager
	// (the overlay lab's marker on it), node2 a worker that knows it.
	m.nodes = swarmNodes
	out, stderr, code = m.run("swarm", "status", "-o", "json")
	if code != 0 || !strings.HasPrefix(out, "{\n  \"version\": 1,\n") || strings.Count(out, `"created_by_labctl": true`) != 2 {
		t.Fatalf("swarm status -o json: exit %d\n%s%s", code, out, stderr)
	}
	golden.Check(t, "testdata/json-swarm-status.json", zero(out))

	// hosts check of an inventory's hosts (in memory): node1 has what the
	// labs need, node2 lacks its VLAN 30 sub-interface.
	invDir := t.TempDir()
	key, err := keys.Generate("inventory")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(invDir, "id"), key.PrivatePEM, 0o600)
	inv := filepath.Join(invDir, "hosts.yaml")
	os.WriteFile(inv, []byte("user: lab\nkey: id\nhosts:\n  - {name: node1, address: 192.0.2.11}\n  - {name: node2, address: 192.0.2.12, nics: {nat: eth0, hostonly: eth1}}\n"), 0o644)
	m.nodes = func(p *plan.Plan) *exercise.Env {
		env := swarmNodes(p)
		env.Nodes["node2"].(*exercisetest.Node).Answer = func(cmd string) exercise.Output {
			if strings.Contains(cmd, "eth0.30") {
				return exercise.Output{Exit: 1}
			}
			return exercise.Output{}
		}
		return env
	}
	out, stderr, code = m.run("--inventory", inv, "hosts", "check", "-o", "json")
	if code != 1 || !strings.Contains(out, `"missing": "eth0.30"`) || !strings.Contains(stderr, "some hosts are not ready") {
		t.Fatalf("hosts check -o json, node2 without eth0.30: exit %d\n%s%s", code, out, stderr)
	}
	golden.Check(t, "testdata/json-hosts-check.json", zero(out))
	m.nodes = nil

	out, stderr, code = m.run("down", "-o", "json")
	if code != 0 || !strings.HasPrefix(out, "{\n  \"version\": 1,\n") {
		t.Fatalf("down -o json: exit %d\n%s%s", code, out, stderr)
	}
	golden.Check(t, "testdata/json-down.json", zero(out))
	if d1, d2 := m.hvs.Get("hv1").Domains(), m.hvs.Get("hv2").Domains(); len(d1)+len(d2) != 0 {
		t.Errorf("after down: hv1 runs %v, hv2 %v", d1, d2)
	}

	// hv2 unreachable (the refusal as package hypervisor words it): status
	// fails, naming it, and prints no JSON a
	// program would take for the lab's nodes.
	m.run("up", "--no-provision")
	m.hvs.Refuse["hv2"] = errors.New("hypervisor hv2: dial tcp 198.51.100.2:22: connect: no route to host")
	out, stderr, code = m.run("status", "-o", "json")
	if code == 0 || !strings.Contains(stderr, "hv2") || strings.Contains(out, `"nodes"`) {
		t.Errorf("status -o json with hv2 unreachable: exit %d\n%s%s", code, out, stderr)
	}
	delete(m.hvs.Refuse, "hv2")
	m.run("down")
}

// noneLabNodes are p's nodes in memory, their containers answering as
// busybox with --network none does: ip -o link shows lo alone, a ping
// gets no answer.
func noneLabNodes(p *plan.Plan) *exercise.Env {
	env := &exercise.Env{Plan: p, Nodes: map[string]exercise.Node{}, Host: &exercisetest.Host{}}
	for _, n := range p.Nodes {
		d := exercisetest.NewDocker()
		d.Exec = func(ctr string, argv []string) exercise.Output {
			switch argv[0] {
			case "ip":
				return exercise.Output{Stdout: "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"}
			case "ping":
				return exercise.Output{Stdout: "PING 9.9.9.9 (9.9.9.9): 56 data bytes\n", Stderr: "ping: sendto: Network unreachable\n", Exit: 1}
			}
			return exercise.Output{Exit: 127, Stderr: argv[0] + ": not found\n"}
		}
		env.Nodes[n.Name] = &exercisetest.Node{ID: n.Name, D: d}
	}
	return env
}

// swarmNodes are p's nodes in memory in one swarm that labctl's overlay
// lab made: the first node its manager (and leader), the others workers
// that know it.
func swarmNodes(p *plan.Plan) *exercise.Env {
	env := &exercise.Env{Plan: p, Nodes: map[string]exercise.Node{}, Host: &exercisetest.Host{}}
	mgr := p.Nodes[0].Addr(plan.RoleHostOnly)
	var members []swarm.Node
	for i, n := range p.Nodes {
		role := swarm.NodeRoleWorker
		var ms *swarm.ManagerStatus
		if i == 0 {
			role, ms = swarm.NodeRoleManager, &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable, Addr: mgr + ":2377"}
		}
		members = append(members, swarm.Node{
			Spec:          swarm.NodeSpec{Role: role, Availability: swarm.NodeAvailabilityActive},
			Description:   swarm.NodeDescription{Hostname: n.Name},
			Status:        swarm.NodeStatus{State: swarm.NodeStateReady, Addr: n.Addr(plan.RoleHostOnly)},
			ManagerStatus: ms,
		})
	}
	for i, n := range p.Nodes {
		d := exercisetest.NewDocker()
		d.SwarmAPI = &memSwarm{manager: i == 0, lab: p.Lab, info: system.Info{ServerVersion: "20.10.24+dfsg1", Swarm: swarm.Info{
			LocalNodeState: swarm.LocalNodeStateActive, NodeAddr: n.Addr(plan.RoleHostOnly), ControlAvailable: i == 0,
			RemoteManagers: []swarm.Peer{{NodeID: "m1", Addr: mgr + ":2377"}},
		}}, members: members}
		node := &exercisetest.Node{ID: n.Name, D: d}
		if i == 0 {
			lab := p.Lab
			node.Answer = func(cmd string) exercise.Output { return exercise.Output{Stdout: lab + "\n"} }
		}
		env.Nodes[n.Name] = node
	}
	return env
}

// memSwarm is the part of a node's Docker API that swarm status asks.
type memSwarm struct {
	exercise.SwarmAPI // anything else: nil, a test that needs it fails loudly
	manager           bool
	lab               string
	info              system.Info
	members           []swarm.Node
}

func (s *memSwarm) Info(ctx context.Context) (system.Info, error) { return s.info, nil }

func (s *memSwarm) SwarmInspect(ctx context.Context) (swarm.Swarm, error) {
	if !s.manager {
		return swarm.Swarm{}, errors.New("this node is not a swarm manager")
	}
	return swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "cluster1", Spec: swarm.Spec{Annotations: swarm.Annotations{Labels: map[string]string{exercise.Label: s.lab}}}}}, nil
}

func (s *memSwarm) NodeList(ctx context.Context, o swarm.NodeListOptions) ([]swarm.Node, error) {
	if !s.manager {
		return nil, errors.New("this node is not a swarm manager")
	}
	return s.members, nil
}

// The JSON documents of a workshop of two one-node seats on an in-memory
// hypervisor, kept as golden files: its status (seat 2's node not
// answering Docker, so exit 1) and a check of the none lab on every seat
// (seat 1's passing, seat 2's failing).
func TestJSONOutputsOfAWorkshop(t *testing.T) {
	m := newMemLabOf(t, "ws", `image: debian-12
hypervisors:
  - {name: hv1, uri: "qemu+ssh://root@hv1.test/system", address: 198.51.100.1, cpus: 8, memory: 16GiB}
nodes:
  - name: node1
`)
	if out, stderr, code := m.run("workshop", "up", "--seats", "2", "--no-provision"); code != 0 {
		t.Fatalf("workshop up --no-provision: exit %d\n%s%s", code, out, stderr)
	}
	if j := m.jumps["hv1"]; len(j.Seats) != 2 || j.Workshop != "ws" {
		t.Errorf("the jump host on hv1: %+v, want the workshop's 2 seats", j)
	}
	// Seat 2's node does not answer Docker; on seat 1's the none lab
	// passes, on seat 2's its container has a network.
	m.nodes = func(p *plan.Plan) *exercise.Env {
		env := noneLabNodes(p)
		for _, n := range env.Nodes {
			n := n.(*exercisetest.Node)
			n.Answer = func(cmd string) exercise.Output {
				if p.Lab == "ws-s02" {
					return exercise.Output{Exit: 1, Stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"}
				}
				return exercise.Output{Stdout: "20.10.24+dfsg1\n"}
			}
			if p.Lab == "ws-s02" {
				exec := n.D.Exec
				n.D.Exec = func(ctr string, argv []string) exercise.Output {
					if argv[0] == "ip" {
						return exercise.Output{Stdout: "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536\n2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500\n"}
					}
					return exec(ctr, argv)
				}
			}
		}
		return env
	}
	out, stderr, code := m.run("workshop", "status", "-o", "json")
	if code != 1 || !strings.HasPrefix(out, "{\n  \"version\": 1,\n") || !strings.Contains(stderr, "not ready") {
		t.Fatalf("workshop status -o json, seat 2 without Docker: exit %d\n%s%s", code, out, stderr)
	}
	golden.Check(t, "testdata/json-workshop-status.json", []byte(out))
	// Progress events, one line each, then the result, one line too.
	out, stderr, code = m.run("workshop", "check", "none", "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || !strings.HasPrefix(lines[len(lines)-1], `{"version":1,"type":"result","columns":[`) || !strings.Contains(out, `"passed":false`) {
		t.Fatalf("workshop check none -o json, seat 2's container with a network: exit %d\n%s%s", code, out, stderr)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, `{"version":1,"type":"event","time":"`) {
			t.Errorf("workshop check -o json: not a versioned event line: %q", l)
		}
	}
	golden.Check(t, "testdata/json-workshop-check.json", append(zeroTimes(lines[len(lines)-1], m.file), '\n'))
}
