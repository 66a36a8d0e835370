// Hypervisors: a lab spread over several libvirt hosts, and where each
// node goes.

package topology

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// Placement maps each node name to the hypervisor it runs on. It is empty
// for a lab without hypervisors.
type Placement map[string]string

// Place puts every node on a hypervisor: a node that names one goes
// there; the others go, in file order, to the hypervisor with the fewest
// of the lab's nodes so far among those with room left for the node
// (vCPUs and memory within the hypervisor's capacity, when it has one),
// ties going to the one listed first. A node that fits nowhere is a
// problem with its path. Place assumes names and sizes were validated.
func Place(t *Topology) (Placement, Problems) {
	if len(t.Hypervisors) == 0 {
		return Placement{}, nil
	}
	rooms := map[string]*room{}
	order := []*room{}
	for _, h := range t.Hypervisors {
		r := &room{hypervisor: h.Name, capCPUs: int64(max(h.CPUs, 0))}
		if h.Memory != "" {
			if b, err := h.Memory.Bytes(); err == nil {
				r.capMiB = int64(b >> 20)
			}
		}
		rooms[h.Name] = r
		order = append(order, r)
	}
	fits := func(r *room, cpus, mib int64) bool {
		return (r.capCPUs == 0 || r.usedCPUs+cpus <= r.capCPUs) && (r.capMiB == 0 || r.usedMiB+mib <= r.capMiB)
	}
	take := func(r *room, cpus, mib int64) {
		r.usedCPUs += cpus
		r.usedMiB += mib
		r.nodes++
	}
	var problems Problems
	add := func(path, format string, args ...any) {
		problems = append(problems, t.problem(path, format, args...))
	}
	size := func(n Node) (int64, int64) {
		b, _ := n.Memory.Bytes()
		return int64(n.CPUs), int64(b >> 20)
	}
	pl := Placement{}
	// Pinned nodes first: they have no choice.
	for i, n := range t.Nodes {
		if n.Hypervisor == "" {
			continue
		}
		r, ok := rooms[n.Hypervisor]
		if !ok {
			continue // reported by validation
		}
		cpus, mib := size(n)
		if !fits(r, cpus, mib) {
			add(fmt.Sprintf("nodes[%d].hypervisor", i), "node %s (%d vCPUs, %d MiB) does not fit on %s: %s", n.Name, cpus, mib, r.hypervisor, r.left())
		}
		take(r, cpus, mib)
		pl[n.Name] = n.Hypervisor
	}
	for i, n := range t.Nodes {
		if n.Hypervisor != "" {
			continue
		}
		cpus, mib := size(n)
		var best *room
		for _, r := range order {
			if fits(r, cpus, mib) && (best == nil || r.nodes < best.nodes) {
				best = r
			}
		}
		if best == nil {
			var why []string
			for _, r := range order {
				why = append(why, r.hypervisor+": "+r.left())
			}
			add(fmt.Sprintf("nodes[%d]", i), "node %s (%d vCPUs, %d MiB) fits on no hypervisor (%s); raise a hypervisor's cpus or memory, add a hypervisor, or make the node smaller", n.Name, cpus, mib, strings.Join(why, "; "))
			continue
		}
		take(best, cpus, mib)
		pl[n.Name] = best.hypervisor
	}
	return pl, problems
}

// room is what a hypervisor has left while nodes are placed.
type room struct {
	capCPUs, capMiB   int64 // 0: unlimited
	usedCPUs, usedMiB int64
	nodes             int
	hypervisor        string
}

// left says what a hypervisor has left, for messages.
func (r *room) left() string {
	var s []string
	if r.capCPUs > 0 {
		s = append(s, fmt.Sprintf("%d of %d vCPUs left", max(r.capCPUs-r.usedCPUs, 0), r.capCPUs))
	}
	if r.capMiB > 0 {
		s = append(s, fmt.Sprintf("%d of %d MiB left", max(r.capMiB-r.usedMiB, 0), r.capMiB))
	}
	if len(s) == 0 {
		return "no capacity limit"
	}
	return strings.Join(s, ", ")
}

// hypervisors checks the hypervisors list, the tunnels and each node's
// hypervisor.
func (v *validator) hypervisors() {
	t := v.t
	if len(t.Hypervisors) == 0 {
		for i, n := range t.Nodes {
			if n.Hypervisor != "" {
				v.add(fmt.Sprintf("nodes[%d].hypervisor", i), "%q: the topology lists no hypervisors; add a hypervisors: list or remove this field", n.Hypervisor)
			}
		}
		return
	}
	if t.has("libvirt.uri") {
		v.add("libvirt.uri", "a topology with hypervisors gives each its own uri (hypervisors[].uri); remove libvirt.uri")
	}
	names := map[string]string{}
	uris := map[string]string{}
	addrs := map[netip.Addr]string{}
	for i, h := range t.Hypervisors {
		p := fmt.Sprintf("hypervisors[%d]", i)
		switch {
		case h.Name == "":
			v.add(p+".name", "required: a short name such as hv1")
		case !hostnameRE.MatchString(h.Name) || len(h.Name) > 24:
			v.add(p+".name", "%q is not a valid hypervisor name: lowercase letters, digits and '-', at most 24", h.Name)
		case names[h.Name] != "":
			v.add(p+".name", "%q is already the name of %s", h.Name, names[h.Name])
		default:
			names[h.Name] = p
		}
		if err := CheckLibvirtURI(h.URI); err != nil {
			v.add(p+".uri", "%v", err)
		} else if strings.HasPrefix(h.URI, "test:") || strings.HasSuffix(h.URI, "/session") {
			v.add(p+".uri", "%s: a hypervisor is a system libvirtd (…/system): session daemons cannot create the lab's bridges", Quote(h.URI))
		} else if prev, dup := uris[sameLibvirtd(h.URI)]; dup {
			v.add(p+".uri", "%s reaches the same libvirtd as %s: one libvirtd is one hypervisor", Quote(h.URI), prev)
		} else {
			uris[sameLibvirtd(h.URI)] = p
		}
		if len(t.Hypervisors) > 1 || h.Address != "" {
			a, err := netip.ParseAddr(h.Address)
			switch {
			case h.Address == "":
				v.add(p+".address", "required with two or more hypervisors: the IPv4 address the other hypervisors reach this one at (the VXLAN tunnels run between these)")
			case err != nil || !a.Is4():
				v.add(p+".address", "%s is not an IPv4 address", Quote(h.Address))
			case a.IsLoopback() || a.IsUnspecified() || a.IsMulticast() || a.IsLinkLocalUnicast() || reservedRange(netip.PrefixFrom(a, 32)) != "":
				v.add(p+".address", "%s cannot carry tunnels between hosts: use an address on the hypervisors' LAN", h.Address)
			case v.inLab(a) != "":
				v.add(p+".address", "%s is inside the lab's own %s: tunnels run on the hypervisors' LAN, under the lab's networks", h.Address, v.inLab(a))
			case addrs[a] != "":
				v.add(p+".address", "%s is already the address of %s", h.Address, addrs[a])
			default:
				addrs[a] = p
			}
		}
		if h.CPUs < 0 || h.CPUs > 4096 {
			v.add(p+".cpus", "%d: a capacity is 0 (unlimited) to 4096", h.CPUs)
		}
		if h.Memory != "" {
			if b, err := h.Memory.Bytes(); err != nil {
				v.add(p+".memory", "%v", err)
			} else if b < 1<<20 || b > 1<<50 {
				v.add(p+".memory", "%s is outside 1MiB..1PiB; leave memory out for no limit", h.Memory)
			}
		}
		if strings.ContainsAny(h.Identity, "\n\r") {
			v.add(p+".identity", "a file name on one line")
		}
	}
	local := 0
	for _, h := range t.Hypervisors {
		if strings.HasPrefix(h.URI, "qemu:///") {
			local++
		}
	}
	if local > 1 {
		v.add("hypervisors", "%d hypervisors are this machine (qemu:///system); at most one can be", local)
	}
	for i, n := range t.Nodes {
		if n.Hypervisor != "" && names[n.Hypervisor] == "" {
			known := make([]string, 0, len(t.Hypervisors))
			for _, h := range t.Hypervisors {
				known = append(known, h.Name)
			}
			v.add(fmt.Sprintf("nodes[%d].hypervisor", i), "%q is not a hypervisor of this topology (%s)", n.Hypervisor, strings.Join(known, ", "))
		}
	}
	if len(t.Hypervisors) > 1 {
		if t.Tunnels.Port < 1 || t.Tunnels.Port > 65535 {
			v.add("tunnels.port", "%d is outside 1..65535", t.Tunnels.Port)
		} else if t.Tunnels.Port == 4789 {
			v.add("tunnels.port", "4789 is VXLAN's IANA port, which Swarm's overlay uses inside the nodes and Docker on a hypervisor may hold; choose another (default %d)", DefaultTunnelPort)
		} else if what := wellKnownPort(t.Tunnels.Port); what != "" {
			v.add("tunnels.port", "%d is %s: choose another (default %d)", t.Tunnels.Port, what, DefaultTunnelPort)
		}
		if t.Tunnels.MTU < 1280 || t.Tunnels.MTU > 9000 {
			v.add("tunnels.mtu", "%d is outside 1280..9000 (1450 fits a 1500-byte LAN under VXLAN's 50 bytes)", t.Tunnels.MTU)
		}
	}
	if len(v.problems) == 0 {
		_, problems := Place(t)
		v.problems = append(v.problems, problems...)
	}
}

// sameLibvirtd is what tells two URIs of one libvirtd apart from two of
// different ones: the host (case folded) and SSH port; the login does not
// change which daemon answers.
func sameLibvirtd(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "qemu+ssh" {
		return uri
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	host := strings.ToLower(u.Hostname())
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String()
	}
	return "qemu+ssh://" + net.JoinHostPort(host, port)
}

// wellKnownPort names what else listens on a UDP port of a hypervisor's:
// a privileged service port, or a tunnel or cluster protocol of its own.
func wellKnownPort(port int) string {
	switch {
	case port < 1024:
		return "a privileged port of well-known services (DNS, DHCP, NTP, ...)"
	case port == 2377 || port == 7946:
		return "a Docker Swarm port"
	case port == 6081:
		return "Geneve's port"
	case port == 8472:
		return "the Linux kernel's and flannel's VXLAN port"
	}
	return ""
}

// inLab names the lab network, VLAN or Docker pool a holds, or "".
func (v *validator) inLab(a netip.Addr) string {
	t := v.t
	nets := []struct{ what, subnet string }{
		{"NAT network", t.Networks.NAT.Subnet}, {"host-only network", t.Networks.HostOnly.Subnet},
	}
	for _, vl := range t.VLANs {
		nets = append(nets, struct{ what, subnet string }{fmt.Sprintf("VLAN %d", vl.ID), vl.Subnet})
	}
	for _, s := range t.Docker.IPVlanL3Subnets {
		nets = append(nets, struct{ what, subnet string }{"ipvlan L3 subnet", s})
	}
	for _, n := range nets {
		if p, err := netip.ParsePrefix(n.subnet); err == nil && p.Masked().Contains(a) {
			return n.what + " " + p.Masked().String()
		}
	}
	return ""
}
