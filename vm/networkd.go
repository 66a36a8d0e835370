package vm

import (
	"fmt"
	"sort"
	"strings"

	"github.com/labctl/labctl/internal/strictyaml"
	"github.com/labctl/labctl/plan"
)

// networkdFile is one systemd-networkd file the seed writes.
type networkdFile struct{ Path, Content string }

// NetworkdDir is where the seed puts the node's network files.
const NetworkdDir = "/etc/systemd/network"

// networkdFiles are the node's network as systemd-networkd files: what
// netplan renders from NetworkConfig, written by the seed itself, so that
// labctl's images need neither netplan nor its generator (run at every
// boot) nor its Python. Per NIC: a .link naming it by its permanent MAC on
// later boots (a VLAN carries its parent's MAC but has no permanent one,
// so it is not renamed too), and a .network: DHCP or the fixed address, no IPv6 link-local
// address or router advertisements, and its VLANs. Per VLAN: its .netdev
// and a .network that brings it up without addresses (the labs put
// containers on it).
//
// The values are the plan's (names, MACs, addresses checked when the
// topology was read); a value with a line break or a character a unit
// file cannot hold is refused, not written, since it would add lines.
func networkdFiles(n plan.Node) ([]networkdFile, error) {
	nics := append([]plan.NIC(nil), n.NICs...)
	sort.Slice(nics, func(i, j int) bool { return nics[i].Guest < nics[j].Guest })
	// The VLANs by name: in that order on their parent's .network and as
	// files.
	sorted := append([]plan.SubIf(nil), n.VLANs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	vlans := map[string][]plan.SubIf{}
	for _, v := range sorted {
		if err := unitValue(v.Name, true); err != nil {
			return nil, fmt.Errorf("node %s, VLAN %d: %w", n.Name, v.ID, err)
		}
		vlans[v.Parent] = append(vlans[v.Parent], v)
	}
	var files []networkdFile
	add := func(name, content string) {
		files = append(files, networkdFile{NetworkdDir + "/" + name, content})
	}
	for _, nic := range nics {
		for i, v := range []string{nic.Guest, nic.MAC, nic.Address} {
			if err := unitValue(v, i == 0); err != nil {
				return nil, fmt.Errorf("node %s, NIC %q: %w", n.Name, nic.Guest, err)
			}
		}
		add("10-labctl-"+nic.Guest+".link", "[Match]\nPermanentMACAddress="+nic.MAC+"\n\n[Link]\nName="+nic.Guest+"\nWakeOnLan=off\n")
		var b strings.Builder
		b.WriteString("[Match]\nPermanentMACAddress=" + nic.MAC + "\nName=" + nic.Guest + "\n\n[Network]\n")
		if nic.Method == "dhcp" {
			b.WriteString("DHCP=ipv4\n")
		} else {
			b.WriteString("Address=" + nic.Address + "\n")
		}
		b.WriteString("LinkLocalAddressing=no\nIPv6AcceptRA=no\n")
		for _, v := range vlans[nic.Guest] {
			b.WriteString("VLAN=" + v.Name + "\n")
		}
		if nic.Method == "dhcp" {
			b.WriteString("\n[DHCP]\nRouteMetric=100\nUseMTU=true\nUseHostname=false\n")
		}
		add("10-labctl-"+nic.Guest+".network", b.String())
	}
	for _, v := range sorted {
		add("10-labctl-"+v.Name+".netdev", fmt.Sprintf("[NetDev]\nName=%s\nKind=vlan\n\n[VLAN]\nId=%d\n", v.Name, v.ID))
		add("10-labctl-"+v.Name+".network", "[Match]\nName="+v.Name+"\n\n[Network]\nLinkLocalAddressing=no\nIPv6AcceptRA=no\nConfigureWithoutCarrier=yes\n")
	}
	return files, nil
}

// unitValue refuses what a systemd-networkd file cannot hold as one value:
// line breaks and other control characters, spaces, backslashes, and in a
// name, which is a file's name too, '/'.
func unitValue(v string, name bool) error {
	for _, r := range v {
		if r < 0x21 || r == 0x7f || r == '\\' || (name && r == '/') {
			return fmt.Errorf("%s cannot go into a systemd-networkd file", strictyaml.Quote(v))
		}
	}
	return nil
}
