package workshop

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/topology"
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
	if p, err := New(tp, Options{Name: "ws", Seats: 30, Machine: small, Hypervisors: []Hypervisor{{Name: "hv1", CPUs: 96, MemoryMiB: 96 << 10}}}); err != nil || len(p.Warnings) != 0 {
		t.Errorf("30 seats on a hypervisor given: %v", err)
	}
}
