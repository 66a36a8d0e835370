// Package plan turns a valid topology into the plan of everything labctl
// will create: the libvirt names, storage pool and images; the networks,
// node NICs with MACs and addresses, DHCP reservations, VLAN
// sub-interfaces and routes; the Docker address pools; with hypervisors,
// each node's placement and the tunnels. It checks that plan against the
// host's own networks before anything is created.
package plan

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/labctl/labctl/topology"
)

// Roles of the two networks every node is attached to.
const (
	RoleNAT      = "nat"
	RoleHostOnly = "hostonly"
)

// Plan is everything one lab consists of. Its JSON form is stable: scripts
// may read `labctl plan --output json`.
type Plan struct {
	Lab      string  `json:"lab"`
	Libvirt  Libvirt `json:"libvirt"`
	Image    string  `json:"image"`
	User     string  `json:"user"`
	Networks []Net   `json:"networks"`
	VLANs    []VLAN  `json:"vlans"`
	Nodes    []Node  `json:"nodes"`
	Docker   Docker  `json:"docker"`
	Outside  Outside `json:"outside"`
	// Isolated: the gateway hypervisor keeps the nodes to themselves
	// (topology isolated).
	Isolated bool `json:"isolated,omitempty"`
	// Hypervisors are the libvirt hosts of a lab spread over several;
	// empty when every node runs on Libvirt.URI.
	Hypervisors []Hypervisor `json:"hypervisors,omitempty"`
	// Tunnels join the lab's networks across hypervisors; nil with fewer
	// than two.
	Tunnels *Tunnels `json:"tunnels,omitempty"`
}

// Hypervisor is one libvirt host of the lab.
type Hypervisor struct {
	Name     string `json:"name"`
	URI      string `json:"uri"`
	Address  string `json:"address,omitempty"`
	Identity string `json:"identity,omitempty"`
	// CPUs the topology lets this hypervisor give the lab's nodes; 0:
	// as many as it has.
	CPUs int `json:"cpus,omitempty"`
	// Gateway: this hypervisor's bridges hold the host addresses, the NAT
	// and DHCP of the lab's networks; the others' carry only layer 2.
	Gateway bool     `json:"gateway"`
	Nodes   []string `json:"nodes"`
}

// Tunnels are the VXLAN links of a lab spread over hypervisors: on every
// hypervisor, one VXLAN device per lab network, enslaved to the network's
// bridge, sending flooded frames to every other hypervisor (head-end
// replication) on UDP Port.
type Tunnels struct {
	Port     int       `json:"port"`
	MTU      int       `json:"mtu"`
	Segments []Segment `json:"segments"`
}

// Segment is one lab network's VXLAN: its VNI and the device name, the
// same on every hypervisor.
type Segment struct {
	Role   string `json:"role"`
	VNI    uint32 `json:"vni"`
	Device string `json:"device"`
	Bridge string `json:"bridge"`
}

// Libvirt is where the lab's objects live.
type Libvirt struct {
	URI          string `json:"uri"`
	Acceleration string `json:"acceleration"`
	Pool         string `json:"pool"`
}

// Net is one libvirt network.
type Net struct {
	Role         string        `json:"role"`
	Name         string        `json:"name"`
	Bridge       string        `json:"bridge"`
	Forward      string        `json:"forward"` // "nat" or "none" (isolated)
	Subnet       string        `json:"subnet"`
	Host         string        `json:"host"`
	DHCP         *Range        `json:"dhcp,omitempty"`
	Reservations []Reservation `json:"reservations,omitempty"`
	// MTU of the network's bridge and of the guests' NICs on it; 0 keeps
	// libvirt's default (1500). Set when the network spans hypervisors.
	MTU int `json:"mtu,omitempty"`
}

// Range is an inclusive DHCP range.
type Range struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Reservation is a static DHCP lease.
type Reservation struct {
	Node    string `json:"node"`
	MAC     string `json:"mac"`
	Address string `json:"address"`
}

// VLAN is an 802.1q VLAN of the lab.
type VLAN struct {
	ID      int    `json:"id"`
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway"`
	Parent  string `json:"parent"`
}

// NodeCount is "1 node", "3 nodes": for messages.
func NodeCount(n int) string {
	if n == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}

// Node is one VM.
type Node struct {
	Name     string `json:"name"`
	Domain   string `json:"domain"`
	Hostname string `json:"hostname"`
	SSHAlias string `json:"ssh_alias"`
	Image    string `json:"image"`
	CPUs     int    `json:"cpus"`
	// CPUsAuto: the topology left cpus out, so CPUs is the default and
	// up gives the node 2 where its hypervisor has CPUs to spare
	// (vm.VCPUs).
	CPUsAuto  bool     `json:"cpus_auto,omitempty"`
	MemoryMiB uint64   `json:"memory_mib"`
	DiskGiB   uint64   `json:"disk_gib"`
	Labels    []string `json:"labels,omitempty"`
	// Hypervisor is the name of the hypervisor the node runs on; "" in a
	// lab without hypervisors.
	Hypervisor string  `json:"hypervisor,omitempty"`
	NICs       []NIC   `json:"nics"`
	VLANs      []SubIf `json:"vlan_interfaces"`
	Routes     []Route `json:"routes"`
}

// NIC is a node's interface on one libvirt network.
type NIC struct {
	Role    string `json:"role"`
	Network string `json:"network"`
	Guest   string `json:"guest"`
	MAC     string `json:"mac"`
	Address string `json:"address"` // with prefix length, e.g. 192.168.241.11/24
	Method  string `json:"method"`  // "dhcp" (reserved lease) or "static"
}

// SubIf is a VLAN sub-interface inside a node.
type SubIf struct {
	Name   string `json:"name"`
	Parent string `json:"parent"`
	ID     int    `json:"id"`
}

// Route is a route inside a node.
type Route struct {
	To  string `json:"to"`
	Via string `json:"via"`
	Dev string `json:"dev"`
}

// Docker is what the nodes' Docker daemons and the labs use.
type Docker struct {
	BridgeIP        string        `json:"bridge_ip"`
	AddressPools    []AddressPool `json:"address_pools"`
	SwarmPool       AddressPool   `json:"swarm_pool"`
	IPVlanL3Subnets []string      `json:"ipvlan_l3_subnets"`
	RegistryMirrors []string      `json:"registry_mirrors,omitempty"`
}

// AddressPool is a base network and the prefix length cut from it.
type AddressPool struct {
	Base string `json:"base"`
	Size int    `json:"size"`
}

// Outside is the target beyond the NAT gateway.
type Outside struct {
	Address string `json:"address"`
	HTTPURL string `json:"http_url,omitempty"`
}

// NetworkName is the libvirt network name of a lab's network.
func NetworkName(lab, role string) string { return "labctl-" + lab + "-" + role }

// DomainName is the libvirt domain name of a lab's node.
func DomainName(lab, node string) string { return "labctl-" + lab + "-" + node }

// BridgeName is the host bridge of a lab's network: short enough for Linux
// (at most 15 characters) whatever the lab name, and distinct per lab: 50
// bits of the name's hash (two labs collide with odds of about one in
// 10^15 per pair; 32 bits, as before, gave colliding names among a few
// hundred workshop seats). The preflight still refuses a collision.
func BridgeName(lab, role string) string { return "lc" + labHash(lab) + "-" + role[:1] }

// TunnelDevice is the VXLAN device of a lab's network on every
// hypervisor: like the bridge's name, short and distinct per lab.
func TunnelDevice(lab, role string) string { return "lv" + labHash(lab) + "-" + role[:1] }

// labHash is 50 bits of the lab name's hash in 10 characters of base32
// (lower case, digits 2-7).
func labHash(lab string) string {
	sum := sha256.Sum256([]byte("labctl-bridge/" + lab))
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:7])[:10])
}

// VNI derives the VXLAN network identifier of a lab's network from the lab
// and role, like the MACs: stable, different for another lab (with 2^24
// values, two labs on the same hypervisors collide with odds of about one
// in eight million per pair). 0 and 1 are avoided (0 is invalid; 1 is
// many setups' default).
func VNI(lab, role string) uint32 {
	sum := sha256.Sum256([]byte("labctl-vni/" + lab + "/" + role))
	v := uint32(sum[0])<<16 | uint32(sum[1])<<8 | uint32(sum[2])
	if v < 2 {
		v += 2
	}
	return v
}

// MAC derives the MAC of a node's NIC from the lab, node and role: stable
// across runs, different for another lab, locally administered and unicast.
func MAC(lab, node, role string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("labctl-mac/" + lab + "/" + node + "/" + role))
	mac := net.HardwareAddr{0x52, sum[0], sum[1], sum[2], sum[3], sum[4]}
	return mac
}

// New computes the plan for a validated topology. It fails only when derived
// values collide (two derived MACs equal), which validation cannot see.
func New(lab string, t *topology.Topology) (*Plan, error) {
	if err := topology.ValidateLabName(lab); err != nil {
		return nil, err
	}
	p := &Plan{
		Lab:     lab,
		Libvirt: Libvirt{URI: t.Libvirt.URI, Acceleration: t.Libvirt.Acceleration, Pool: t.Libvirt.Pool},
		Image:   t.Image,
		User:    t.User,
		Outside: Outside{Address: t.Outside.Address, HTTPURL: t.Outside.HTTPURL}, Isolated: t.Isolated,
		Docker: Docker{
			BridgeIP:        t.Docker.BridgeIP,
			SwarmPool:       AddressPool(t.Docker.SwarmPool),
			IPVlanL3Subnets: append([]string{}, t.Docker.IPVlanL3Subnets...),
			RegistryMirrors: t.Docker.RegistryMirrors,
		},
		VLANs: []VLAN{},
	}
	placement, problems := topology.Place(t)
	if len(problems) > 0 {
		return nil, problems
	}
	for i, h := range t.Hypervisors {
		p.Hypervisors = append(p.Hypervisors, Hypervisor{Name: h.Name, URI: h.URI, Address: h.Address, Identity: h.Identity, CPUs: h.CPUs, Gateway: i == 0, Nodes: []string{}})
	}
	for _, ap := range t.Docker.AddressPools {
		p.Docker.AddressPools = append(p.Docker.AddressPools, AddressPool(ap))
	}
	nets := []struct {
		role    string
		n       topology.Network
		forward string
	}{
		{RoleNAT, t.Networks.NAT, "nat"},
		{RoleHostOnly, t.Networks.HostOnly, "none"},
	}
	for _, n := range nets {
		pfx, err := netip.ParsePrefix(n.n.Subnet)
		if err != nil {
			return nil, fmt.Errorf("networks.%s.subnet: %w", n.role, err)
		}
		net := Net{
			Role: n.role, Name: NetworkName(lab, n.role), Bridge: BridgeName(lab, n.role),
			Forward: n.forward, Subnet: pfx.Masked().String(), Host: n.n.Host,
		}
		if n.n.DHCP != nil {
			net.DHCP = &Range{Start: n.n.DHCP.Start, End: n.n.DHCP.End}
		}
		p.Networks = append(p.Networks, net)
	}
	if len(t.Hypervisors) > 1 {
		p.Tunnels = &Tunnels{Port: t.Tunnels.Port, MTU: t.Tunnels.MTU}
		for i := range p.Networks {
			net := &p.Networks[i]
			net.MTU = t.Tunnels.MTU
			p.Tunnels.Segments = append(p.Tunnels.Segments, Segment{Role: net.Role, VNI: VNI(lab, net.Role), Device: TunnelDevice(lab, net.Role), Bridge: net.Bridge})
		}
		if s := p.Tunnels.Segments; s[0].VNI == s[1].VNI {
			s[1].VNI ^= 1
		}
	}
	for _, v := range t.VLANs {
		p.VLANs = append(p.VLANs, VLAN{ID: v.ID, Subnet: v.Subnet, Gateway: v.Gateway, Parent: v.Parent})
	}
	macs := map[string]string{}
	for ni, tn := range t.Nodes {
		mem, _ := tn.Memory.Bytes()
		disk, _ := tn.Disk.Bytes()
		n := Node{
			Name: tn.Name, Domain: DomainName(lab, tn.Name), Hostname: tn.Name,
			SSHAlias: tn.SSHAlias, Image: tn.Image, CPUs: tn.CPUs, CPUsAuto: tn.CPUsDefaulted(),
			MemoryMiB: mem >> 20, DiskGiB: (disk + 1<<30 - 1) >> 30,
			Labels: tn.Labels, VLANs: []SubIf{}, Hypervisor: placement[tn.Name],
		}
		for i := range p.Hypervisors {
			if h := &p.Hypervisors[i]; h.Name == n.Hypervisor {
				h.Nodes = append(h.Nodes, n.Name)
			}
		}
		if n.SSHAlias == "" {
			n.SSHAlias = tn.Name
		}
		if n.Image == "" {
			n.Image = t.Image
		}
		for i, spec := range []topology.NodeNIC{tn.NAT, tn.HostOnly} {
			net := &p.Networks[i]
			mac := MAC(lab, tn.Name, net.Role).String()
			if spec.MAC != "" {
				hw, err := parseMAC(spec.MAC)
				if err != nil {
					return nil, fmt.Errorf("node %s: %s MAC: %w", tn.Name, net.Role, err)
				}
				mac = hw
			}
			if other, dup := macs[mac]; dup {
				return nil, topology.Problems{t.ProblemAt(fmt.Sprintf("nodes[%d].%s.mac", ni, net.Role),
					"node %s's %s MAC %s equals %s's; set a MAC of its own here", tn.Name, net.Role, mac, other)}
			}
			macs[mac] = tn.Name + " " + net.Role
			pfx := netip.MustParsePrefix(net.Subnet)
			nic := NIC{
				Role: net.Role, Network: net.Name, MAC: mac,
				Address: netip.PrefixFrom(netip.MustParseAddr(spec.Address), pfx.Bits()).String(),
				Method:  "static",
			}
			if net.Role == RoleNAT {
				nic.Guest = t.Networks.NAT.NIC
				nic.Method = "dhcp"
				net.Reservations = append(net.Reservations, Reservation{Node: tn.Name, MAC: mac, Address: spec.Address})
				n.Routes = append(n.Routes, Route{To: "default", Via: net.Host, Dev: nic.Guest})
			} else {
				nic.Guest = t.Networks.HostOnly.NIC
			}
			n.NICs = append(n.NICs, nic)
		}
		for _, v := range t.VLANs {
			n.VLANs = append(n.VLANs, SubIf{Name: fmt.Sprintf("%s.%d", v.Parent, v.ID), Parent: v.Parent, ID: v.ID})
		}
		p.Nodes = append(p.Nodes, n)
	}
	return p, nil
}

func parseMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return "", err
	}
	return hw.String(), nil
}

// Node returns the planned node called name.
func (p *Plan) Node(name string) (*Node, bool) {
	for i := range p.Nodes {
		if p.Nodes[i].Name == name {
			return &p.Nodes[i], true
		}
	}
	return nil, false
}

// NIC returns the node's NIC with the given role.
func (n *Node) NIC(role string) *NIC {
	for i := range n.NICs {
		if n.NICs[i].Role == role {
			return &n.NICs[i]
		}
	}
	return nil
}

// Addr is the node's address on the network with the given role, without
// its prefix (192.168.242.11); "" when it has no NIC there or no address.
// The one way to get it: SSH, the ssh config, the seed's hosts file, Swarm
// and the labs all use it.
func (n *Node) Addr(role string) string {
	nic := n.NIC(role)
	if nic == nil {
		return ""
	}
	p, err := netip.ParsePrefix(nic.Address)
	if err != nil {
		return ""
	}
	return p.Addr().String()
}

// Net returns the lab network with the given role.
func (p *Plan) Net(role string) *Net {
	for i := range p.Networks {
		if p.Networks[i].Role == role {
			return &p.Networks[i]
		}
	}
	return nil
}

// Part is the share of a lab on one hypervisor: the whole lab (seeds list
// every node; names, pool and image are the lab's), the nodes that run
// there and the lab's networks as that hypervisor's libvirtd makes them.
type Part struct {
	Hypervisor Hypervisor
	Plan       *Plan  // the whole lab
	Nodes      []Node // the lab's nodes on this hypervisor
	Networks   []Net  // the lab's networks there: layer 2 only off the gateway
}

// Parts splits the plan by hypervisor, the gateway first. A lab without
// hypervisors is one part on one implicit hypervisor: Libvirt.URI, with no
// name. On a hypervisor other than the gateway the networks are layer 2
// only: no host address, no DHCP, no NAT (their bridges are joined to the
// gateway's by the tunnels).
func (p *Plan) Parts() []Part {
	if len(p.Hypervisors) == 0 {
		names := make([]string, 0, len(p.Nodes))
		for _, n := range p.Nodes {
			names = append(names, n.Name)
		}
		h := Hypervisor{Name: "", URI: p.Libvirt.URI, Gateway: true, Nodes: names}
		return []Part{{Hypervisor: h, Plan: p, Nodes: p.Nodes, Networks: p.Networks}}
	}
	var parts []Part
	for _, h := range p.Hypervisors {
		part := Part{Hypervisor: h, Plan: p, Networks: append([]Net(nil), p.Networks...)}
		for _, n := range p.Nodes {
			if n.Hypervisor == h.Name {
				part.Nodes = append(part.Nodes, n)
			}
		}
		if !h.Gateway {
			for i := range part.Networks {
				n := &part.Networks[i]
				n.Host, n.DHCP, n.Reservations, n.Forward = "", nil, nil, "none"
			}
		}
		parts = append(parts, part)
	}
	return parts
}

// Net is the part's view of the lab network of a role.
func (p Part) Net(role string) *Net {
	for i := range p.Networks {
		if p.Networks[i].Role == role {
			return &p.Networks[i]
		}
	}
	return nil
}

// Gateway is the hypervisor that holds the lab networks' host addresses:
// the one user's machine reaches the nodes through.
func (p *Plan) Gateway() Hypervisor {
	return p.Parts()[0].Hypervisor
}
