// Package topology reads and checks the file that describes a lab: its
// nodes, its two libvirt networks, its VLANs and the addresses the labs use.
//
// Parsing (Parse) is strict: an unknown field is an error with its line.
// Validation (Validate) is separate and reports every problem at once, each
// with the path of the field it is about.
package topology

// Topology is one lab's description. Field names are the YAML keys.
type Topology struct {
	// Libvirt says where and how the VMs run.
	Libvirt Libvirt `yaml:"libvirt" json:"libvirt" doc:"Where and how the VMs run."`
	// Image is the base image every node boots unless the node names its own.
	Image string `yaml:"image" json:"image" doc:"Base image of every node (catalogue name such as debian-12, or a path to a qcow2 file)."`
	// User is the account labctl creates on every node and logs in as.
	User string `yaml:"user" json:"user" doc:"Login user created on every node."`
	// Networks are the NAT and host-only networks every node is attached to.
	Networks Networks `yaml:"networks" json:"networks" doc:"The NAT network (NIC 1) and the host-only network (NIC 2)."`
	// VLANs are 802.1q sub-interfaces on a node NIC.
	VLANs []VLAN `yaml:"vlans" json:"vlans" doc:"802.1q VLANs trunked over a node NIC; each becomes a sub-interface such as ens33.20."`
	// Nodes are the VMs.
	Nodes []Node `yaml:"nodes" json:"nodes" doc:"The VMs of the lab."`
	// Docker holds the address pools Docker uses on the nodes.
	Docker Docker `yaml:"docker" json:"docker" doc:"Address pools Docker and the labs use inside the nodes; they must not overlap the lab's networks."`
	// Outside is the target beyond the NAT gateway that labs try to reach.
	Outside Outside `yaml:"outside" json:"outside" doc:"A host beyond the NAT gateway that the labs ping to show what reaches outside."`
	// Hypervisors, when listed, spread the lab over several libvirt hosts.
	Hypervisors []Hypervisor `yaml:"hypervisors" json:"hypervisors,omitempty" doc:"Hosts the lab's VMs are spread over, each running its own libvirtd; the first holds the NAT gateway and DHCP. Empty: every node on libvirt.uri."`
	// Tunnels are the VXLAN links that join the lab's networks across hypervisors.
	Tunnels Tunnels `yaml:"tunnels" json:"tunnels" doc:"The VXLAN tunnels that make each lab network one layer-2 segment across the hypervisors (used with two or more hypervisors)."`
	// Isolated keeps the lab's nodes to themselves: workshop seats are.
	Isolated bool `yaml:"isolated" json:"isolated,omitempty" doc:"Keep the nodes to themselves: from the lab's networks only the gateway's DHCP, DNS and ping, and the outside address (and the registry mirrors) are reachable - not the host's other services, other labs, the LAN or link-local metadata addresses. Workshop seats are isolated."`

	file  string         // where it was read from, for messages
	lines map[string]int // field path -> line in file
	// imageDefaulted: the file named no image (ImageDefaulted).
	imageDefaulted bool
}

// File names where the topology was read from.
func (t *Topology) File() string { return t.file }

// Libvirt selects the daemon and the kind of virtualisation.
type Libvirt struct {
	URI          string `yaml:"uri,omitempty" json:"uri" doc:"libvirt connection URI, e.g. qemu:///system or qemu+ssh://user@host/system."`
	Acceleration string `yaml:"acceleration" json:"acceleration" doc:"auto (KVM when the CPU offers it, otherwise software emulation), kvm or qemu." enum:"auto,kvm,qemu"`
	Pool         string `yaml:"pool" json:"pool" doc:"Storage pool for base images, node disks and seeds; created as a directory pool if missing."`
}

// Networks are the two networks every node has a NIC on.
type Networks struct {
	NAT      Network `yaml:"nat" json:"nat" doc:"NAT network: reaches outside through the host; carries the VLAN trunk and the macvlan/ipvlan containers."`
	HostOnly Network `yaml:"hostonly" json:"hostonly" doc:"Isolated network with a fixed address per node: used for SSH and Swarm."`
}

// Network is one libvirt network and the guest NIC attached to it.
type Network struct {
	Subnet string `yaml:"subnet" json:"subnet" doc:"IPv4 subnet in CIDR form, e.g. 192.168.241.0/24."`
	Host   string `yaml:"host" json:"host" doc:"The host's address on this network; the guests' gateway on the NAT network."`
	DHCP   *Range `yaml:"dhcp" json:"dhcp,omitempty" doc:"Dynamic DHCP range; keep it small so the rest of the subnet is free for containers. Omit for no dynamic leases."`
	NIC    string `yaml:"nic" json:"nic" doc:"Name of the guest interface on this network, e.g. ens33."`
}

// Range is an inclusive range of IPv4 addresses.
type Range struct {
	Start string `yaml:"start" json:"start" doc:"First address of the range."`
	End   string `yaml:"end" json:"end" doc:"Last address of the range."`
}

// VLAN is an 802.1q VLAN carried as a sub-interface of a node NIC.
type VLAN struct {
	ID      int    `yaml:"id" json:"id" doc:"802.1q VLAN id, 1..4094." min:"1" max:"4094"`
	Subnet  string `yaml:"subnet" json:"subnet" doc:"IPv4 subnet used on this VLAN."`
	Gateway string `yaml:"gateway" json:"gateway" doc:"Router address on this VLAN (used when a lab routes between VLANs)."`
	Parent  string `yaml:"parent" json:"parent" doc:"Guest NIC that carries the tagged frames (the NAT network's NIC); the sub-interface is PARENT.ID."`
}

// Node is one VM.
type Node struct {
	Name     string   `yaml:"name" json:"name" doc:"Node name: also its hostname and the default ssh alias."`
	CPUs     int      `yaml:"cpus" json:"cpus" doc:"Virtual CPUs. Left out: 1, or 2 where the hypervisor has two CPUs for each of the lab's nodes on it (see README, Speed)." min:"1" max:"64"`
	Memory   Size     `yaml:"memory" json:"memory" doc:"Memory with a unit, e.g. 1GiB or 768MiB."`
	Disk     Size     `yaml:"disk" json:"disk" doc:"Disk size with a unit, e.g. 10GiB."`
	Image    string   `yaml:"image" json:"image,omitempty" doc:"Base image for this node; the top-level image when empty."`
	SSHAlias string   `yaml:"ssh_alias" json:"ssh_alias,omitempty" doc:"Host alias in the lab's ssh config; the node name when empty."`
	NAT      NodeNIC  `yaml:"nat" json:"nat" doc:"This node's NIC on the NAT network."`
	HostOnly NodeNIC  `yaml:"hostonly" json:"hostonly" doc:"This node's NIC on the host-only network."`
	Labels   []string `yaml:"labels" json:"labels,omitempty" doc:"Free-form labels (e.g. manager, worker) labs may use."`
	// cpusDefaulted: the file left cpus out (CPUsDefaulted).
	cpusDefaulted bool
	// Hypervisor pins the node to one of the hypervisors.
	Hypervisor string `yaml:"hypervisor" json:"hypervisor,omitempty" doc:"Name of the hypervisor this node runs on; placed by capacity when empty."`
}

// Hypervisor is one libvirt host of a lab spread over several.
type Hypervisor struct {
	Name     string `yaml:"name" json:"name" doc:"Short name used by nodes[].hypervisor, plan and status."`
	URI      string `yaml:"uri" json:"uri" doc:"libvirt URI: qemu:///system for this machine, qemu+ssh://user@host[:port]/system for another; its SSH host key is pinned on first use."`
	Address  string `yaml:"address" json:"address" doc:"IPv4 address of this hypervisor that the other hypervisors reach; the VXLAN tunnels run between these."`
	Identity string `yaml:"identity" json:"identity,omitempty" doc:"SSH private key file for qemu+ssh, without a passphrase (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa; the ssh agent is not used)."`
	CPUs     int    `yaml:"cpus" json:"cpus,omitempty" doc:"vCPUs this hypervisor may give the lab's nodes; unlimited when 0." min:"0" max:"4096"`
	Memory   Size   `yaml:"memory" json:"memory,omitempty" doc:"Memory this hypervisor may give the lab's nodes, e.g. 16GiB; unlimited when empty."`
}

// Tunnels configure the VXLAN links between hypervisors.
type Tunnels struct {
	Port int `yaml:"port" json:"port" doc:"UDP port of the VXLAN tunnels between hypervisors; not 4789, which Swarm's overlay uses inside the nodes." min:"1" max:"65535"`
	MTU  int `yaml:"mtu" json:"mtu" doc:"MTU of the lab networks when they span hypervisors: 1450 fits a 1500-byte LAN under VXLAN's 50 bytes; raise it to 1500 only where the LAN carries 1550." min:"1280" max:"9000"`
}

// NodeNIC is a node's address and, optionally, MAC on one network.
type NodeNIC struct {
	Address string `yaml:"address" json:"address" doc:"Fixed IPv4 address of the node on this network (a DHCP reservation on the NAT network, static on the host-only one)."`
	MAC     string `yaml:"mac" json:"mac,omitempty" doc:"MAC address; derived from the lab and node name when empty."`
}

// Docker lists the address ranges Docker and the labs use inside nodes.
type Docker struct {
	BridgeIP        string        `yaml:"bridge_ip" json:"bridge_ip" doc:"Address and prefix of docker0 (daemon.json bip), e.g. 172.17.0.1/16."`
	AddressPools    []AddressPool `yaml:"address_pools" json:"address_pools" doc:"Pools Docker carves user-defined bridge networks from (daemon.json default-address-pools)."`
	SwarmPool       AddressPool   `yaml:"swarm_pool" json:"swarm_pool" doc:"Pool Swarm carves overlay networks from (swarm init --default-addr-pool)."`
	IPVlanL3Subnets []string      `yaml:"ipvlan_l3_subnets" json:"ipvlan_l3_subnets" doc:"Container subnets of the ipvlan L3 lab (the tutorial's 192.168.94.0/24 and 192.168.95.0/24)."`
	RegistryMirrors []string      `yaml:"registry_mirrors" json:"registry_mirrors,omitempty" doc:"Optional registry mirrors for online installs."`
}

// AddressPool is a base network and the size of the subnets cut from it.
type AddressPool struct {
	Base string `yaml:"base" json:"base" doc:"Base network in CIDR form."`
	Size int    `yaml:"size" json:"size" doc:"Prefix length of each subnet cut from the base." min:"1" max:"30"`
}

// Outside is what labs use as "the internet".
type Outside struct {
	Address string `yaml:"address" json:"address" doc:"IPv4 address beyond the NAT gateway that labs ping (a public host for real users; the test harness's own upstream host in tests)."`
	HTTPURL string `yaml:"http_url" json:"http_url,omitempty" doc:"Optional URL fetched to show HTTP reaches outside."`
}
