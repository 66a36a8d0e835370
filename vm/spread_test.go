package vm

import (
	"bytes"
	"context"
	"testing"

	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan/plantest"
	"github.com/labctl/labctl/vm/vmtest"
	"libvirt.org/go/libvirtxml"
)

// A lab over two hypervisors: the gateway's networks have their address,
// NAT and DHCP, the other's are bare bridges; both carry the lowered MTU,
// and so do the nodes' NICs.
func TestSpreadNetworkAndDomainXML(t *testing.T) {
	p := plantest.New(t, "spread", plantest.TwoHypervisors)
	parts := p.Parts()
	for i, part := range parts {
		for _, n := range part.Networks {
			x, err := NetworkXML(p, n)
			if err != nil {
				t.Fatal(err)
			}
			var back libvirtxml.Network
			if err := back.Unmarshal(x); err != nil {
				t.Fatal(err)
			}
			if back.MTU == nil || back.MTU.Size != 1450 || back.Bridge.Name != n.Bridge {
				t.Errorf("%s on %s: MTU %+v bridge %+v", n.Name, part.Hypervisor.Name, back.MTU, back.Bridge)
			}
			gateway := i == 0
			if gateway != (len(back.IPs) == 1) || (!gateway && back.Forward != nil) {
				t.Errorf("%s on %s (gateway %v): IPs %+v forward %+v", n.Name, part.Hypervisor.Name, gateway, back.IPs, back.Forward)
			}
			if o, ok := ParseOwner(x); !ok || o.Lab != "spread" {
				t.Errorf("owner %+v", o)
			}
		}
	}
	x, err := DomainXML(DomainSpec{Lab: "spread", Node: parts[1].Nodes[0], Type: "qemu", Pool: "labctl",
		DiskVolume: "d", SeedVolume: "s", ConsoleLog: RemoteConsoleLog("labctl-spread-node2"), MTU: parts[1].Networks[0].MTU})
	if err != nil {
		t.Fatal(err)
	}
	var d libvirtxml.Domain
	if err := d.Unmarshal(x); err != nil {
		t.Fatal(err)
	}
	for _, i := range d.Devices.Interfaces {
		if i.MTU == nil || i.MTU.Size != 1450 {
			t.Errorf("NIC %s: MTU %+v", i.MAC.Address, i.MTU)
		}
	}
	if l := d.Devices.Serials[0].Log.File; l != "/var/log/libvirt/qemu/labctl-spread-node2-console.log" {
		t.Errorf("console log %s", l)
	}
}

// A hypervisor's share of a spread lab creates only its nodes, on bare
// bridges, but their seeds come from the whole lab: every node in
// /etc/hosts and the gateway as the resolver, which that hypervisor's
// networks do not have.
func TestPartUpSeedsFromTheWholeLab(t *testing.T) {
	p := plantest.New(t, "lab1", `hypervisors:
  - {name: hv1, uri: "qemu:///system", address: 198.51.100.1}
  - {name: hv2, uri: "qemu+ssh://root@198.51.100.2/system", address: 198.51.100.2}
nodes: [{name: node1}, {name: node2}, {name: node3, hypervisor: hv2}]
`)
	part := p.Parts()[1]
	f := vmtest.New()
	dir := t.TempDir()
	m := NewManager(NewConn(f, nil), part, Options{
		StateDir: dir, Keys: keys.Lab{Dir: dir, Lab: "lab1"}, Cache: testCache(t), Dial: fakeSSH,
	})
	if err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.Doms) != 1 || len(f.Nets) != 2 {
		t.Fatalf("hv2's share: %d domains, %d networks; want node3 and the two bridges", len(f.Doms), len(f.Nets))
	}
	iso := f.Pools["labctl"][seedVolume("lab1", "node3")]
	for _, want := range []string{"192.168.242.11 node1", "192.168.242.12 node2", "192.168.242.13 node3", "nameserver 192.168.241.2"} {
		if !bytes.Contains(iso, []byte(want)) {
			t.Errorf("node3's seed lacks %q", want)
		}
	}
}
