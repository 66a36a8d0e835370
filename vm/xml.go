package vm

import (
	"encoding/xml"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/labctl/labctl/plan"
	"libvirt.org/go/libvirtxml"
)

// Namespace of labctl's metadata element in libvirt objects.
const Namespace = "https://labctl.dev/xmlns/libvirt/1"

// Owner is what labctl's metadata says about an object.
type Owner struct {
	Lab  string `xml:"lab,attr"`
	Node string `xml:"node,attr,omitempty"`
	Role string `xml:"role,attr,omitempty"`
}

func metadataXML(o Owner) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<labctl:owner xmlns:labctl="%s" lab="%s"`, Namespace, xmlEscape(o.Lab))
	if o.Node != "" {
		fmt.Fprintf(&b, ` node="%s"`, xmlEscape(o.Node))
	}
	if o.Role != "" {
		fmt.Fprintf(&b, ` role="%s"`, xmlEscape(o.Role))
	}
	b.WriteString(`/>`)
	return b.String()
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), `"`, "&#34;")
}

// ParseOwner reads labctl's metadata from an object's XML description. ok
// is false for objects labctl did not create.
func ParseOwner(objectXML string) (Owner, bool) {
	dec := xml.NewDecoder(strings.NewReader(objectXML))
	depth := 0
	inMeta := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return Owner{}, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name.Local == "metadata" {
				inMeta = true
			}
			if inMeta && t.Name.Space == Namespace && t.Name.Local == "owner" {
				var o Owner
				if err := dec.DecodeElement(&o, &t); err != nil || o.Lab == "" {
					return Owner{}, false
				}
				return o, true
			}
		case xml.EndElement:
			if depth == 2 && t.Name.Local == "metadata" {
				inMeta = false
			}
			depth--
		}
	}
}

// NetworkXML is the libvirt definition of one of the lab's networks. The
// NAT network hands out the nodes' reserved addresses by DHCP; the
// host-only network is isolated (no forward element) and the nodes have
// static addresses there. Linux bridges forward 802.1q-tagged frames and
// frames from any MAC (macvlan containers) as long as no filter is
// attached, and labctl attaches none.
//
// A network with a host address also answers DNS (libvirt's dnsmasq), and
// it answers the node names itself: each node's hostname with its
// host-only address, as the nodes' /etc/hosts has them, and plain names
// (no dot) are never forwarded upstream. Offline, as a workshop room often
// is, a forwarded question is never answered, so without this every
// lookup that asks for IPv6 first (ping node2, getent hosts node2, a
// container's resolver) waited 2 x 5 s for a name /etc/hosts already
// had, and an unknown plain name 20 s instead of failing at once.
func NetworkXML(p *plan.Plan, n plan.Net) (string, error) {
	lab := p.Lab
	pfx, err := netip.ParsePrefix(n.Subnet)
	if err != nil {
		return "", err
	}
	x := &libvirtxml.Network{
		Name:     n.Name,
		Metadata: &libvirtxml.NetworkMetadata{XML: metadataXML(Owner{Lab: lab, Role: n.Role})},
		Bridge:   &libvirtxml.NetworkBridge{Name: n.Bridge, STP: "off", Delay: "0"},
	}
	if n.MTU > 0 {
		x.MTU = &libvirtxml.NetworkMTU{Size: uint(n.MTU)}
	}
	if n.Host == "" {
		// Layer 2 only: the bridge of a network whose host address,
		// NAT and DHCP are on another hypervisor.
		return x.Marshal()
	}
	x.IPs = []libvirtxml.NetworkIP{{Address: n.Host, Prefix: uint(pfx.Bits())}}
	x.DNS = &libvirtxml.NetworkDNS{ForwardPlainNames: "no"}
	for _, h := range NodeHosts(p) {
		x.DNS.Host = append(x.DNS.Host, libvirtxml.NetworkDNSHost{IP: h.Addr, Hostnames: []libvirtxml.NetworkDNSHostHostname{{Hostname: h.Name}}})
	}
	if n.Forward == "nat" {
		x.Forward = &libvirtxml.NetworkForward{Mode: "nat"}
	}
	if n.DHCP != nil || len(n.Reservations) > 0 {
		dhcp := &libvirtxml.NetworkDHCP{}
		if n.DHCP != nil {
			dhcp.Ranges = []libvirtxml.NetworkDHCPRange{{Start: n.DHCP.Start, End: n.DHCP.End}}
		}
		for _, r := range n.Reservations {
			dhcp.Hosts = append(dhcp.Hosts, libvirtxml.NetworkDHCPHost{MAC: r.MAC, Name: r.Node, IP: r.Address})
		}
		x.IPs[0].DHCP = dhcp
	}
	return x.Marshal()
}

// Boot says how a node boots: from the image's kernel (built images) or
// from its disk (cloud images with a boot loader).
type Boot struct {
	Kernel  string // path of the kernel on the libvirt host; "" boots from disk
	Initrd  string
	Cmdline string
}

// DomainSpec is everything a node's domain definition needs.
type DomainSpec struct {
	Lab        string
	Node       plan.Node
	Type       string // "kvm" or "qemu"
	Pool       string
	DiskVolume string
	SeedVolume string
	Boot       Boot
	ConsoleLog string // file the serial console is logged to
	// MTU of every NIC (the guest is told it through virtio's host_mtu);
	// 0 keeps the default.
	MTU int
	// TBCacheMiB is the translation cache of a "qemu" (software
	// emulation) domain: QEMU's default is 1 GiB, most of an idle node's
	// memory. 0 leaves QEMU's default.
	TBCacheMiB int
	// GuestASLR keeps the guest kernel's address space randomisation of
	// a "qemu" domain (see KernelCmdline).
	GuestASLR bool
	// FreePageReporting gives the domain a virtio balloon that hands the
	// pages the guest frees back to the host (see FreePageReporting).
	FreePageReporting bool
}

// KernelCmdline is the command line a node boots its image's kernel with:
// the image's own and, under software emulation, norandmaps unless aslr.
// Without randomised mappings every run of a program (docker, runc,
// dockerd's own hooks, the shell tools of the checks) sits at the same
// addresses, so QEMU reuses the code it translated for the last run
// instead of translating it again; it halves a container's start under
// emulation (see README, Speed). A lab node is a throwaway machine whose
// users are root already; LABCTL_GUEST_ASLR=1 keeps randomisation.
func KernelCmdline(image, domainType string, aslr bool) string {
	if domainType != "qemu" || aslr || image == "" {
		return image
	}
	return image + " norandmaps"
}

// GuestASLR says whether emulated nodes keep address space randomisation
// (LABCTL_GUEST_ASLR=1); by default they do not (see KernelCmdline).
func GuestASLR() (bool, error) {
	switch v := os.Getenv("LABCTL_GUEST_ASLR"); v {
	case "", "0":
		return false, nil
	case "1":
		return true, nil
	default:
		return false, fmt.Errorf("LABCTL_GUEST_ASLR=%q: give 1 (emulated nodes keep address space randomisation) or 0 (they boot with norandmaps, labctl's default)", v)
	}
}

// FreePageReporting says whether nodes of a domainType get a balloon with
// free page reporting: an idle node then holds what its guest uses, not
// what it once touched. KVM nodes get it; emulated ones do not, because
// under emulation the pages handed back and faulted in again slowed the
// labs by about 9% for 110 MiB a node (see README, Speed).
// LABCTL_FREE_PAGE_REPORTING=1 gives it to every node, 0 to none.
func FreePageReporting(domainType string) (bool, error) {
	switch v := os.Getenv("LABCTL_FREE_PAGE_REPORTING"); v {
	case "":
		return domainType == "kvm", nil
	case "1":
		return true, nil
	case "0":
		return false, nil
	default:
		return false, fmt.Errorf("LABCTL_FREE_PAGE_REPORTING=%q: give 1 (every node hands its free pages back), 0 (none does) or leave it unset (KVM nodes do)", v)
	}
}

// DefaultTBCacheMiB is the translation cache labctl gives an emulated
// node (see README, Speed: chosen by measuring Docker-ready time against
// QEMU's memory). LABCTL_TCG_CACHE_MIB overrides it (0: QEMU's own).
const DefaultTBCacheMiB = 256

// TBCacheMiB is the translation cache size to give emulated nodes.
func TBCacheMiB() (int, error) {
	v, ok := os.LookupEnv("LABCTL_TCG_CACHE_MIB")
	if !ok {
		return DefaultTBCacheMiB, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 4096 {
		return 0, fmt.Errorf("LABCTL_TCG_CACHE_MIB=%q: give MiB from 0 (QEMU's default) to 4096", v)
	}
	return n, nil
}

// DomainXML is the libvirt definition of a node.
func DomainXML(s DomainSpec) (string, error) {
	n := s.Node
	d := &libvirtxml.Domain{
		Type:     s.Type,
		Name:     n.Domain,
		Metadata: &libvirtxml.DomainMetadata{XML: metadataXML(Owner{Lab: s.Lab, Node: n.Name})},
		Memory:   &libvirtxml.DomainMemory{Value: uint(n.MemoryMiB), Unit: "MiB"},
		VCPU:     &libvirtxml.DomainVCPU{Value: uint(n.CPUs)},
		OS: &libvirtxml.DomainOS{
			Type: &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "q35", Type: "hvm"},
		},
		Features:   &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}, APIC: &libvirtxml.DomainFeatureAPIC{}},
		Clock:      &libvirtxml.DomainClock{Offset: "utc"},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{
				volumeDisk(s.Pool, s.DiskVolume, "qcow2", "vda", false),
				volumeDisk(s.Pool, s.SeedVolume, "raw", "vdb", true),
			},
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
				Target: &libvirtxml.DomainSerialTarget{Port: new(uint)},
				Log:    &libvirtxml.DomainChardevLog{File: s.ConsoleLog, Append: "on"},
			}},
			Consoles: []libvirtxml.DomainConsole{{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
				Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: new(uint)},
			}},
			// Guests need entropy early (sshd, the first boot); under software
			// emulation there is little without a virtio RNG.
			RNGs: []libvirtxml.DomainRNG{{
				Model:   "virtio",
				Backend: &libvirtxml.DomainRNGBackend{Random: &libvirtxml.DomainRNGBackendRandom{Device: "/dev/urandom"}},
			}},
			MemBalloon: &libvirtxml.DomainMemBalloon{Model: "none"},
		},
	}
	if s.Type == "kvm" {
		d.CPU = &libvirtxml.DomainCPU{Mode: "host-passthrough"}
	}
	if s.FreePageReporting {
		d.Devices.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "virtio", FreePageReporting: "on"}
	}
	if s.Type == "qemu" && s.TBCacheMiB > 0 {
		d.Features.TCG = &libvirtxml.DomainFeatureTCG{TBCache: &libvirtxml.DomainFeatureTCGTBCache{Unit: "MiB", Size: uint(s.TBCacheMiB)}}
	}
	if s.Boot.Kernel != "" {
		d.OS.Kernel, d.OS.Initrd, d.OS.Cmdline = s.Boot.Kernel, s.Boot.Initrd, KernelCmdline(s.Boot.Cmdline, s.Type, s.GuestASLR)
	} else {
		d.OS.BootDevices = []libvirtxml.DomainBootDevice{{Dev: "hd"}}
	}
	for _, nic := range n.NICs {
		i := libvirtxml.DomainInterface{
			MAC:    &libvirtxml.DomainInterfaceMAC{Address: nic.MAC},
			Source: &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: nic.Network}},
			Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
		}
		if s.MTU > 0 {
			i.MTU = &libvirtxml.DomainInterfaceMTU{Size: uint(s.MTU)}
		}
		d.Devices.Interfaces = append(d.Devices.Interfaces, i)
	}
	return d.Marshal()
}

func volumeDisk(pool, vol, format, dev string, readonly bool) libvirtxml.DomainDisk {
	d := libvirtxml.DomainDisk{
		Device: "disk",
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: format},
		Source: &libvirtxml.DomainDiskSource{Volume: &libvirtxml.DomainDiskSourceVolume{Pool: pool, Volume: vol}},
		Target: &libvirtxml.DomainDiskTarget{Dev: dev, Bus: "virtio"},
	}
	if readonly {
		d.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
	}
	return d
}

// PoolXML defines a directory storage pool.
func PoolXML(name, dir string) (string, error) {
	p := &libvirtxml.StoragePool{Type: "dir", Name: name, Target: &libvirtxml.StoragePoolTarget{Path: dir}}
	return p.Marshal()
}

// VolumeXML defines a volume; with backing set it is a qcow2 overlay of it.
func VolumeXML(name, format string, capacity uint64, backingPath, backingFormat string) (string, error) {
	v := &libvirtxml.StorageVolume{
		Name:     name,
		Capacity: &libvirtxml.StorageVolumeSize{Value: capacity, Unit: "bytes"},
		Target:   &libvirtxml.StorageVolumeTarget{Format: &libvirtxml.StorageVolumeTargetFormat{Type: format}},
	}
	if backingPath != "" {
		v.BackingStore = &libvirtxml.StorageVolumeBackingStore{
			Path:   backingPath,
			Format: &libvirtxml.StorageVolumeTargetFormat{Type: backingFormat},
		}
	}
	return v.Marshal()
}

// VCPUs is the vCPUs a node gets on a hypervisor with hostCPUs CPUs (0:
// not known) that holds nodesHere of the lab's nodes, capCPUs of which
// (0: no limit) the topology lets it give them. A node whose cpus the
// topology sets gets those; one whose cpus it left out (CPUsAuto) gets 2
// where the hypervisor has two CPUs, within its limit, for each of those
// nodes, else the default. Under emulation one vCPU is one host thread,
// so a second vCPU on an idle host CPU is time the node gains (one node's
// boot to Docker ready, measured: about 27 s against 45 s); on a host
// with fewer CPUs than that the vCPUs would only queue for them (three
// nodes with 2 vCPUs on 2 CPUs came up slower, not faster). A workshop's
// seats set cpus, as its plan counts them.
func VCPUs(n plan.Node, hostCPUs, capCPUs, nodesHere int) int {
	if !n.CPUsAuto || nodesHere < 1 {
		return n.CPUs
	}
	have := hostCPUs
	if capCPUs > 0 && (have == 0 || capCPUs < have) {
		have = capCPUs
	}
	if have >= 2*nodesHere {
		return max(n.CPUs, 2)
	}
	return n.CPUs
}
