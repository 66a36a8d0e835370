// Package workshop plans many identical labs ("seats") from one topology:
// everything of a seat that meets a hypervisor's namespace is derived from
// the seat's number - its lab name (and so its libvirt names, bridges and
// MACs), its NAT and host-only subnets, the ipvlan L3 subnets that land in
// the host's routing table - so that seats never overlap, and the same
// input always gives the same plan. What lives inside a seat's own layer 2
// (the VLAN subnets on its trunk, Docker's pools inside its nodes, the
// tutorial's container addresses) keeps the topology's values: students
// see the tutorial's addresses, and no two seats share a bridge.
//
// It is its own package above lab: a workshop is many labs, and placing
// them over hypervisors by capacity is a concern of its own.
package workshop

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/topology"
)

// Hypervisor is a machine seats can be placed on, with its capacity.
type Hypervisor struct {
	Name      string `json:"name"`
	CPUs      int    `json:"cpus"`
	MemoryMiB uint64 `json:"memory_mib"`
}

// Options say how many seats and where their addresses come from.
type Options struct {
	Name  string // the workshop's name; seat N is lab NAME-sNN
	Seats int
	// Space holds every seat's NAT and host-only subnets (default
	// 10.200.0.0/16: 128 seats of two /24s); L3Space the ipvlan L3
	// subnets (default 10.201.0.0/16).
	Space, L3Space netip.Prefix
	// Hypervisors to place seats on; none means this machine, whose size
	// Machine gives (unbounded when it is zero).
	Hypervisors []Hypervisor
	Machine     Machine
	// CPUOvercommit is how many vCPUs of seats each of this machine's CPUs
	// may carry (default DefaultCPUOvercommit, at most MaxCPUOvercommit).
	CPUOvercommit int
}

// Machine is the size of the machine seats go on when no hypervisor is
// given: its CPUs and memory.
type Machine struct {
	CPUs      int
	MemoryMiB uint64
}

// The overcommit policy for seats on this machine: memory is not
// overcommitted (every node's memory, and HostReserveMiB left for the host
// itself and QEMU's own use), vCPUs up to DefaultCPUOvercommit times the
// machine's CPUs unless the instructor allows more (lab nodes are idle
// most of the time, but bringing them up is CPU-bound: more seats per CPU
// come up more slowly); beyond that is refused.
const (
	HostReserveMiB       = 1024
	DefaultCPUOvercommit = 4
	MaxCPUOvercommit     = 32
)

// CheckCPUOvercommit refuses an overcommit outside 1..MaxCPUOvercommit.
func CheckCPUOvercommit(n int) error {
	if n < 1 || n > MaxCPUOvercommit {
		return fmt.Errorf("1 to %d vCPUs per CPU", MaxCPUOvercommit)
	}
	return nil
}

// Seat is one lab of the workshop.
type Seat struct {
	N          int                `json:"seat"`
	Lab        string             `json:"lab"`
	Hypervisor string             `json:"hypervisor"`
	CPUs       int                `json:"cpus"`
	MemoryMiB  uint64             `json:"memory_mib"`
	Topology   *topology.Topology `json:"-"`
	Plan       *plan.Plan         `json:"-"`
	NAT        string             `json:"nat_subnet"`
	HostOnly   string             `json:"hostonly_subnet"`
	L3         []string           `json:"ipvlan_l3_subnets"`
}

// Plan is a workshop's seats.
type Plan struct {
	Name  string `json:"name"`
	Seats []Seat `json:"seats"`
	// Load is what the seats take of each hypervisor.
	Load []Load `json:"load"`
	// Warnings say what fits but is tight (more vCPUs than CPUs).
	Warnings []string `json:"warnings,omitempty"`
}

// Load is one hypervisor's share.
type Load struct {
	Hypervisor
	Seats         []int  `json:"seats"`
	UsedCPUs      int    `json:"used_cpus"`
	UsedMemoryMiB uint64 `json:"used_memory_mib"`
}

// Defaults of Options.
var (
	DefaultSpace   = netip.MustParsePrefix("10.200.0.0/16")
	DefaultL3Space = netip.MustParsePrefix("10.201.0.0/16")
)

// New plans the seats of a workshop from a validated topology (with its
// defaults applied): derived topologies and plans, validated, placed. It
// creates nothing.
func New(t *topology.Topology, o Options) (*Plan, error) {
	if o.Seats < 1 || o.Seats > 999 {
		return nil, fmt.Errorf("%d seats: 1 to 999", o.Seats)
	}
	if !o.Space.IsValid() {
		o.Space = DefaultSpace
	}
	if !o.L3Space.IsValid() {
		o.L3Space = DefaultL3Space
	}
	if err := topology.ValidateLabName(SeatLab(o.Name, o.Seats)); err != nil {
		return nil, fmt.Errorf("workshop name %s: %w", topology.Quote(o.Name), err)
	}
	// The topology's hypervisors are where seats go, each seat whole on
	// one (its gateway there; a seat never spans hypervisors, so no seat
	// depends on two machines or on tunnels): they need a capacity.
	byName := map[string]topology.Hypervisor{}
	if len(t.Hypervisors) > 0 {
		if len(o.Hypervisors) > 0 {
			return nil, fmt.Errorf("%s lists hypervisors: place the seats on those (each with its cpus and memory) or give --hypervisor, not both", t.File())
		}
		for i, h := range t.Hypervisors {
			mem, _ := h.Memory.Bytes()
			if h.CPUs == 0 || mem == 0 {
				return nil, topology.Problems{t.ProblemAt(fmt.Sprintf("hypervisors[%d]", i), "hypervisor %s: a workshop places whole seats by capacity: give its cpus and memory (e.g. cpus: 48, memory: 96GiB)", h.Name)}
			}
			o.Hypervisors = append(o.Hypervisors, Hypervisor{Name: h.Name, CPUs: h.CPUs, MemoryMiB: mem >> 20})
			byName[h.Name] = h
		}
		for i, n := range t.Nodes {
			if n.Hypervisor != "" {
				return nil, topology.Problems{t.ProblemAt(fmt.Sprintf("nodes[%d].hypervisor", i), "node %s names hypervisor %s: in a workshop each seat goes whole to one hypervisor; remove the nodes' hypervisor fields", n.Name, n.Hypervisor)}
			}
		}
	}
	natLen, err := prefixLen(t.Networks.NAT.Subnet)
	if err != nil {
		return nil, fmt.Errorf("networks.nat.subnet: %w", err)
	}
	hoLen, err := prefixLen(t.Networks.HostOnly.Subnet)
	if err != nil {
		return nil, fmt.Errorf("networks.hostonly.subnet: %w", err)
	}
	space := &carver{within: o.Space, next: o.Space.Masked().Addr()}
	l3 := &carver{within: o.L3Space, next: o.L3Space.Masked().Addr()}
	p := &Plan{Name: o.Name}
	for n := 1; n <= o.Seats; n++ {
		st := copyTopology(t)
		st.Isolated = true // a seat's nodes reach nothing of the host, the room or the other seats
		nat, err1 := space.take(natLen)
		ho, err2 := space.take(hoLen)
		if err := firstErr(err1, err2); err != nil {
			return nil, fmt.Errorf("seat %d: %w (a larger --space, or fewer seats)", n, err)
		}
		rebaseNetwork(&st.Networks.NAT, nat)
		rebaseNetwork(&st.Networks.HostOnly, ho)
		for i := range st.Nodes {
			st.Nodes[i].NAT.Address = rebase(st.Nodes[i].NAT.Address, nat)
			st.Nodes[i].HostOnly.Address = rebase(st.Nodes[i].HostOnly.Address, ho)
			st.Nodes[i].NAT.MAC, st.Nodes[i].HostOnly.MAC = "", "" // derived from the seat's lab name
			// The seats' vCPUs are what this plan counts and places (a
			// seat's up gives it no spare CPUs: the other seats share
			// the machine).
			st.Nodes[i].SetCPUs(st.Nodes[i].CPUs)
		}
		var l3s []string
		for i, s := range st.Docker.IPVlanL3Subnets {
			l, err := prefixLen(s)
			if err != nil {
				return nil, fmt.Errorf("docker.ipvlan_l3_subnets[%d]: %w", i, err)
			}
			pfx, err := l3.take(l)
			if err != nil {
				return nil, fmt.Errorf("seat %d: %w (a larger --l3-space, or fewer seats)", n, err)
			}
			st.Docker.IPVlanL3Subnets[i] = pfx.String()
			l3s = append(l3s, pfx.String())
		}
		lab := SeatLab(o.Name, n)
		if ps := topology.Validate(st); len(ps) > 0 {
			return nil, fmt.Errorf("seat %d: the derived topology does not validate: %w", n, ps)
		}
		plan, err := plan.New(lab, st)
		if err != nil {
			return nil, fmt.Errorf("seat %d: %w", n, err)
		}
		seat := Seat{N: n, Lab: lab, Topology: st, Plan: plan, NAT: nat.String(), HostOnly: ho.String(), L3: l3s}
		for _, nd := range plan.Nodes {
			seat.CPUs += nd.CPUs
			seat.MemoryMiB += nd.MemoryMiB
		}
		p.Seats = append(p.Seats, seat)
	}
	if err := distinctNames(p.Seats, plan.BridgeName); err != nil {
		return nil, err
	}
	if len(o.Hypervisors) == 0 {
		if err := p.fitMachine(o.Machine, o.CPUOvercommit); err != nil {
			return nil, err
		}
	}
	if err := p.place(o.Hypervisors); err != nil {
		return nil, err
	}
	// A seat on a hypervisor of the topology is a lab on that one alone.
	for i := range p.Seats {
		s := &p.Seats[i]
		h, ok := byName[s.Hypervisor]
		if !ok {
			continue
		}
		s.Topology.Hypervisors = []topology.Hypervisor{h}
		s.Topology.Libvirt.URI = ""
		pl, err := plan.New(s.Lab, s.Topology)
		if err != nil {
			return nil, fmt.Errorf("seat %d on %s: %w", s.N, h.Name, err)
		}
		s.Plan = pl
	}
	return p, nil
}

// fitMachine compares the seats with this machine (the overcommit policy
// above): memory that does not fit is refused, with the numbers and what
// to do; vCPUs over the CPUs are a warning, over overcommit times (0: the
// default) a refusal.
func (p *Plan) fitMachine(m Machine, overcommit int) error {
	if m.CPUs == 0 && m.MemoryMiB == 0 {
		return nil
	}
	if overcommit == 0 {
		overcommit = DefaultCPUOvercommit
	}
	if err := CheckCPUOvercommit(overcommit); err != nil {
		return fmt.Errorf("a CPU overcommit of %d: %w", overcommit, err)
	}
	var cpus int
	var mem uint64
	for _, s := range p.Seats {
		cpus += s.CPUs
		mem += s.MemoryMiB
	}
	n := len(p.Seats)
	per := mem / uint64(max(n, 1))
	room := uint64(0)
	if m.MemoryMiB > HostReserveMiB {
		room = m.MemoryMiB - HostReserveMiB
	}
	if mem > room {
		return fmt.Errorf("%d seats need %s of memory; this machine has %s (%s kept for itself): at most %d seats fit; add hypervisors with --hypervisor NAME=CPUS,MEMORY or plan fewer seats",
			n, mib(mem), mib(m.MemoryMiB), mib(HostReserveMiB), room/max(per, 1))
	}
	if m.CPUs > 0 && cpus > overcommit*m.CPUs {
		more := ""
		if need := (cpus + m.CPUs - 1) / m.CPUs; need <= MaxCPUOvercommit {
			more = fmt.Sprintf(", or allow --cpu-overcommit %d if the seats will mostly sit idle (they come up more slowly)", need)
		}
		return fmt.Errorf("%d seats need %d vCPUs; this machine has %d CPUs (up to %dx is allowed: %d): add hypervisors with --hypervisor NAME=CPUS,MEMORY or plan fewer seats%s",
			n, cpus, m.CPUs, overcommit, overcommit*m.CPUs, more)
	}
	if m.CPUs > 0 && cpus > m.CPUs {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d seats have %d vCPUs on this machine's %d CPUs: they share them (fine while students type; bringing many up at once is slower)", n, cpus, m.CPUs))
	}
	return nil
}

// mib writes a size in MiB as GiB when it is one or more.
func mib(m uint64) string {
	if m >= 1024 {
		return fmt.Sprintf("%.1f GiB", float64(m)/1024)
	}
	return fmt.Sprintf("%d MiB", m)
}

// distinctNames refuses two seats whose derived interface names (bridges,
// tunnel devices: the same hash of the lab name) are the same: one seat's
// down would remove the other's.
func distinctNames(seats []Seat, derive func(lab, role string) string) error {
	seen := map[string]string{}
	for _, s := range seats {
		n := derive(s.Lab, plan.RoleNAT)
		if other, dup := seen[n]; dup {
			return fmt.Errorf("seats %s and %s derive the same interface names (%s): give the workshop another name (--lab)", other, s.Lab, n)
		}
		seen[n] = s.Lab
	}
	return nil
}

// ParseSpace reads an address space seats' subnets are carved from: an
// IPv4 network in CIDR form, without host bits, of /8 to /24, and not in
// a range no lab network can use (loopback, multicast, 0/8, link-local,
// 240/4).
func ParseSpace(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil || !p.Addr().Is4():
		return p, fmt.Errorf("an IPv4 network in CIDR form, e.g. 10.200.0.0/16")
	case p.Masked() != p:
		return p, fmt.Errorf("has host bits set; did you mean %s?", p.Masked())
	case p.Bits() < 8 || p.Bits() > 24:
		return p, fmt.Errorf("/%d: a space of /8 to /24", p.Bits())
	}
	for _, r := range []struct {
		pfx  string
		what string
	}{{"0.0.0.0/8", "0.0.0.0/8 (this network)"}, {"127.0.0.0/8", "loopback"}, {"169.254.0.0/16", "link-local"}, {"224.0.0.0/4", "multicast"}, {"240.0.0.0/4", "240.0.0.0/4 (reserved)"}} {
		if netip.MustParsePrefix(r.pfx).Overlaps(p) {
			return p, fmt.Errorf("overlaps %s, which no lab network can use", r.what)
		}
	}
	return p, nil
}

// SeatLab is the lab name of seat n.
func SeatLab(workshop string, n int) string { return fmt.Sprintf("%s-s%02d", workshop, n) }

// place puts each seat whole on the hypervisor with the most free memory
// that fits it (then the most free CPUs, then the name: deterministic).
func (p *Plan) place(hvs []Hypervisor) error {
	if len(hvs) == 0 {
		hvs = []Hypervisor{{Name: "local"}}
	}
	loads := make([]Load, len(hvs))
	for i, h := range hvs {
		loads[i] = Load{Hypervisor: h}
	}
	unbounded := len(hvs) == 1 && hvs[0].CPUs == 0 && hvs[0].MemoryMiB == 0
	for i := range p.Seats {
		s := &p.Seats[i]
		best := -1
		for j := range loads {
			l := &loads[j]
			if !unbounded && (l.UsedCPUs+s.CPUs > l.CPUs || l.UsedMemoryMiB+s.MemoryMiB > l.MemoryMiB) {
				continue
			}
			if best < 0 || freeMem(l) > freeMem(&loads[best]) ||
				freeMem(l) == freeMem(&loads[best]) && l.CPUs-l.UsedCPUs > loads[best].CPUs-loads[best].UsedCPUs {
				best = j
			}
		}
		if best < 0 {
			return fmt.Errorf("seat %d (%d CPUs, %d MiB) fits on no hypervisor: %s", s.N, s.CPUs, s.MemoryMiB, freeList(loads))
		}
		l := &loads[best]
		l.UsedCPUs += s.CPUs
		l.UsedMemoryMiB += s.MemoryMiB
		l.Seats = append(l.Seats, s.N)
		s.Hypervisor = l.Name
	}
	sort.SliceStable(loads, func(a, b int) bool { return loads[a].Name < loads[b].Name })
	p.Load = loads
	return nil
}

func freeMem(l *Load) uint64 { return l.MemoryMiB - l.UsedMemoryMiB }

func freeList(loads []Load) string {
	s := ""
	for i, l := range loads {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d CPUs and %d MiB free", l.Name, l.CPUs-l.UsedCPUs, freeMem(&l))
	}
	return s
}

// carver hands out aligned prefixes from a space, in order.
type carver struct {
	within netip.Prefix
	next   netip.Addr
}

func (c *carver) take(bits int) (netip.Prefix, error) {
	p, err := c.next.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr() != c.next { // align up to the next boundary
		last := lastAddr(p)
		if !last.Next().IsValid() {
			return netip.Prefix{}, fmt.Errorf("%s is full", c.within)
		}
		p = netip.PrefixFrom(last.Next(), bits)
	}
	if !c.within.Contains(p.Addr()) || !c.within.Contains(lastAddr(p)) {
		return netip.Prefix{}, fmt.Errorf("%s is full", c.within)
	}
	c.next = lastAddr(p).Next()
	return p, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func prefixLen(s string) (int, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return 0, err
	}
	return p.Bits(), nil
}

// rebase moves addr (with or without a prefix length) from its subnet to
// the same host part in to.
func rebase(addr string, to netip.Prefix) string {
	if addr == "" {
		return ""
	}
	s, suffix := addr, ""
	if p, err := netip.ParsePrefix(addr); err == nil {
		s, suffix = p.Addr().String(), fmt.Sprintf("/%d", p.Bits())
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return addr
	}
	hostMask := uint32(1)<<(32-to.Bits()) - 1
	av, bv := a.As4(), to.Masked().Addr().As4()
	v := (uint32(av[0])<<24|uint32(av[1])<<16|uint32(av[2])<<8|uint32(av[3]))&hostMask |
		(uint32(bv[0])<<24 | uint32(bv[1])<<16 | uint32(bv[2])<<8 | uint32(bv[3]))
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String() + suffix
}

func rebaseNetwork(n *topology.Network, to netip.Prefix) {
	n.Subnet = to.String()
	n.Host = rebase(n.Host, to)
	if n.DHCP != nil {
		d := *n.DHCP
		d.Start, d.End = rebase(d.Start, to), rebase(d.End, to)
		n.DHCP = &d
	}
}

// copyTopology copies what a seat changes (networks, nodes, the ipvlan L3
// subnets); the rest is shared read-only.
func copyTopology(t *topology.Topology) *topology.Topology {
	c := *t
	c.Nodes = append([]topology.Node(nil), t.Nodes...)
	c.Docker.IPVlanL3Subnets = append([]string(nil), t.Docker.IPVlanL3Subnets...)
	return &c
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// ThisMachine is the size of the machine labctl runs on: its CPUs and
// its memory (MemTotal of /proc/meminfo).
func ThisMachine() (Machine, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return Machine{}, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			kib, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return Machine{}, fmt.Errorf("/proc/meminfo: %q", l)
			}
			return Machine{CPUs: runtime.NumCPU(), MemoryMiB: kib >> 10}, nil
		}
	}
	return Machine{}, fmt.Errorf("/proc/meminfo has no MemTotal")
}
