package plan

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Host is what the preflight compares the plan with: the host's interface
// addresses and routes, and the networks libvirt already has.
type Host struct {
	Addrs   []HostAddr
	Routes  []HostRoute
	Libvirt []LibvirtNet
}

// HostAddr is an address configured on a host interface.
type HostAddr struct {
	Iface  string
	Prefix netip.Prefix // address with its prefix length, e.g. 192.168.1.5/16
}

// HostRoute is an IPv4 route of the host.
type HostRoute struct {
	Iface string
	Dst   netip.Prefix
}

// LibvirtNet is a network libvirt already defines.
type LibvirtNet struct {
	Name    string
	Bridge  string
	Subnets []netip.Prefix
}

// Clash is one of the lab's subnets that is already in use on the host.
type Clash struct {
	Path    string `json:"path"`    // topology field, e.g. networks.nat.subnet
	Subnet  string `json:"subnet"`  // the lab's subnet
	With    string `json:"with"`    // what it clashes with, in words
	Suggest string `json:"suggest"` // a free subnet of the same size, or ""
}

func (c Clash) String() string {
	s := fmt.Sprintf("%s: %s clashes with %s", c.Path, c.Subnet, c.With)
	if c.Suggest != "" {
		s += fmt.Sprintf("; %s is free: set %s: %s in your topology file (start from `labctl topology default`)", c.Suggest, c.Path, c.Suggest)
	}
	return s
}

// ClashError is returned when the preflight finds clashes.
type ClashError []Clash

func (e ClashError) Error() string {
	parts := make([]string, len(e))
	for i, c := range e {
		parts[i] = c.String()
	}
	return "the lab's networks clash with networks already in use on this host:\n  " + strings.Join(parts, "\n  ")
}

// Preflight compares the plan's host-facing subnets (the NAT and host-only
// networks, which the host gets an address and a route for) with the host.
// Anything that belongs to this lab itself (its own bridges and libvirt
// networks, from an earlier `labctl up`) is not a clash. The default route
// is not a clash either; any other overlap is, in either direction: a lab
// /24 inside a host /16 clashes, and so does a host /28 inside a lab /24.
func Preflight(p *Plan, h Host) []Clash {
	own := map[string]bool{}
	for _, n := range p.Networks {
		own[n.Bridge] = true
		own["libvirt:"+n.Name] = true
	}
	type used struct {
		pfx  netip.Prefix
		what string
	}
	var inUse []used
	for _, a := range h.Addrs {
		if own[a.Iface] || !a.Prefix.Addr().Is4() || a.Prefix.Addr().IsLoopback() {
			continue
		}
		inUse = append(inUse, used{a.Prefix.Masked(), fmt.Sprintf("interface %s (%s)", a.Iface, a.Prefix)})
	}
	for _, r := range h.Routes {
		if own[r.Iface] || r.Dst.Bits() == 0 || !r.Dst.Addr().Is4() {
			continue
		}
		inUse = append(inUse, used{r.Dst.Masked(), fmt.Sprintf("route %s dev %s", r.Dst, r.Iface)})
	}
	var clashes []Clash
	for _, n := range h.Libvirt {
		if !own["libvirt:"+n.Name] && own[n.Bridge] {
			for _, pn := range p.Networks {
				if pn.Bridge == n.Bridge {
					clashes = append(clashes, Clash{Path: "networks." + pn.Role, Subnet: pn.Subnet,
						With: fmt.Sprintf("libvirt network %s, whose bridge %s is the name lab %s's %s bridge derives to (the two lab names collide): bring the lab up under another --lab", n.Name, n.Bridge, p.Lab, pn.Role)})
				}
			}
		}
		if own["libvirt:"+n.Name] || own[n.Bridge] {
			continue
		}
		for _, s := range n.Subnets {
			inUse = append(inUse, used{s.Masked(), fmt.Sprintf("libvirt network %s (%s)", n.Name, s)})
		}
	}

	// Everything a suggestion must avoid: what the host uses plus all of
	// the lab's own subnets and pools.
	avoid := make([]netip.Prefix, 0, len(inUse)+8)
	for _, u := range inUse {
		avoid = append(avoid, u.pfx)
	}
	avoid = append(avoid, labPrefixes(p)...)

	for _, n := range p.Networks {
		pfx, err := netip.ParsePrefix(n.Subnet)
		if err != nil {
			continue
		}
		var with []string
		for _, u := range inUse {
			if u.pfx.Overlaps(pfx) {
				with = append(with, u.what)
			}
		}
		if len(with) == 0 {
			continue
		}
		sort.Strings(with)
		c := Clash{Path: "networks." + n.Role + ".subnet", Subnet: pfx.String(), With: strings.Join(dedup(with), ", ")}
		if s, ok := FreeSubnet(pfx, avoid); ok {
			c.Suggest = s.String()
			avoid = append(avoid, s) // two clashes get two different suggestions
		}
		clashes = append(clashes, c)
	}
	return clashes
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// labPrefixes lists every subnet and pool the lab uses.
func labPrefixes(p *Plan) []netip.Prefix {
	var out []netip.Prefix
	add := func(s string) {
		if pfx, err := netip.ParsePrefix(s); err == nil {
			out = append(out, pfx.Masked())
		}
	}
	for _, n := range p.Networks {
		add(n.Subnet)
	}
	for _, v := range p.VLANs {
		add(v.Subnet)
	}
	add(p.Docker.BridgeIP)
	for _, ap := range p.Docker.AddressPools {
		add(ap.Base)
	}
	add(p.Docker.SwarmPool.Base)
	for _, s := range p.Docker.IPVlanL3Subnets {
		add(s)
	}
	return out
}

// privateRanges are searched, in order, for a free subnet.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
}

// FreeSubnet finds a private subnet of the same size as want that overlaps
// nothing in avoid. It searches from just after want, so the suggestion
// stays close to what the user chose.
func FreeSubnet(want netip.Prefix, avoid []netip.Prefix) (netip.Prefix, bool) {
	bits := want.Bits()
	free := func(c netip.Prefix) bool {
		for _, a := range avoid {
			if a.Overlaps(c) {
				return false
			}
		}
		return true
	}
	for _, r := range privateRanges {
		if bits < r.Bits() {
			continue
		}
		n := uint32(1) << (bits - r.Bits()) // candidates in this range
		step := uint32(1) << (32 - bits)
		base := u32(r.Addr())
		start := uint32(0)
		if r.Contains(want.Addr()) {
			start = (u32(want.Masked().Addr()) - base) / step
		}
		for i := uint32(0); i < n && i < 1<<16; i++ {
			idx := (start + 1 + i) % n
			c := netip.PrefixFrom(a4(base+idx*step), bits)
			if free(c) {
				return c, true
			}
		}
	}
	return netip.Prefix{}, false
}

// Nth returns the address with host part i in subnet (Nth("10.0.0.0/24",
// 92) is 10.0.0.92). subnet must be a valid IPv4 prefix, as in a plan.
func Nth(subnet string, i int) string {
	p := netip.MustParsePrefix(subnet).Masked()
	return a4(u32(p.Addr()) + uint32(i)).String()
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func a4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
