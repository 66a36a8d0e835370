package topology

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

var (
	labNameRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$`)
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	ifaceRE    = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]*$`)
	userRE     = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	poolRE     = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)
	aliasRE    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)
	labelRE    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)
)

// Size limits a node must stay within.
const (
	MinMemoryMiB = 256
	MaxMemoryMiB = 1 << 20 // 1 TiB
	MinDiskGiB   = 2
	MaxDiskGiB   = 16 << 10 // 16 TiB
	MaxCPUs      = 64
)

// ValidateLabName checks a lab name (the --lab flag): it becomes part of
// libvirt object names, bridge names and directory names.
func ValidateLabName(name string) error {
	if !labNameRE.MatchString(name) {
		return fmt.Errorf("--lab %q: a lab name is 1 to 24 lowercase letters, digits or '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// validator collects problems with their paths and lines.
type validator struct {
	t        *Topology
	problems Problems
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, v.t.problem(path, format, args...))
}

// problem is a problem at path, with the line of the closest enclosing
// path that the file mentions.
// ProblemAt is a problem with the field at path (nodes[1].nat.mac), tied
// to the file and the line of that field, or of its closest enclosing one:
// for what is found wrong later than validation (a derived value).
func (t *Topology) ProblemAt(path, format string, args ...any) Problem {
	return t.problem(path, format, args...)
}

func (t *Topology) problem(path, format string, args ...any) Problem {
	line := 0
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := t.lines[p]; ok {
			line = l
			break
		}
	}
	return Problem{File: t.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

// Validate checks a topology (after ApplyDefaults) and returns every problem
// it finds, each with the path of its field. It touches nothing outside the
// topology: clashes with the host's own networks are the preflight's job.
func Validate(t *Topology) Problems {
	v := &validator{t: t}
	v.libvirt()
	if t.Image == "" {
		v.add("image", "required: a catalogue name (see `labctl image ls`) or a path to a qcow2 file")
	}
	v.imageSpec("image", t.Image)
	for i, n := range t.Nodes {
		v.imageSpec(fmt.Sprintf("nodes[%d].image", i), n.Image)
	}
	if !userRE.MatchString(t.User) {
		v.add("user", "%q is not a valid Linux user name (lowercase letters, digits, '_' or '-', at most 32)", t.User)
	} else if t.User == "root" {
		v.add("user", "must not be root: labctl creates this user and logs in as it with sudo")
	}
	nat := v.network("networks.nat", t.Networks.NAT)
	ho := v.network("networks.hostonly", t.Networks.HostOnly)
	if t.Networks.NAT.NIC != "" && t.Networks.NAT.NIC == t.Networks.HostOnly.NIC {
		v.add("networks.hostonly.nic", "%q is already the NAT network's NIC; each network needs its own guest interface name", t.Networks.HostOnly.NIC)
	}
	v.vlans()
	v.nodes(nat, ho)
	v.hypervisors()
	v.subnets()
	v.outside()
	for i, m := range t.Docker.RegistryMirrors {
		if err := checkMirror(m); err != nil {
			v.add(fmt.Sprintf("docker.registry_mirrors[%d]", i), "%v", err)
		}
	}
	return v.problems
}

// imageSpec checks that an image given as a URL carries its checksum.
func (v *validator) imageSpec(path, s string) {
	if !strings.Contains(s, "://") {
		return
	}
	raw, frag, _ := strings.Cut(s, "#")
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(path, "%q is not an http(s) URL", raw)
	} else if !digestRE.MatchString(frag) {
		v.add(path, "a downloaded image needs its checksum: write %s#sha256:<64 hex digits> (or #sha512:...)", raw)
	}
}

var digestRE = regexp.MustCompile(`^(sha256[:=][0-9a-fA-F]{64}|sha512[:=][0-9a-fA-F]{128})$`)

func (v *validator) libvirt() {
	l := v.t.Libvirt
	if err := CheckLibvirtURI(l.URI); err != nil {
		v.add("libvirt.uri", "%v", err)
	}
	switch l.Acceleration {
	case "auto", "kvm", "qemu":
	default:
		v.add("libvirt.acceleration", "%q must be one of auto, kvm, qemu", l.Acceleration)
	}
	if !poolRE.MatchString(l.Pool) {
		v.add("libvirt.pool", "%q is not a valid storage pool name (letters, digits, '.', '_', '-')", l.Pool)
	}
}

// network checks one network and returns its subnet when it is valid.
func (v *validator) network(path string, n Network) *netip.Prefix {
	v.iface(path+".nic", n.NIC)
	pfx, ok := v.subnet(path+".subnet", n.Subnet)
	if !ok {
		return nil
	}
	if pfx.Bits() > 29 {
		v.add(path+".subnet", "%s is too small for a lab: use a /29 or larger (a /24 is usual)", pfx)
	}
	if h, ok := v.addr(path+".host", n.Host); ok {
		v.inside(path+".host", h, pfx)
	}
	if n.DHCP != nil {
		s, ok1 := v.addr(path+".dhcp.start", n.DHCP.Start)
		e, ok2 := v.addr(path+".dhcp.end", n.DHCP.End)
		if ok1 && ok2 {
			v.inside(path+".dhcp.start", s, pfx)
			v.inside(path+".dhcp.end", e, pfx)
			if e.Less(s) {
				v.add(path+".dhcp", "start %s comes after end %s", s, e)
			}
			if h, err := netip.ParseAddr(n.Host); err == nil && !h.Less(s) && !e.Less(h) {
				v.add(path+".dhcp", "range %s-%s contains the host address %s", s, e, h)
			}
		}
	}
	return &pfx
}

// subnet parses an IPv4 network in CIDR form that must be a network address.
func (v *validator) subnet(path, s string) (netip.Prefix, bool) {
	if s == "" {
		v.add(path, "required: an IPv4 subnet such as 192.168.241.0/24")
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		v.add(path, "%q is not an IPv4 subnet in CIDR form such as 192.168.241.0/24", s)
		return netip.Prefix{}, false
	}
	if p.Masked() != p {
		v.add(path, "%s has host bits set; did you mean %s?", p, p.Masked())
		return netip.Prefix{}, false
	}
	if what := reservedRange(p); what != "" {
		v.add(path, "%s is in %s, which no lab network can use: choose a private range such as 192.168.241.0/24", p, what)
		return netip.Prefix{}, false
	}
	return p, true
}

// reserved are IPv4 ranges that are no network of hosts.
var reserved = []struct {
	pfx  netip.Prefix
	what string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "0.0.0.0/8 (this network)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "127.0.0.0/8 (loopback)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "169.254.0.0/16 (link-local, where cloud metadata lives)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "224.0.0.0/4 (multicast)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "240.0.0.0/4 (reserved, and the broadcast address)"},
}

// reservedRange names the reserved range p overlaps, or "".
func reservedRange(p netip.Prefix) string {
	for _, r := range reserved {
		if r.pfx.Overlaps(p) {
			return r.what
		}
	}
	return ""
}

func (v *validator) addr(path, s string) (netip.Addr, bool) {
	if s == "" {
		v.add(path, "required: an IPv4 address")
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		v.add(path, "%q is not an IPv4 address", s)
		return netip.Addr{}, false
	}
	return a, true
}

// inside checks that a is a usable host address of p, and not gw.
func (v *validator) inside(path string, a netip.Addr, p netip.Prefix) bool {
	switch {
	case !p.Contains(a):
		v.add(path, "%s is outside the subnet %s", a, p)
	case a == p.Addr():
		v.add(path, "%s is the network address of %s", a, p)
	case a == broadcast(p):
		v.add(path, "%s is the broadcast address of %s", a, p)
	default:
		return true
	}
	return false
}

func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// iface checks a guest interface name; room is the length a suffix will add.
func (v *validator) iface(path, name string) {
	switch {
	case name == "":
		v.add(path, "required: the guest interface name, e.g. ens33")
	case len(name) > 15:
		v.add(path, "%q is %d characters; Linux interface names have at most 15", name, len(name))
	case !ifaceRE.MatchString(name):
		v.add(path, "%q is not a valid interface name (a letter, then letters, digits, '_' or '-')", name)
	}
}

func (v *validator) vlans() {
	seen := map[int]int{}
	nics := map[string]bool{v.t.Networks.NAT.NIC: true, v.t.Networks.HostOnly.NIC: true}
	for i, vl := range v.t.VLANs {
		p := fmt.Sprintf("vlans[%d]", i)
		validID := vl.ID >= 1 && vl.ID <= 4094
		if !validID {
			v.add(p+".id", "%d is outside 1..4094", vl.ID)
		} else if j, dup := seen[vl.ID]; dup {
			v.add(p+".id", "VLAN %d is already defined at vlans[%d]", vl.ID, j)
		} else {
			seen[vl.ID] = i
		}
		if vl.Parent == "" {
			v.add(p+".parent", "required: the guest NIC carrying the VLAN, e.g. %s", v.t.Networks.NAT.NIC)
		} else if !nics[vl.Parent] {
			v.add(p+".parent", "%q is not a NIC of the lab (networks.nat.nic %q or networks.hostonly.nic %q)", vl.Parent, v.t.Networks.NAT.NIC, v.t.Networks.HostOnly.NIC)
		} else if sub := vl.Parent + "." + strconv.Itoa(vl.ID); validID && len(sub) > 15 {
			v.add(p+".parent", "sub-interface %q would be %d characters; Linux allows 15, so shorten the NIC name", sub, len(sub))
		}
		if pfx, ok := v.subnet(p+".subnet", vl.Subnet); ok {
			if gw, ok := v.addr(p+".gateway", vl.Gateway); ok {
				v.inside(p+".gateway", gw, pfx)
			}
		}
	}
}

func (v *validator) nodes(nat, ho *netip.Prefix) {
	t := v.t
	if len(t.Nodes) == 0 {
		v.add("nodes", "a lab needs at least one node")
	}
	names := map[string]string{}
	aliases := map[string]string{}
	addrs := map[netip.Addr]string{}
	macs := map[string]string{}
	for i, n := range t.Nodes {
		p := fmt.Sprintf("nodes[%d]", i)
		dupName := false
		switch {
		case n.Name == "":
			v.add(p+".name", "required")
		case !hostnameRE.MatchString(n.Name):
			v.add(p+".name", "%q is not a valid host name: lowercase letters, digits and '-', at most 63, not starting or ending with '-'", n.Name)
		case names[n.Name] != "":
			v.add(p+".name", "%q is already used by %s", n.Name, names[n.Name])
			dupName = true
		default:
			names[n.Name] = p
		}
		if n.SSHAlias != "" && !aliasRE.MatchString(n.SSHAlias) {
			v.add(p+".ssh_alias", "%q is not usable as an ssh Host alias (letters, digits, '.', '_', '-'; no wildcards)", n.SSHAlias)
		} else if strings.HasPrefix(n.SSHAlias, "labctl-") || strings.HasPrefix(n.Name, "labctl-") && n.SSHAlias == "" {
			v.add(p+".ssh_alias", "%q: aliases starting with labctl- are labctl's own (the gateway hypervisor's, in the lab's ssh config); choose another", alias(n))
		}
		alias := alias(n)
		if prev, dup := aliases[alias]; !dup {
			aliases[alias] = p
		} else if alias != "" && !(dupName && n.SSHAlias == "") {
			v.add(p+".ssh_alias", "alias %q is already used by %s", alias, prev)
		}
		if n.CPUs < 1 || n.CPUs > MaxCPUs {
			v.add(p+".cpus", "%d is outside 1..%d", n.CPUs, MaxCPUs)
		}
		if b, err := n.Memory.Bytes(); err != nil {
			v.add(p+".memory", "%v", err)
		} else if mib := b >> 20; mib < MinMemoryMiB || mib > MaxMemoryMiB {
			v.add(p+".memory", "%s is outside %dMiB..1TiB (Docker needs at least %dMiB)", n.Memory, MinMemoryMiB, MinMemoryMiB)
		}
		if b, err := n.Disk.Bytes(); err != nil {
			v.add(p+".disk", "%v", err)
		} else if gib := b >> 30; gib < MinDiskGiB || gib > MaxDiskGiB {
			v.add(p+".disk", "%s is outside %dGiB..16TiB", n.Disk, MinDiskGiB)
		}
		for j, l := range n.Labels {
			if !labelRE.MatchString(l) {
				v.add(fmt.Sprintf("%s.labels[%d]", p, j), "%q is not a valid label (letters, digits, '.', '_', '-')", l)
			}
		}
		v.nodeNIC(p+".nat", n.NAT, nat, t.Networks.NAT, addrs, macs)
		v.nodeNIC(p+".hostonly", n.HostOnly, ho, t.Networks.HostOnly, addrs, macs)
	}
}

func (v *validator) nodeNIC(p string, nic NodeNIC, subnet *netip.Prefix, n Network, addrs map[netip.Addr]string, macs map[string]string) {
	if a, ok := v.addr(p+".address", nic.Address); ok && subnet != nil {
		if v.inside(p+".address", a, *subnet) {
			if h, err := netip.ParseAddr(n.Host); err == nil && a == h {
				v.add(p+".address", "%s is the host's (gateway's) address", a)
			} else if r := n.DHCP; r != nil && inRange(a, r) {
				v.add(p+".address", "%s is inside the DHCP range %s-%s; fixed addresses must stay outside it", a, r.Start, r.End)
			}
		}
		if prev, dup := addrs[a]; dup {
			v.add(p+".address", "%s is already used by %s", a, prev)
		} else {
			addrs[a] = p + ".address"
		}
	}
	if nic.MAC == "" {
		return
	}
	hw, err := net.ParseMAC(nic.MAC)
	if err != nil || len(hw) != 6 {
		v.add(p+".mac", "%q is not a MAC address such as 52:54:00:12:34:56", nic.MAC)
		return
	}
	if hw[0]&1 == 1 {
		v.add(p+".mac", "%s is a multicast address; a NIC needs a unicast one (even first octet)", hw)
		return
	}
	if prev, dup := macs[hw.String()]; dup {
		v.add(p+".mac", "%s is already used by %s", hw, prev)
	} else {
		macs[hw.String()] = p + ".mac"
	}
}

func inRange(a netip.Addr, r *Range) bool {
	s, err1 := netip.ParseAddr(r.Start)
	e, err2 := netip.ParseAddr(r.End)
	return err1 == nil && err2 == nil && !a.Less(s) && !e.Less(a)
}

// subnets checks that no two of the lab's networks and Docker's pools
// overlap: a container network that overlaps a node network makes part of
// that network unreachable from the containers.
func (v *validator) subnets() {
	type named struct {
		path string
		pfx  netip.Prefix
	}
	var all []named
	addNet := func(path, s string) {
		if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
			all = append(all, named{path, p.Masked()})
		}
	}
	addNet("networks.nat.subnet", v.t.Networks.NAT.Subnet)
	addNet("networks.hostonly.subnet", v.t.Networks.HostOnly.Subnet)
	for i, vl := range v.t.VLANs {
		addNet(fmt.Sprintf("vlans[%d].subnet", i), vl.Subnet)
	}
	d := v.t.Docker
	if d.BridgeIP == "" {
		v.add("docker.bridge_ip", "required: docker0's address and prefix, e.g. 172.17.0.1/16")
	} else if p, err := netip.ParsePrefix(d.BridgeIP); err != nil || !p.Addr().Is4() {
		v.add("docker.bridge_ip", "%q is not an address with prefix such as 172.17.0.1/16", d.BridgeIP)
	} else if p.Addr() == p.Masked().Addr() || p.Addr() == broadcast(p) {
		v.add("docker.bridge_ip", "%s must be docker0's own address (e.g. %s), not the network or broadcast address", p, nth(p, 1))
	} else {
		all = append(all, named{"docker.bridge_ip", p.Masked()})
	}
	pool := func(path string, ap AddressPool) {
		if p, ok := v.subnet(path+".base", ap.Base); ok {
			if ap.Size < p.Bits() || ap.Size > 30 {
				v.add(path+".size", "%d must be between the base's prefix length %d and 30", ap.Size, p.Bits())
			}
			all = append(all, named{path + ".base", p})
		}
	}
	for i, ap := range d.AddressPools {
		pool(fmt.Sprintf("docker.address_pools[%d]", i), ap)
	}
	pool("docker.swarm_pool", d.SwarmPool)
	for i, s := range d.IPVlanL3Subnets {
		if p, ok := v.subnet(fmt.Sprintf("docker.ipvlan_l3_subnets[%d]", i), s); ok {
			all = append(all, named{fmt.Sprintf("docker.ipvlan_l3_subnets[%d]", i), p})
		}
	}
	for i := range all {
		for j := 0; j < i; j++ {
			if all[i].pfx.Overlaps(all[j].pfx) {
				v.add(all[i].path, "%s overlaps %s (%s)", all[i].pfx, all[j].path, all[j].pfx)
			}
		}
	}
}

func (v *validator) outside() {
	o := v.t.Outside
	a, ok := v.addr("outside.address", o.Address)
	if ok {
		subnets := []struct{ path, subnet string }{
			{"networks.nat.subnet", v.t.Networks.NAT.Subnet},
			{"networks.hostonly.subnet", v.t.Networks.HostOnly.Subnet},
		}
		for i, vl := range v.t.VLANs {
			subnets = append(subnets, struct{ path, subnet string }{fmt.Sprintf("vlans[%d].subnet", i), vl.Subnet})
		}
		for _, s := range subnets {
			if p, err := netip.ParsePrefix(s.subnet); err == nil && p.Masked().Contains(a) {
				v.add("outside.address", "%s is inside the lab's own %s (%s); outside means beyond the NAT gateway", a, s.path, p)
			}
		}
	}
	if o.HTTPURL != "" {
		if u, err := url.Parse(o.HTTPURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("outside.http_url", "%q is not an http:// or https:// URL", o.HTTPURL)
		}
	}
}

// alias is a node's ssh alias: its ssh_alias, else its name.
func alias(n Node) string {
	if n.SSHAlias != "" {
		return n.SSHAlias
	}
	return n.Name
}
