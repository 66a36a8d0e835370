package plan

import (
	"testing"

	"github.com/labctl/labctl/topology"
)

const spreadTopology = `hypervisors:
  - {name: hv1, uri: "qemu:///system", address: 198.51.100.1}
  - {name: hv2, uri: "qemu+ssh://root@198.51.100.2/system", address: 198.51.100.2}
nodes:
  - {name: node1}
  - {name: node2}
  - {name: node3, hypervisor: hv2}
`

func spreadPlan(t *testing.T, lab, src string) *Plan {
	t.Helper()
	tp, err := topology.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	topology.ApplyDefaults(tp)
	if err := topology.Validate(tp).Err(); err != nil {
		t.Fatal(err)
	}
	p, err := New(lab, tp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSpreadPlanPartsAndTunnels(t *testing.T) {
	p := spreadPlan(t, "demo", spreadTopology)
	if p.Tunnels == nil || p.Tunnels.Port != topology.DefaultTunnelPort || p.Tunnels.MTU != 1450 || len(p.Tunnels.Segments) != 2 {
		t.Fatalf("tunnels: %+v", p.Tunnels)
	}
	nat, ho := p.Tunnels.Segments[0], p.Tunnels.Segments[1]
	if nat.VNI == ho.VNI || nat.VNI < 2 || nat.VNI >= 1<<24 || nat.Bridge != BridgeName("demo", RoleNAT) || len(nat.Device) > 15 || nat.Device == ho.Device {
		t.Errorf("segments: %+v %+v", nat, ho)
	}
	for _, n := range p.Networks {
		if n.MTU != 1450 {
			t.Errorf("network %s MTU %d, want 1450", n.Name, n.MTU)
		}
	}
	parts := p.Parts()
	if len(parts) != 2 || !parts[0].Hypervisor.Gateway || parts[1].Hypervisor.Gateway {
		t.Fatalf("parts: %+v", parts)
	}
	names := func(nodes []Node) (s []string) {
		for _, n := range nodes {
			s = append(s, n.Name)
		}
		return s
	}
	if got := names(parts[0].Nodes); len(got) != 2 || got[0] != "node1" || got[1] != "node2" {
		t.Errorf("hv1 runs %v", got)
	}
	if got := names(parts[1].Nodes); len(got) != 1 || got[0] != "node3" || parts[1].Hypervisor.URI != "qemu+ssh://root@198.51.100.2/system" {
		t.Errorf("hv2 runs %v on %s", got, parts[1].Hypervisor.URI)
	}
	// The gateway's networks are the lab's; the others' are layer 2 only.
	g, o := parts[0].Net(RoleNAT), parts[1].Net(RoleNAT)
	if g.Host == "" || g.Forward != "nat" || len(g.Reservations) != 3 || g.DHCP == nil {
		t.Errorf("gateway NAT network: %+v", g)
	}
	if o.Host != "" || o.Forward != "none" || o.DHCP != nil || len(o.Reservations) != 0 || o.Bridge != g.Bridge || o.MTU != 1450 {
		t.Errorf("hv2's NAT network: %+v", o)
	}
	// The whole plan is untouched by Parts.
	if p.Net(RoleNAT).Host == "" || len(p.Nodes) != 3 {
		t.Error("Parts changed the plan")
	}
	if p.Gateway().Name != "hv1" {
		t.Errorf("gateway %s", p.Gateway().Name)
	}
}

func TestVNIsStablePerLabAndDistinct(t *testing.T) {
	seen := map[uint32]string{}
	for _, lab := range []string{"a", "b", "demo", "workshop-1", "workshop-2"} {
		p := spreadPlan(t, lab, spreadTopology)
		q := spreadPlan(t, lab, spreadTopology)
		for i, s := range p.Tunnels.Segments {
			if q.Tunnels.Segments[i].VNI != s.VNI {
				t.Errorf("lab %s: VNI of %s not stable", lab, s.Role)
			}
			if prev, dup := seen[s.VNI]; dup {
				t.Errorf("lab %s %s: VNI %d also %s's", lab, s.Role, s.VNI, prev)
			}
			seen[s.VNI] = lab + " " + s.Role
		}
	}
}

func TestOneHypervisorNoTunnels(t *testing.T) {
	p := spreadPlan(t, "solo", "hypervisors:\n  - {name: far, uri: \"qemu+ssh://root@host/system\"}\nnodes: [{name: n1}]\n")
	if p.Tunnels != nil || p.Net(RoleNAT).MTU != 0 {
		t.Errorf("one hypervisor: tunnels %+v, MTU %d", p.Tunnels, p.Net(RoleNAT).MTU)
	}
	parts := p.Parts()
	if len(parts) != 1 || parts[0].Hypervisor.URI != "qemu+ssh://root@host/system" || len(parts[0].Nodes) != 1 || parts[0].Net(RoleNAT).Host == "" {
		t.Errorf("parts: %+v", parts)
	}
}
