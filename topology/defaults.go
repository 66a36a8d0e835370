package topology

import (
	"fmt"
	"net/netip"
)

// Defaults used for fields a topology file leaves out.
const (
	DefaultURI          = "qemu:///system"
	DefaultAcceleration = "auto"
	DefaultPool         = "labctl"
	// DefaultImage is the image of a topology that names none: the
	// Docker-ready image (Docker installed at build time), which `up`
	// trades for PlainImage with Docker from the offline bundle when the
	// cache lacks it (lab.Up says which, and why).
	DefaultImage = "debian-12-docker"
	// PlainImage is Debian without Docker, the fallback of DefaultImage.
	PlainImage    = "debian-12"
	DefaultUser   = "lab"
	DefaultCPUs   = 1
	DefaultMemory = Size("1GiB")
	DefaultDisk   = Size("10GiB")
	// DefaultTunnelPort is the VXLAN port between hypervisors: not 4789
	// (IANA's, which Swarm's overlay uses inside the nodes and a
	// hypervisor running Docker may hold), not 8472 (Linux's and
	// flannel's).
	DefaultTunnelPort = 4792
	// DefaultTunnelMTU leaves VXLAN's 50 bytes on a 1500-byte LAN.
	DefaultTunnelMTU = 1450
)

// has reports whether the file set the field at path (explicitly, even to a
// zero value). Defaults only fill what the file left out, so `cpus: 0` is
// still reported as a problem rather than silently replaced.
func (t *Topology) has(path string) bool {
	_, ok := t.lines[path]
	return ok
}

// ImageDefaulted reports whether the image is DefaultImage because the
// file named none (ApplyDefaults), so that `up` may fall back to
// PlainImage; an image the file names is used as it is.
func (t *Topology) ImageDefaulted() bool { return t.imageDefaulted }

// CPUsDefaulted reports whether the node's cpus are DefaultCPUs because
// the file left them out (ApplyDefaults): then `up` may give the node more
// where the hypervisor has CPUs to spare (plan.Node.CPUsAuto).
func (n Node) CPUsDefaulted() bool { return n.cpusDefaulted }

// SetCPUs sets the node's cpus as a file would: up gives it those.
func (n *Node) SetCPUs(c int) { n.CPUs, n.cpusDefaulted = c, false }

// SetImage names the image as a file would: up boots it, with no fallback.
func (t *Topology) SetImage(name string) { t.Image, t.imageDefaulted = name, false }

// ApplyDefaults fills every field the file left out: the top-level sections
// from the embedded default, node addresses from the network subnets
// (host part 11, 12, ... in node order), the gateway and host addresses from
// the subnet. It never overrides what the file says.
func ApplyDefaults(t *Topology) {
	d := Default()
	set := func(path string, dst *string, v string) {
		if *dst == "" && !t.has(path) {
			*dst = v
		}
	}
	set("libvirt.uri", &t.Libvirt.URI, DefaultURI)
	set("libvirt.acceleration", &t.Libvirt.Acceleration, DefaultAcceleration)
	set("libvirt.pool", &t.Libvirt.Pool, DefaultPool)
	if t.Image == "" && !t.has("image") {
		t.Image, t.imageDefaulted = DefaultImage, true
	}
	set("user", &t.User, DefaultUser)

	defaultNetwork(t, "networks.nat", &t.Networks.NAT, d.Networks.NAT, 2)
	defaultNetwork(t, "networks.hostonly", &t.Networks.HostOnly, d.Networks.HostOnly, 1)

	if t.VLANs == nil && !t.has("vlans") {
		// The default VLANs ride on the NAT NIC, whatever it is called.
		t.VLANs = d.VLANs
		for i := range t.VLANs {
			t.VLANs[i].Parent = t.Networks.NAT.NIC
		}
	}
	for i := range t.VLANs {
		v := &t.VLANs[i]
		p := fmt.Sprintf("vlans[%d]", i)
		set(p+".parent", &v.Parent, t.Networks.NAT.NIC)
		if pfx, err := parse4(v.Subnet); err == nil && v.Gateway == "" && !t.has(p+".gateway") {
			v.Gateway = nth(pfx, 1).String()
		}
	}

	if t.Nodes == nil && !t.has("nodes") {
		t.Nodes = d.Nodes
	}
	natNet, natErr := parse4(t.Networks.NAT.Subnet)
	hoNet, hoErr := parse4(t.Networks.HostOnly.Subnet)
	for i := range t.Nodes {
		n := &t.Nodes[i]
		p := fmt.Sprintf("nodes[%d]", i)
		if n.CPUs == 0 && !t.has(p+".cpus") {
			n.CPUs, n.cpusDefaulted = DefaultCPUs, true
		}
		if n.Memory == "" && !t.has(p+".memory") {
			n.Memory = DefaultMemory
		}
		if n.Disk == "" && !t.has(p+".disk") {
			n.Disk = DefaultDisk
		}
		if natErr == nil {
			set(p+".nat.address", &n.NAT.Address, nth(natNet.Masked(), 11+i).String())
		}
		if hoErr == nil {
			set(p+".hostonly.address", &n.HostOnly.Address, nth(hoNet.Masked(), 11+i).String())
		}
	}

	set("docker.bridge_ip", &t.Docker.BridgeIP, d.Docker.BridgeIP)
	if t.Docker.AddressPools == nil && !t.has("docker.address_pools") {
		t.Docker.AddressPools = d.Docker.AddressPools
	}
	if !t.has("docker.swarm_pool") {
		t.Docker.SwarmPool = d.Docker.SwarmPool
	}
	if t.Docker.IPVlanL3Subnets == nil && !t.has("docker.ipvlan_l3_subnets") {
		t.Docker.IPVlanL3Subnets = d.Docker.IPVlanL3Subnets
	}
	set("outside.address", &t.Outside.Address, d.Outside.Address)
	if t.Tunnels.Port == 0 && !t.has("tunnels.port") {
		t.Tunnels.Port = DefaultTunnelPort
	}
	if t.Tunnels.MTU == 0 && !t.has("tunnels.mtu") {
		t.Tunnels.MTU = DefaultTunnelMTU
	}
}

// defaultNetwork fills a network: all of it from the default when the file
// gives no subnet, otherwise the host address (host part hostPart) and a
// small DHCP range at .200-.219 from the subnet the file gives.
func defaultNetwork(t *Topology, path string, n *Network, d Network, hostPart int) {
	if n.Subnet == "" && !t.has(path+".subnet") {
		n.Subnet = d.Subnet
		if n.Host == "" && !t.has(path+".host") {
			n.Host = d.Host
		}
		if n.DHCP == nil && !t.has(path+".dhcp") {
			n.DHCP = d.DHCP
		}
	}
	if n.NIC == "" && !t.has(path+".nic") {
		n.NIC = d.NIC
	}
	pfx, err := netip.ParsePrefix(n.Subnet)
	if err != nil || !pfx.Addr().Is4() {
		return
	}
	pfx = pfx.Masked()
	if n.Host == "" && !t.has(path+".host") {
		n.Host = nth(pfx, hostPart).String()
	}
	if n.DHCP == nil && !t.has(path+".dhcp") && d.DHCP != nil && pfx.Bits() <= 24 {
		n.DHCP = &Range{Start: nth(pfx, 200).String(), End: nth(pfx, 219).String()}
	}
}

// parse4 parses an IPv4 prefix.
func parse4(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err == nil && !p.Addr().Is4() {
		err = fmt.Errorf("%s is not IPv4", s)
	}
	return p, err
}

// nth returns the address i places after the start of p.
func nth(p netip.Prefix, i int) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
