// Package labtest is a lab's hypervisors in memory, for tests: each with
// an in-memory libvirt (vm/vmtest), tunnels and isolation recorded, nodes
// that answer SSH's greeting, and faults a test sets. A lab opened with
// Options.OpenHypervisor set to a Hypervisors' Open comes up, reports and
// goes down without a daemon, VMs or network.
package labtest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/vm"
	"github.com/labctl/labctl/vm/vmtest"
)

// Hypervisor is one hypervisor of a lab: it records the tunnels made and
// removed and the connections open, and fails where a test says.
type Hypervisor struct {
	HV plan.Hypervisor
	LV *vmtest.Libvirt

	Mu         sync.Mutex
	Stitched   int   // times Stitch made the tunnels
	Tunnels    bool  // the lab's VXLAN devices exist
	StitchErr  error // Stitch fails with it
	Conns      int   // connections open
	TunnelPort error // CheckTunnelPort fails with it
	Isolated   bool  // the lab's isolation table is loaded
}

func (h *Hypervisor) Isolate(ctx context.Context, p *plan.Plan) error {
	h.Mu.Lock()
	defer h.Mu.Unlock()
	h.Isolated = true
	return nil
}

func (h *Hypervisor) Unisolate(ctx context.Context, lab string) error {
	h.Mu.Lock()
	defer h.Mu.Unlock()
	h.Isolated = false
	return nil
}

func (h *Hypervisor) Libvirt(ctx context.Context) (*vm.Conn, error) {
	c := vm.NewConn(h.LV, nil)
	c.URI = h.HV.URI
	return c, nil
}

func (h *Hypervisor) CheckTunnelPort(ctx context.Context, port int) error { return h.TunnelPort }

func (h *Hypervisor) Links(ctx context.Context, lab string) ([]string, error) { return nil, nil }

func (h *Hypervisor) Stitch(ctx context.Context, p *plan.Plan) error {
	h.Mu.Lock()
	defer h.Mu.Unlock()
	if h.StitchErr != nil {
		return h.StitchErr
	}
	h.Stitched++
	h.Tunnels = true
	return nil
}

func (h *Hypervisor) Unstitch(ctx context.Context, lab string) ([]string, error) {
	h.Mu.Lock()
	defer h.Mu.Unlock()
	if !h.Tunnels {
		return nil, nil
	}
	h.Tunnels = false
	return []string{plan.TunnelDevice(lab, plan.RoleNAT), plan.TunnelDevice(lab, plan.RoleHostOnly)}, nil
}

// DialContext answers every connection with an SSH server's greeting.
func (h *Hypervisor) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return vmtest.SSHGreeting(ctx, network, addr)
}

func (h *Hypervisor) Close() error {
	h.Mu.Lock()
	defer h.Mu.Unlock()
	h.Conns--
	return nil
}

// Domains lists the domains defined there, sorted.
func (h *Hypervisor) Domains() []string {
	h.LV.Mu.Lock()
	defer h.LV.Mu.Unlock()
	var out []string
	for d := range h.LV.Doms {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Networks counts the networks defined there.
func (h *Hypervisor) Networks() int {
	h.LV.Mu.Lock()
	defer h.LV.Mu.Unlock()
	return len(h.LV.Nets)
}

// Hypervisors are the hypervisors a test's labs reach, by name ("" for a
// lab's one implicit hypervisor), made on first use.
type Hypervisors struct {
	mu       sync.Mutex
	hvs      map[string]*Hypervisor
	Refuse   map[string]error // hypervisor name -> why it cannot be reached
	Openings int
}

// New is a set of hypervisors none of which exists yet.
func New() *Hypervisors {
	return &Hypervisors{hvs: map[string]*Hypervisor{}, Refuse: map[string]error{}}
}

// Open connects to hv, as lab.Options.OpenHypervisor (whose result type,
// lab.Hypervisor, *Hypervisor implements).
func (w *Hypervisors) Open(ctx context.Context, hv plan.Hypervisor) (*Hypervisor, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.Refuse[hv.Name]; err != nil {
		return nil, err
	}
	h := w.hvs[hv.Name]
	if h == nil {
		h = &Hypervisor{HV: hv, LV: vmtest.New()}
		w.hvs[hv.Name] = h
	}
	h.Mu.Lock()
	h.Conns++
	h.Mu.Unlock()
	w.Openings++
	return h, nil
}

// Get is the hypervisor named name, made if it was never opened.
func (w *Hypervisors) Get(name string) *Hypervisor {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hvs[name] == nil {
		w.hvs[name] = &Hypervisor{HV: plan.Hypervisor{Name: name}, LV: vmtest.New()}
	}
	return w.hvs[name]
}

// All is every hypervisor made so far, by name.
func (w *Hypervisors) All() map[string]*Hypervisor {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]*Hypervisor, len(w.hvs))
	for k, v := range w.hvs {
		out[k] = v
	}
	return out
}

// TwoHypervisors is a lab of two nodes, node1 on hv1 (the gateway) and
// node2 on hv2, both reached over SSH.
const TwoHypervisors = `hypervisors:
  - {name: hv1, uri: "qemu+ssh://root@hv1.test/system", address: 198.51.100.1}
  - {name: hv2, uri: "qemu+ssh://root@hv2.test/system", address: 198.51.100.2}
nodes:
  - {name: node1, hypervisor: hv1}
  - {name: node2, hypervisor: hv2}
`

// Setup gives the test a state directory and an image cache (holding
// debian-12) of its own, and writes topology to a file of the test's:
// its path.
func Setup(t testing.TB, topology string) string {
	t.Helper()
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("LABCTL_CACHE_DIR", vmtest.Cache(t, nil).Dir)
	file := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(file, []byte(topology), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
