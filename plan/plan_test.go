package plan

import (
	"encoding/json"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/golden"
	"github.com/labctl/labctl/topology"
)

func defaultPlan(t testing.TB, lab string) *Plan {
	t.Helper()
	tp, err := topology.Load("")
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(lab, tp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultPlanGolden(t *testing.T) {
	b, err := json.MarshalIndent(defaultPlan(t, "default"), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "plan-default.json"), append(b, '\n'))
}

func TestDefaultPlanShape(t *testing.T) {
	p := defaultPlan(t, "default")
	if len(p.Nodes) != 3 {
		t.Fatalf("%d nodes, want 3", len(p.Nodes))
	}
	for _, n := range p.Nodes {
		nat, ho := n.NIC(RoleNAT), n.NIC(RoleHostOnly)
		if nat == nil || ho == nil {
			t.Fatalf("%s: NICs %+v", n.Name, n.NICs)
		}
		if nat.Guest != "ens33" || nat.Network != "labctl-default-nat" {
			t.Errorf("%s: NAT NIC %+v", n.Name, nat)
		}
		if ho.Method != "static" || ho.Network != "labctl-default-hostonly" {
			t.Errorf("%s: host-only NIC %+v", n.Name, ho)
		}
		if len(n.VLANs) != 2 || n.VLANs[0].Name != "ens33.20" || n.VLANs[1].Name != "ens33.30" {
			t.Errorf("%s: VLAN interfaces %+v", n.Name, n.VLANs)
		}
		if len(n.Routes) != 1 || n.Routes[0].Via != "192.168.241.2" {
			t.Errorf("%s: routes %+v", n.Name, n.Routes)
		}
	}
	if r := p.Net(RoleNAT).Reservations; len(r) != 3 || r[0].Address != "192.168.241.11" {
		t.Errorf("NAT reservations: %+v", r)
	}
	if p.Net(RoleHostOnly).Forward != "none" {
		t.Error("host-only network must be isolated")
	}
}

func TestMACsStablePerLabAndDistinctAcrossLabs(t *testing.T) {
	a1, a2, b := defaultPlan(t, "default"), defaultPlan(t, "default"), defaultPlan(t, "other")
	seen := map[string]bool{}
	for i, n := range a1.Nodes {
		for j, nic := range n.NICs {
			if nic.MAC != a2.Nodes[i].NICs[j].MAC {
				t.Errorf("%s %s: MAC changed between runs: %s vs %s", n.Name, nic.Role, nic.MAC, a2.Nodes[i].NICs[j].MAC)
			}
			if nic.MAC == b.Nodes[i].NICs[j].MAC {
				t.Errorf("%s %s: same MAC %s in lab default and lab other", n.Name, nic.Role, nic.MAC)
			}
			if seen[nic.MAC] {
				t.Errorf("MAC %s used twice", nic.MAC)
			}
			seen[nic.MAC] = true
			hw, err := net.ParseMAC(nic.MAC)
			if err != nil {
				t.Fatal(err)
			}
			if hw[0]&0x02 == 0 || hw[0]&0x01 != 0 {
				t.Errorf("MAC %s is not locally administered unicast", hw)
			}
		}
	}
	if a1.Networks[0].Bridge == b.Networks[0].Bridge {
		t.Error("two labs share a bridge name")
	}
	for _, n := range b.Networks {
		if len(n.Bridge) > 15 {
			t.Errorf("bridge name %q longer than 15", n.Bridge)
		}
	}
}

func TestExplicitMACWinsAndCollisionsAreErrors(t *testing.T) {
	tp, err := topology.Parse("t.yaml", []byte("nodes:\n  - {name: a, nat: {mac: '52:54:00:00:00:01'}}\n  - {name: b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	topology.ApplyDefaults(tp)
	p, err := New("x", tp)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Nodes[0].NIC(RoleNAT).MAC; got != "52:54:00:00:00:01" {
		t.Errorf("explicit MAC ignored: %s", got)
	}
	// A MAC set explicitly to the value derived for another NIC collides.
	derived := MAC("x", "b", RoleNAT).String()
	tp.Nodes[0].HostOnly.MAC = derived
	if _, err := New("x", tp); err == nil {
		t.Error("colliding MACs accepted")
	}
	if _, err := New("Bad Lab", tp); err == nil {
		t.Error("invalid lab name accepted")
	}
}

// FuzzPlan: any topology that validates must plan, with every node address
// inside its network and no MAC twice.
func FuzzPlan(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("nodes:\n  - name: a\n  - name: b\n"))
	f.Add([]byte("networks:\n  nat: {subnet: 10.1.0.0/16}\nvlans: []\nnodes:\n  - {name: x, nat: {mac: '52:00:00:00:00:01'}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tp := topology.Default()
		if len(data) > 0 {
			var err error
			if tp, err = topology.Parse("f.yaml", data); err != nil {
				return
			}
		}
		topology.ApplyDefaults(tp)
		if len(topology.Validate(tp)) > 0 {
			return
		}
		p, err := New("fuzz", tp)
		if err != nil {
			return // derived MAC collision: reported, not a crash
		}
		macs := map[string]bool{}
		for _, n := range p.Nodes {
			for _, nic := range n.NICs {
				if macs[nic.MAC] {
					t.Fatalf("MAC %s twice", nic.MAC)
				}
				macs[nic.MAC] = true
				a := netip.MustParsePrefix(nic.Address)
				if !netip.MustParsePrefix(p.Net(nic.Role).Subnet).Contains(a.Addr()) {
					t.Fatalf("%s %s outside %s", n.Name, a, p.Net(nic.Role).Subnet)
				}
			}
		}
	})
}

// Node.Addr is the address without its prefix, "" without such a NIC.
func TestNodeAddr(t *testing.T) {
	p := defaultPlan(t, "default")
	n := p.Nodes[1]
	if got := n.Addr(RoleHostOnly); got != "192.168.242.12" {
		t.Errorf("host-only: %q", got)
	}
	if got := n.Addr(RoleNAT); got != "192.168.241.12" {
		t.Errorf("NAT: %q", got)
	}
	if got := n.Addr("wan"); got != "" {
		t.Errorf("no such role: %q", got)
	}
}

// A MAC written in the file that equals one labctl derives is a problem
// with the file, line and path of the field that set it.
func TestDerivedMACClashNamesTheField(t *testing.T) {
	src := "nodes:\n  - name: node1\n  - name: node2\n    nat:\n      mac: \"" + MAC("t", "node1", RoleNAT).String() + "\"\n"
	tp, err := topology.Parse("lab.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	topology.ApplyDefaults(tp)
	if ps := topology.Validate(tp); len(ps) > 0 {
		t.Fatal(ps)
	}
	_, err = New("t", tp)
	if err == nil || !strings.HasPrefix(err.Error(), "lab.yaml:5: nodes[1].nat.mac: node node2's nat MAC "+MAC("t", "node1", RoleNAT).String()+" equals node1 nat's") {
		t.Errorf("%v", err)
	}
}
