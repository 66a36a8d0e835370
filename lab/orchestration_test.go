package lab

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/lab/labtest"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/state"
	"github.com/labctl/labctl/topology"
)

// twoHypervisors is a lab of two nodes, node1 on hv1 (the gateway) and
// node2 on hv2, both reached over SSH, in a state and cache directory of
// the test's own. down, when set, makes hv2 unreachable.
type twoHypervisors struct {
	*labtest.Hypervisors
	file string
}

func newTwoHypervisors(t *testing.T) *twoHypervisors {
	t.Helper()
	return &twoHypervisors{Hypervisors: labtest.New(), file: labtest.Setup(t, labtest.TwoHypervisors)}
}

// open is w's Open as lab.Options.OpenHypervisor wants it.
func (w *twoHypervisors) open(ctx context.Context, hv plan.Hypervisor) (Hypervisor, error) {
	h, err := w.Open(ctx, hv)
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (w *twoHypervisors) lab(t *testing.T) *Lab {
	t.Helper()
	l, err := Open(Options{Name: "two", File: w.file, Lock: "test", OpenHypervisor: w.open})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// Up brings each node up on its own hypervisor, the networks on both
// (addresses and DHCP only on the gateway), the tunnels on both, the seeds
// from the whole lab; Status names each node's hypervisor; Down removes
// everything from both and the state.
func TestUpAndDownOverTwoHypervisors(t *testing.T) {
	ctx := context.Background()
	w := newTwoHypervisors(t)
	l := w.lab(t)
	if err := l.Up(ctx, UpOptions{NoProvision: true}); err != nil {
		t.Fatal(err)
	}
	hv1, hv2 := w.Get("hv1"), w.Get("hv2")
	if d := hv1.Domains(); len(d) != 1 || d[0] != "labctl-two-node1" {
		t.Errorf("hv1 runs %v, want node1 only", d)
	}
	if d := hv2.Domains(); len(d) != 1 || d[0] != "labctl-two-node2" {
		t.Errorf("hv2 runs %v, want node2 only", d)
	}
	for _, h := range []*labtest.Hypervisor{hv1, hv2} {
		if h.Networks() != 2 || h.Stitched != 1 {
			t.Errorf("%s: %d networks, stitched %d times; want 2 and 1", h.HV.Name, h.Networks(), h.Stitched)
		}
	}
	for name, n := range hv1.LV.Nets {
		if !strings.Contains(n.XML, "<ip ") {
			t.Errorf("hv1 (the gateway): network %s has no address", name)
		}
	}
	for name, n := range hv2.LV.Nets {
		if strings.Contains(n.XML, "<ip ") || strings.Contains(n.XML, "<dhcp") {
			t.Errorf("hv2: network %s carries the gateway's address or DHCP:\n%s", name, n.XML)
		}
	}
	// node2's seed, made on hv2, lists node1 (the whole lab).
	seed := hv2.LV.Pools["labctl"]["labctl_two_node2-seed.iso"]
	n1 := l.Plan.Nodes[0].Addr(plan.RoleHostOnly)
	if !bytes.Contains(seed, []byte(n1+" node1")) {
		t.Errorf("node2's seed lacks node1 (%s)", n1)
	}
	// The ssh config jumps through the gateway, which is remote.
	cfg, err := os.ReadFile(filepath.Join(l.Dir(), "ssh_config"))
	if err != nil || !strings.Contains(string(cfg), "ProxyJump labctl-two-hv1") {
		t.Errorf("ssh config (%v):\n%s", err, cfg)
	}
	st, err := l.Status(ctx)
	if err != nil || len(st) != 2 || st[0].Hypervisor != "hv1" || st[1].Hypervisor != "hv2" || st[0].State != "running" || st[1].State != "running" {
		t.Errorf("status %+v: %v", st, err)
	}

	removed, err := l.Down(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed.Domains) != 2 || len(removed.Tunnels) != 4 {
		t.Errorf("down removed %+v; want 2 domains and 4 tunnel devices", removed)
	}
	for _, h := range []*labtest.Hypervisor{hv1, hv2} {
		if len(h.Domains()) != 0 || h.Networks() != 0 || h.Tunnels {
			t.Errorf("%s after down: domains %v, %d networks, tunnels %v", h.HV.Name, h.Domains(), h.Networks(), h.Tunnels)
		}
	}
	if _, err := os.Stat(filepath.Join(l.Dir(), "state.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state left after down: %v", err)
	}
}

// A hypervisor that fails during up fails it, naming that hypervisor;
// the other carries on, and up again converges.
func TestUpWithAFailingPartCarriesOnAfterwards(t *testing.T) {
	ctx := context.Background()
	w := newTwoHypervisors(t)
	w.Get("hv2").StitchErr = errors.New("VXLAN tunnels: ip: RTNETLINK answers: Operation not permitted")
	l := w.lab(t)
	err := l.Up(ctx, UpOptions{NoProvision: true})
	if err == nil || !strings.Contains(err.Error(), "hypervisor hv2 (qemu+ssh://root@hv2.test/system): VXLAN tunnels") || strings.Contains(err.Error(), "hypervisor hv1") {
		t.Fatalf("up with hv2's tunnels failing: %v", err)
	}
	if d := w.Get("hv1").Domains(); len(d) != 1 {
		t.Errorf("hv1 did not carry on: %v", d)
	}
	if d := w.Get("hv2").Domains(); len(d) != 0 {
		t.Errorf("hv2 made nodes before its tunnels: %v", d)
	}
	w.Get("hv2").StitchErr = nil
	l.Close()
	l = w.lab(t)
	if err := l.Up(ctx, UpOptions{NoProvision: true}); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if d := w.Get("hv2").Domains(); len(d) != 1 {
		t.Errorf("hv2 after up again: %v", d)
	}
}

// An unreachable hypervisor stops up before anything is created on any;
// down does what it can: the reachable one cleaned, the other named with
// what is left there, the state kept; down again once it answers
// finishes.
func TestUnreachableHypervisor(t *testing.T) {
	ctx := context.Background()
	w := newTwoHypervisors(t)
	gone := errors.New("hypervisor hv2: dial tcp: connect: no route to host")
	w.Refuse["hv2"] = gone
	l := w.lab(t)
	err := l.Up(ctx, UpOptions{NoProvision: true})
	if !errors.Is(err, gone) || !strings.Contains(err.Error(), "nothing was created") {
		t.Fatalf("up with hv2 unreachable: %v", err)
	}
	if hv1 := w.Get("hv1"); len(hv1.Domains()) != 0 || hv1.Networks() != 0 || hv1.Stitched != 0 {
		t.Errorf("up created things on hv1 while hv2 was unreachable: %v, %d networks", hv1.Domains(), hv1.Networks())
	}
	l.Close()

	delete(w.Refuse, "hv2")
	l = w.lab(t)
	if err := l.Up(ctx, UpOptions{NoProvision: true}); err != nil {
		t.Fatal(err)
	}
	l.Close()

	w.Refuse["hv2"] = gone
	l = w.lab(t)
	_, err = l.Down(ctx)
	if !errors.Is(err, gone) || !strings.Contains(err.Error(), "left there") {
		t.Fatalf("down with hv2 unreachable: %v", err)
	}
	if hv1 := w.Get("hv1"); len(hv1.Domains()) != 0 || hv1.Networks() != 0 || hv1.Tunnels {
		t.Errorf("hv1 not cleaned: %v", hv1.Domains())
	}
	if d := w.Get("hv2").Domains(); len(d) != 1 {
		t.Errorf("hv2 (unreachable) changed: %v", d)
	}
	if _, err := os.Stat(filepath.Join(l.Dir(), "state.json")); err != nil {
		t.Errorf("state not kept after a partial down: %v", err)
	}
	l.Close()

	delete(w.Refuse, "hv2")
	l = w.lab(t)
	if _, err := l.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if d := w.Get("hv2").Domains(); len(d) != 0 {
		t.Errorf("hv2 after down again: %v", d)
	}
	l.Close()
	for name, h := range w.All() {
		if h.Conns != 0 {
			t.Errorf("%s: %d connections left open", name, h.Conns)
		}
	}
}

// A topology with only libvirt.uri of another machine goes the same way as
// a spread lab: one implicit hypervisor opened through OpenHypervisor, the
// nodes reached through it and the ssh config jumping through it.
func TestLoneRemoteURIIsOneHypervisor(t *testing.T) {
	ctx := context.Background()
	w := newTwoHypervisors(t)
	if err := os.WriteFile(w.file, []byte("libvirt: {uri: \"qemu+ssh://ops@solo.test:2222/system\"}\nnodes: [{name: node1}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var seen []plan.Hypervisor
	l, err := Open(Options{Name: "solo", File: w.file, Lock: "test", OpenHypervisor: func(ctx context.Context, hv plan.Hypervisor) (Hypervisor, error) {
		seen = append(seen, hv)
		return w.open(ctx, hv)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Up(ctx, UpOptions{NoProvision: true}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].Name != "" || seen[0].URI != "qemu+ssh://ops@solo.test:2222/system" || !seen[0].Gateway {
		t.Fatalf("hypervisors opened: %+v", seen)
	}
	if d := w.Get("").Domains(); len(d) != 1 || d[0] != "labctl-solo-node1" {
		t.Errorf("domains %v", d)
	}
	cfg, err := os.ReadFile(filepath.Join(l.Dir(), "ssh_config"))
	for _, want := range []string{"Host labctl-solo-hypervisor", "HostName solo.test", "Port 2222", "User ops", "ProxyJump labctl-solo-hypervisor"} {
		if err != nil || !strings.Contains(string(cfg), want) {
			t.Errorf("ssh config lacks %q (%v):\n%s", want, err, cfg)
		}
	}
	dial, err := l.dial(ctx)
	if err != nil || dial == nil {
		t.Errorf("nodes are not reached through the hypervisor: %v", err)
	}
}

// An isolated lab is isolated on its gateway hypervisor only (the others'
// bridges carry layer 2 and no address), and down takes it away.
func TestIsolatedLabOnItsGateway(t *testing.T) {
	ctx := context.Background()
	w := newTwoHypervisors(t)
	if err := os.WriteFile(w.file, []byte("isolated: true\n"+labtest.TwoHypervisors), 0o644); err != nil {
		t.Fatal(err)
	}
	l := w.lab(t)
	if err := l.Up(ctx, UpOptions{NoProvision: true}); err != nil {
		t.Fatal(err)
	}
	if !w.Get("hv1").Isolated || w.Get("hv2").Isolated {
		t.Errorf("isolated: hv1 %v, hv2 %v; want the gateway only", w.Get("hv1").Isolated, w.Get("hv2").Isolated)
	}
	if _, err := l.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if w.Get("hv1").Isolated {
		t.Error("down left the isolation")
	}
}

// List shows a lab that is up, from its state alone, and not one that is
// down.
func TestListFromState(t *testing.T) {
	ctx := context.Background()
	w := newTwoHypervisors(t)
	l := w.lab(t)
	if err := l.Up(ctx, UpOptions{NoProvision: true}); err != nil {
		t.Fatal(err)
	}
	labs, err := List()
	if err != nil || len(labs) != 1 || labs[0].Name != "two" || labs[0].State != "up" || labs[0].Nodes != 2 || strings.Join(labs[0].Hypervisors, ",") != "hv1,hv2" || labs[0].Topology != w.file {
		t.Fatalf("list: %+v %v", labs, err)
	}
	if _, err := l.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if labs, err := List(); err != nil || len(labs) != 0 {
		t.Errorf("after down: %+v %v", labs, err)
	}
}

// LabsOn finds a lab by its libvirt objects on every hypervisor of the
// plan, closes what it opened, and fails naming an unreachable one.
func TestLabsOnEveryHypervisor(t *testing.T) {
	ctx := context.Background()
	w := newTwoHypervisors(t)
	l := w.lab(t)
	if err := l.Up(ctx, UpOptions{NoProvision: true}); err != nil {
		t.Fatal(err)
	}
	opened := w.Get("hv1").Conns + w.Get("hv2").Conns
	got, err := LabsOn(ctx, l.Plan, Options{OpenHypervisor: w.open})
	if err != nil || len(got) != 1 || got[0] != "two" {
		t.Errorf("LabsOn = %v, %v; want [two]", got, err)
	}
	if now := w.Get("hv1").Conns + w.Get("hv2").Conns; now != opened {
		t.Errorf("LabsOn left %d hypervisor connections open", now-opened)
	}
	gone := errors.New("hypervisor hv2: dial tcp: connect: no route to host")
	w.Refuse["hv2"] = gone
	if got, err := LabsOn(ctx, l.Plan, Options{OpenHypervisor: w.open}); !errors.Is(err, gone) {
		t.Errorf("LabsOn with hv2 unreachable = %v, %v; want its error", got, err)
	}
}

// A topology that names no image boots the Docker-ready image when the
// cache has it, else the plain one (said, with what to build); the lab
// keeps its first choice for later ups, and an image the file names is
// used as it is.
func TestUpChoosesTheImageOfATopologyThatNamesNone(t *testing.T) {
	ctx := context.Background()
	w := newTwoHypervisors(t) // the cache holds debian-12 only
	var said []string
	open := func(file, name string) *Lab {
		l, err := Open(Options{Name: name, File: file, Lock: "test", OpenHypervisor: w.open,
			Progress: func(node, msg string) { said = append(said, msg) }})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	up := func(file, name string) (string, string) {
		t.Helper()
		said = nil
		l := open(file, name)
		defer l.Close()
		if err := l.Up(ctx, UpOptions{NoProvision: true}); err != nil {
			t.Fatal(err)
		}
		for _, n := range l.Plan.Nodes {
			if n.Image != l.Plan.Image {
				t.Errorf("%s: node %s boots %s, the lab %s", name, n.Name, n.Image, l.Plan.Image)
			}
		}
		var msg string
		for _, m := range said {
			if strings.HasPrefix(m, "image ") {
				msg = m
			}
		}
		if st := l.State(); st.Image != "" && st.Image != l.Plan.Image {
			t.Errorf("%s: state records %s, the plan boots %s", name, st.Image, l.Plan.Image)
		}
		return l.Plan.Image, msg
	}
	img, msg := up(w.file, "two")
	if img != "debian-12" || !strings.Contains(msg, "debian-12-docker is not in the image cache") || !strings.Contains(msg, "sudo labctl image build debian-12-docker") {
		t.Errorf("without the Docker-ready image: %s, said %q", img, msg)
	}
	// The Docker-ready image arrives: the lab keeps what it boots, a new
	// lab takes it.
	cache, err := (&Lab{}).Cache()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := cache.Lookup("debian-12")
	if err != nil {
		t.Fatal(err)
	}
	ready := plain
	ready.Name, ready.Meta = "debian-12-docker", map[string]string{"boot": plain.Meta["boot"], "cmdline": plain.Meta["cmdline"], "docker": "installed", "images": "busybox:latest nginx:latest"}
	if err := cache.Put(ready); err != nil {
		t.Fatal(err)
	}
	if img, msg := up(w.file, "two"); img != "debian-12" || !strings.Contains(msg, "as at this lab's first up") {
		t.Errorf("the lab's second up: %s, said %q", img, msg)
	}
	other := filepath.Join(t.TempDir(), "other.yaml")
	os.WriteFile(other, []byte(strings.ReplaceAll(labtest.TwoHypervisors, "198.51.100.", "198.51.100.1")+"networks: {nat: {subnet: 10.9.1.0/24}, hostonly: {subnet: 10.9.2.0/24}}\n"), 0o644)
	if img, msg := up(other, "three"); img != "debian-12-docker" || !strings.Contains(msg, "the Docker-ready image: Docker is installed in it with the labs' container images (busybox:latest nginx:latest)") {
		t.Errorf("a new lab with the Docker-ready image cached: %s, said %q", img, msg)
	}
	// A lab brought up by a labctl that recorded no choice (its state
	// has phases but no image) keeps the plain image, its default then.
	old := filepath.Join(t.TempDir(), "old.yaml")
	os.WriteFile(old, []byte(strings.ReplaceAll(labtest.TwoHypervisors, "198.51.100.", "198.51.100.3")+"networks: {nat: {subnet: 10.9.5.0/24}, hostonly: {subnet: 10.9.6.0/24}}\n"), 0o644)
	if img, _ := up(old, "five"); img != "debian-12-docker" {
		t.Fatalf("lab five's first up: %s", img)
	}
	root, err := state.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := state.Open(root, "five")
	if err != nil {
		t.Fatal(err)
	}
	var st state.State
	if err := dir.Load(&st); err != nil || st.Image != "debian-12-docker" || len(st.Phases) == 0 {
		t.Fatalf("lab five's state: %v %+v", err, st)
	}
	st.Image = ""
	if err := dir.Save(st); err != nil {
		t.Fatal(err)
	}
	if img, msg := up(old, "five"); img != "debian-12" || !strings.Contains(msg, "as this lab's nodes were made") {
		t.Errorf("a lab up before the choice was recorded: %s, said %q", img, msg)
	}
	named := filepath.Join(t.TempDir(), "named.yaml")
	os.WriteFile(named, []byte("image: debian-12\n"+strings.ReplaceAll(labtest.TwoHypervisors, "198.51.100.", "198.51.100.2")+"networks: {nat: {subnet: 10.9.3.0/24}, hostonly: {subnet: 10.9.4.0/24}}\n"), 0o644)
	if img, msg := up(named, "four"); img != "debian-12" || msg != "" {
		t.Errorf("a lab naming debian-12: %s, said %q", img, msg)
	}
	// A topology given in Options whose image a program set (the bench's
	// plain-image runs) is used as named, although its file named none.
	six := filepath.Join(t.TempDir(), "six.yaml")
	os.WriteFile(six, []byte(strings.ReplaceAll(labtest.TwoHypervisors, "198.51.100.", "198.51.100.4")+"networks: {nat: {subnet: 10.9.7.0/24}, hostonly: {subnet: 10.9.8.0/24}}\n"), 0o644)
	given, err := topology.Load(six)
	if err != nil {
		t.Fatal(err)
	}
	given.SetImage("debian-12")
	said = nil
	l, err := Open(Options{Name: "six", Topology: given, Lock: "test", OpenHypervisor: w.open,
		Progress: func(node, msg string) { said = append(said, msg) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Up(ctx, UpOptions{NoProvision: true}); err != nil {
		t.Fatal(err)
	}
	if l.Plan.Image != "debian-12" || len(l.Plan.Nodes) == 0 || l.Plan.Nodes[0].Image != "debian-12" {
		t.Errorf("a topology whose image was set to debian-12 boots %s", l.Plan.Image)
	}
	for _, m := range said {
		if strings.HasPrefix(m, "image ") {
			t.Errorf("up chose an image for a topology whose image was set: %q", m)
		}
	}
}
