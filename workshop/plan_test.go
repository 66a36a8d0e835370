package workshop

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/topology"
	"go.yaml.in/yaml/v3"
)

func defaultTopology(t *testing.T) *topology.Topology {
	t.Helper()
	tp, err := topology.Load("")
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

var fourHypervisors = []Hypervisor{
	{Name: "hv1", CPUs: 40, MemoryMiB: 64 << 10},
	{Name: "hv2", CPUs: 40, MemoryMiB: 64 << 10},
	{Name: "hv3", CPUs: 32, MemoryMiB: 48 << 10},
	{Name: "hv4", CPUs: 40, MemoryMiB: 32 << 10},
}

// 40 seats of the default three-node lab over 4 hypervisors: every
// host-routed subnet, lab name, bridge and MAC is its own; every seat's
// topology validates; no hypervisor holds more than it has; the same input
// gives the same plan.
func TestFortySeatsOverFourHypervisors(t *testing.T) {
	p, err := New(defaultTopology(t), Options{Name: "ws", Seats: 40, Hypervisors: fourHypervisors})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Seats) != 40 {
		t.Fatalf("%d seats", len(p.Seats))
	}
	var prefixes []netip.Prefix
	owner := map[netip.Prefix]string{}
	seen := map[string]string{}
	unique := func(kind, v, who string) {
		if other, dup := seen[kind+" "+v]; dup {
			t.Errorf("%s %s: %s and %s", kind, v, other, who)
		}
		seen[kind+" "+v] = who
	}
	for _, s := range p.Seats {
		unique("lab", s.Lab, s.Lab)
		for _, sub := range append([]string{s.NAT, s.HostOnly}, s.L3...) {
			pfx := netip.MustParsePrefix(sub)
			for _, q := range prefixes {
				if pfx.Overlaps(q) {
					t.Errorf("%s of %s overlaps %s of %s", pfx, s.Lab, q, owner[q])
				}
			}
			prefixes = append(prefixes, pfx)
			owner[pfx] = s.Lab
		}
		for _, n := range s.Plan.Networks {
			unique("bridge", n.Bridge, s.Lab)
			unique("network", n.Name, s.Lab)
		}
		for _, n := range s.Plan.Nodes {
			unique("domain", n.Domain, s.Lab)
			for _, nic := range n.NICs {
				unique("mac", nic.MAC, s.Lab+"/"+n.Name)
				if !netip.MustParsePrefix(map[string]string{"nat": s.NAT, "hostonly": s.HostOnly}[nic.Role]).Contains(netip.MustParsePrefix(nic.Address).Addr()) {
					t.Errorf("%s %s %s: %s outside the seat's subnet", s.Lab, n.Name, nic.Role, nic.Address)
				}
			}
		}
		if ps := topology.Validate(s.Topology); len(ps) > 0 {
			t.Errorf("%s: %v", s.Lab, ps)
		}
		// The tutorial's addresses inside the seat stay: VLANs as the
		// topology has them.
		if s.Plan.VLANs[0].Subnet != "192.168.20.0/24" {
			t.Errorf("%s: VLAN 20 is %s", s.Lab, s.Plan.VLANs[0].Subnet)
		}
	}
	for _, l := range p.Load {
		if l.UsedCPUs > l.CPUs || l.UsedMemoryMiB > l.MemoryMiB {
			t.Errorf("%s over capacity: %+v", l.Name, l)
		}
		if len(l.Seats) == 0 {
			t.Errorf("%s got no seat", l.Name)
		}
	}
	a, _ := json.Marshal(p)
	again, _ := New(defaultTopology(t), Options{Name: "ws", Seats: 40, Hypervisors: fourHypervisors})
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Error("the same input gave another plan")
	}
}

func TestPlanLimits(t *testing.T) {
	tp := defaultTopology(t)
	if _, err := New(tp, Options{Name: "ws", Seats: 60, Hypervisors: fourHypervisors}); err == nil || !strings.Contains(err.Error(), "fits on no hypervisor") {
		t.Errorf("60 seats on 4 hypervisors: %v", err)
	}
	if _, err := New(tp, Options{Name: "ws", Seats: 3, Space: netip.MustParsePrefix("10.9.0.0/23")}); err == nil || !strings.Contains(err.Error(), "10.9.0.0/23 is full") {
		t.Errorf("a space too small: %v", err)
	}
	if _, err := New(tp, Options{Name: "Bad Name", Seats: 2}); err == nil {
		t.Error("a bad workshop name was accepted")
	}
	p, err := New(tp, Options{Name: "ws", Seats: 2})
	if err != nil || p.Seats[1].Hypervisor != "local" || p.Seats[1].Lab != "ws-s02" || p.Seats[1].NAT != "10.200.2.0/24" || p.Seats[1].HostOnly != "10.200.3.0/24" {
		t.Errorf("two seats here: %+v %v", p.Seats, err)
	}
}

// Two seats whose lab names hash to the same interface names are refused,
// naming both.
func TestSeatsWithCollidingDerivedNamesAreRefused(t *testing.T) {
	seats := []Seat{{Lab: "ws-s01"}, {Lab: "ws-s02"}, {Lab: "ws-s17"}}
	collide := func(lab, role string) string {
		if lab == "ws-s17" {
			return "lcsame-n"
		}
		if lab == "ws-s02" {
			return "lcsame-n"
		}
		return "lc" + lab + "-n"
	}
	if err := distinctNames(seats, collide); err == nil || err.Error() != "seats ws-s02 and ws-s17 derive the same interface names (lcsame-n): give the workshop another name (--lab)" {
		t.Errorf("%v", err)
	}
	if err := distinctNames(seats, plan.BridgeName); err != nil {
		t.Error(err)
	}
}

// Planned on this machine alone, the seats are compared with its size:
// memory that does not fit is refused with the numbers and what to do,
// vCPUs over its CPUs are a warning, past 4x a refusal.
func TestPlanOnThisMachineIsHonest(t *testing.T) {
	tp := topology.Default() // 3 nodes of 1 vCPU and 1 GiB by default
	topology.ApplyDefaults(tp)
	small := Machine{CPUs: 2, MemoryMiB: 23 << 10}
	_, err := New(tp, Options{Name: "ws", Seats: 30, Machine: small})
	if err == nil || !strings.Contains(err.Error(), "30 seats need 90.0 GiB of memory; this machine has 23.0 GiB (1.0 GiB kept for itself): at most 7 seats fit; add hypervisors with --hypervisor") {
		t.Errorf("30 seats on 2 CPUs, 23 GiB: %v", err)
	}
	p, err := New(tp, Options{Name: "ws", Seats: 2, Machine: small})
	if err != nil || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "2 seats have 6 vCPUs on this machine's 2 CPUs") {
		t.Errorf("2 seats: %v %v", p, err)
	}
	if _, err := New(tp, Options{Name: "ws", Seats: 3, Machine: Machine{CPUs: 2, MemoryMiB: 64 << 10}}); err == nil || !strings.Contains(err.Error(), "3 seats need 9 vCPUs; this machine has 2 CPUs (up to 4x is allowed: 8)") {
		t.Errorf("9 vCPUs on 2 CPUs: %v", err)
	}
	// 20 seats of 1 vCPU on 2 CPUs: refused at the default 4x, with the
	// overcommit that would allow them; planned when the instructor allows
	// it; a 3-node seat on a 1-CPU machine beyond the most allowed gets no
	// such advice.
	one := topology.Default()
	one.Nodes = one.Nodes[:1]
	topology.ApplyDefaults(one)
	if _, err := New(one, Options{Name: "ws", Seats: 20, Machine: small}); err == nil || !strings.Contains(err.Error(), "20 seats need 20 vCPUs; this machine has 2 CPUs (up to 4x is allowed: 8)") || !strings.Contains(err.Error(), "--cpu-overcommit 10 if") {
		t.Errorf("20 seats of 1 vCPU at 4x: %v", err)
	}
	if p, err := New(one, Options{Name: "ws", Seats: 20, Machine: small, CPUOvercommit: 10}); err != nil || len(p.Seats) != 20 || len(p.Warnings) != 1 {
		t.Errorf("20 seats of 1 vCPU at 10x: %v", err)
	}
	if _, err := New(one, Options{Name: "ws", Seats: 20, Machine: small, CPUOvercommit: 9}); err == nil || !strings.Contains(err.Error(), "up to 9x is allowed: 18") {
		t.Errorf("20 seats of 1 vCPU at 9x: %v", err)
	}
	if _, err := New(tp, Options{Name: "ws", Seats: 11, Machine: Machine{CPUs: 1, MemoryMiB: 64 << 10}, CPUOvercommit: MaxCPUOvercommit}); err == nil || !strings.Contains(err.Error(), "33 vCPUs") || strings.Contains(err.Error(), "--cpu-overcommit") {
		t.Errorf("33 vCPUs on 1 CPU: %v", err)
	}
	if _, err := New(one, Options{Name: "ws", Seats: 1, Machine: small, CPUOvercommit: MaxCPUOvercommit + 1}); err == nil || !strings.Contains(err.Error(), "1 to 32") {
		t.Errorf("overcommit beyond the most: %v", err)
	}
	if p, err := New(tp, Options{Name: "ws", Seats: 30, Machine: small, Hypervisors: []Hypervisor{{Name: "hv1", CPUs: 96, MemoryMiB: 96 << 10}}}); err != nil || len(p.Warnings) != 0 {
		t.Errorf("30 seats on a hypervisor given: %v", err)
	}
}

// Seats on the hypervisors a workshop's topology lists: each seat whole on
// one (by free memory: 1 on hv1, 2 on hv2, 3 on hv1), a lab on that one
// alone - its gateway there, no tunnels - whose topology, written as
// workshop up writes it and read again, validates.
func TestSeatsOnTheTopologysHypervisors(t *testing.T) {
	const hvs = `nodes: [{name: node1, memory: 1GiB}]
hypervisors:
  - {name: hv1, uri: "qemu:///system", address: 198.51.100.1, cpus: 8, memory: 8GiB}
  - {name: hv2, uri: "qemu+ssh://root@198.51.100.2/system", address: 198.51.100.2, identity: /k/id_ed25519, cpus: 8, memory: 8GiB}
`
	tp, err := topology.LoadData("ws.yaml", []byte(hvs))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(tp, Options{Name: "ws", Seats: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"hv1", "hv2", "hv1"} {
		s := p.Seats[i]
		if s.Hypervisor != want || len(s.Plan.Hypervisors) != 1 || s.Plan.Hypervisors[0].Name != want || !s.Plan.Hypervisors[0].Gateway || s.Plan.Tunnels != nil {
			t.Errorf("seat %d: on %s, plan hypervisors %+v, tunnels %v; want whole on %s", s.N, s.Hypervisor, s.Plan.Hypervisors, s.Plan.Tunnels, want)
		}
		data, err := yaml.Marshal(s.Topology)
		if err != nil {
			t.Fatal(err)
		}
		back, err := topology.LoadData("seat.yaml", data)
		if err != nil {
			t.Fatalf("seat %d's topology as written does not load: %v\n%s", s.N, err, data)
		}
		if len(back.Hypervisors) != 1 || back.Hypervisors[0].Name != want || back.Hypervisors[0].Identity != tp.Hypervisors[i%2].Identity {
			t.Errorf("seat %d's topology read again: %+v", s.N, back.Hypervisors)
		}
	}
	if len(p.Load) != 2 || len(p.Load[0].Seats) != 2 || len(p.Load[1].Seats) != 1 {
		t.Errorf("load: %+v", p.Load)
	}
	// What a workshop's topology cannot say, each refused by name.
	for _, c := range []struct{ what, topo, says string }{
		{"a hypervisor without a capacity", strings.Replace(hvs, ", cpus: 8, memory: 8GiB}\n  - {name: hv2", "}\n  - {name: hv2", 1), "ws.yaml:3: hypervisors[0]: hypervisor hv1: a workshop places whole seats by capacity"},
		{"a node pinned to a hypervisor", strings.Replace(hvs, "memory: 1GiB}", "memory: 1GiB, hypervisor: hv2}", 1), "node node1 names hypervisor hv2"},
	} {
		tp, err := topology.LoadData("ws.yaml", []byte(c.topo))
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if _, err := New(tp, Options{Name: "ws", Seats: 2}); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %q", c.what, err, c.says)
		}
	}
	if _, err := New(tp, Options{Name: "ws", Seats: 2, Hypervisors: fourHypervisors}); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("hypervisors in the topology and --hypervisor: %v", err)
	}
}

// Where each hypervisor's jump host listens: --jump's address on this
// machine (none without it); a topology hypervisor's own address, at
// --jump's port or 2222.
func TestJumpAddr(t *testing.T) {
	hv := plan.Hypervisor{Name: "hv2", URI: "qemu+ssh://root@198.51.100.2/system", Address: "198.51.100.2"}
	for _, c := range []struct {
		hv   plan.Hypervisor
		flag string
		want string
	}{
		{plan.Hypervisor{URI: "qemu:///system"}, "", ""},
		{plan.Hypervisor{URI: "qemu:///system"}, "192.0.2.7:2200", "192.0.2.7:2200"},
		{hv, "", "198.51.100.2:2222"},
		{hv, "0.0.0.0:2022", "198.51.100.2:2022"},
	} {
		ap, ok, err := jumpAddr(c.hv, c.flag)
		got := ""
		if ok {
			got = ap.String()
		}
		if err != nil || got != c.want {
			t.Errorf("jumpAddr(%s, %q) = %q, %v; want %q", c.hv.Name, c.flag, got, err, c.want)
		}
	}
}

// Seats get the vCPUs the workshop plan counts: a seat's up gives them no
// spare host CPUs (plan.Node.CPUsAuto), and the seat's file says cpus.
func TestSeatsSetTheirCPUs(t *testing.T) {
	tp := defaultTopology(t)
	if !tp.Nodes[0].CPUsDefaulted() {
		t.Fatal("the default topology leaves cpus out")
	}
	p, err := New(tp, Options{Name: "ws", Seats: 2, Hypervisors: fourHypervisors})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Seats {
		for _, n := range s.Plan.Nodes {
			if n.CPUsAuto || n.CPUs != 1 {
				t.Errorf("%s/%s: cpus %d, auto %v", s.Lab, n.Name, n.CPUs, n.CPUsAuto)
			}
		}
		data, err := yaml.Marshal(s.Topology)
		if err != nil {
			t.Fatal(err)
		}
		back, err := topology.LoadData("seat.yaml", data)
		if err != nil {
			t.Fatal(err)
		}
		if back.Nodes[0].CPUsDefaulted() {
			t.Errorf("%s: the seat's file leaves cpus out", s.Lab)
		}
	}
}
