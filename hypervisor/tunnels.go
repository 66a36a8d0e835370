// The VXLAN devices that make each lab network one layer-2 segment across
// hypervisors.

package hypervisor

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/labctl/labctl/plan"
)

// StitchScript is the shell script that joins this hypervisor's bridges of
// the lab to the other hypervisors': per lab network, a VXLAN device with
// the segment's VNI on the tunnel port, from this hypervisor's address,
// enslaved to the network's bridge, with one all-zeros forwarding entry
// per other hypervisor (head-end replication: broadcast, unknown and
// unicast frames go to every peer). The devices do not learn (nolearning):
// where a MAC is is never taken from a packet, so a spoofed source cannot
// re-point a frame. It is idempotent: a device that exists with the same
// VNI, address, port and flags is kept, one that differs is made again,
// and peers are added or removed to match. 802.1q-tagged frames cross it
// unchanged: a Linux bridge without VLAN filtering forwards them like any
// other frame.
//
// The script also loads the lab's nftables table (FirewallRules): the
// tunnel port takes the lab's VNIs from the lab's hypervisors only, and
// the lab's nodes reach neither the tunnel port nor any hypervisor's own
// address.
func StitchScript(p *plan.Plan, self string) (string, error) {
	if p.Tunnels == nil {
		return "", fmt.Errorf("lab %s spans no hypervisors: nothing to stitch", p.Lab)
	}
	var local string
	var peers []string
	for _, h := range p.Hypervisors {
		if h.Name == self {
			local = h.Address
		} else {
			peers = append(peers, h.Address)
		}
	}
	if local == "" {
		return "", fmt.Errorf("hypervisor %s is not one of lab %s's", self, p.Lab)
	}
	// The script runs as root with these values written into it: each is
	// checked here for what it must be, whatever validation did before.
	for _, a := range append([]string{local}, peers...) {
		if !ipv4(a) {
			return "", fmt.Errorf("lab %s: tunnel address %q is not an IPv4 address", p.Lab, a)
		}
	}
	if !ifaceRE.MatchString(self) {
		return "", fmt.Errorf("lab %s: hypervisor name %q cannot go into a script", p.Lab, self)
	}
	for _, s := range p.Tunnels.Segments {
		if !ifaceRE.MatchString(s.Device) || !ifaceRE.MatchString(s.Bridge) || s.VNI == 0 || s.VNI >= 1<<24 {
			return "", fmt.Errorf("lab %s: segment %+v cannot go into a script", p.Lab, s)
		}
	}
	if p.Tunnels.Port < 1 || p.Tunnels.Port > 65535 || p.Tunnels.MTU < 576 || p.Tunnels.MTU > 9216 {
		return "", fmt.Errorf("lab %s: tunnel port %d or MTU %d out of range", p.Lab, p.Tunnels.Port, p.Tunnels.MTU)
	}
	sort.Strings(peers)
	var b strings.Builder
	b.WriteString("set -eu\n")
	fmt.Fprintf(&b, "ip -o addr show | grep -q ' inet %s/' || { echo 'hypervisor %s: address %s (hypervisors[].address) is not on any of its interfaces' >&2; exit 3; }\n", local, self, local)
	for _, s := range p.Tunnels.Segments {
		fmt.Fprintf(&b, "dev=%s br=%s\n", s.Device, s.Bridge)
		b.WriteString("ip link show dev \"$br\" >/dev/null 2>&1 || { echo \"bridge $br of the lab is missing\" >&2; exit 3; }\n")
		fmt.Fprintf(&b, "want='vxlan id %d local %s '\n", s.VNI, local)
		fmt.Fprintf(&b, "cur=$(ip -d -o link show dev \"$dev\" 2>/dev/null || true)\n")
		fmt.Fprintf(&b, "case \"$cur\" in\n  *\"$want\"*\"dstport %d \"*nolearning*) ;;\n  '') ip link add \"$dev\" type vxlan id %d local %s dstport %d nolearning ;;\n  *) ip link del \"$dev\"; ip link add \"$dev\" type vxlan id %d local %s dstport %d nolearning ;;\nesac\n",
			p.Tunnels.Port, s.VNI, local, p.Tunnels.Port, s.VNI, local, p.Tunnels.Port)
		fmt.Fprintf(&b, "ip link set dev \"$dev\" mtu %d master \"$br\" up\n", p.Tunnels.MTU)
		fmt.Fprintf(&b, "have=$(bridge fdb show dev \"$dev\" | awk '$1 == \"00:00:00:00:00:00\" && $2 == \"dst\" {print $3}')\n")
		fmt.Fprintf(&b, "for peer in %s; do\n  case \" $(echo $have) \" in *\" $peer \"*) ;; *) bridge fdb append 00:00:00:00:00:00 dev \"$dev\" dst \"$peer\" ;; esac\ndone\n", strings.Join(peers, " "))
		fmt.Fprintf(&b, "for old in $have; do\n  case \" %s \" in *\" $old \"*) ;; *) bridge fdb del 00:00:00:00:00:00 dev \"$dev\" dst \"$old\" ;; esac\ndone\n", strings.Join(peers, " "))
	}
	b.WriteString("command -v nft >/dev/null || { echo 'nft is missing: labctl guards the tunnel port with nftables (Debian: apt-get install nftables)' >&2; exit 3; }\n")
	fmt.Fprintf(&b, "nft -f - <<'LABCTL_NFT'\n%sLABCTL_NFT\n", FirewallRules(p, peers))
	return b.String(), nil
}

// ifaceRE is a name an interface (or hypervisor) may have in labctl's
// scripts: nothing a shell or nft would read.
var ifaceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,23}$`)

// FirewallTable is the nftables table of a lab's tunnels on every
// hypervisor, named like its devices (from the lab name alone, so that
// down finds it without the topology).
func FirewallTable(lab string) string {
	return "labctl_" + strings.ReplaceAll(plan.TunnelDevice(lab, plan.RoleNAT), "-", "_")
}

// FirewallRules is the lab's nftables table, loaded as one transaction
// (the table is replaced whole, so loading it again changes nothing):
//   - a VXLAN packet to the tunnel port carrying one of the lab's VNIs is
//     dropped unless it comes from another of the lab's hypervisors (the
//     VNI is bits 32-55 of the VXLAN header, after UDP's 8 bytes);
//   - nothing from the lab's bridges reaches the tunnel port or a
//     hypervisor's own address (a node cannot inject into a tunnel, or
//     reach a hypervisor's sshd, through the gateway's NAT).
//
// Other labs' tunnels on the same port are untouched: each table matches
// its own VNIs.
func FirewallRules(p *plan.Plan, peers []string) string {
	var vnis, bridges, addrs []string
	for _, s := range p.Tunnels.Segments {
		vnis = append(vnis, fmt.Sprintf("%d", s.VNI))
		bridges = append(bridges, `"`+s.Bridge+`"`)
	}
	for _, h := range p.Hypervisors {
		addrs = append(addrs, h.Address)
	}
	t := FirewallTable(p.Lab)
	var b strings.Builder
	b.WriteString(nftReplace(t))
	b.WriteString("  chain input {\n    type filter hook input priority -10; policy accept;\n")
	if len(peers) > 0 {
		fmt.Fprintf(&b, "    udp dport %d @th,96,24 { %s } ip saddr != { %s } counter drop\n", p.Tunnels.Port, strings.Join(vnis, ", "), strings.Join(peers, ", "))
	}
	fmt.Fprintf(&b, "    iifname { %s } udp dport %d counter drop\n", strings.Join(bridges, ", "), p.Tunnels.Port)
	fmt.Fprintf(&b, "    iifname { %s } ip daddr { %s } counter drop\n", strings.Join(bridges, ", "), strings.Join(addrs, ", "))
	b.WriteString("  }\n  chain forward {\n    type filter hook forward priority -10; policy accept;\n")
	fmt.Fprintf(&b, "    iifname { %s } ip daddr { %s } counter drop\n", strings.Join(bridges, ", "), strings.Join(addrs, ", "))
	b.WriteString("  }\n}\n")
	return b.String()
}

// Stitch makes this hypervisor's tunnels of the lab (see StitchScript).
func (h *Host) Stitch(ctx context.Context, p *plan.Plan) error {
	script, err := StitchScript(p, h.HV.Name)
	if err != nil {
		return err
	}
	if _, err := h.Run(ctx, script); err != nil {
		return fmt.Errorf("VXLAN tunnels: %w", err)
	}
	return nil
}

// tunnelDevices are the names a lab's VXLAN devices have on every
// hypervisor: derived from the lab's name alone, so that down finds them
// without the state or the topology's hypervisors.
func tunnelDevices(lab string) []string {
	return []string{plan.TunnelDevice(lab, plan.RoleNAT), plan.TunnelDevice(lab, plan.RoleHostOnly)}
}

// Unstitch removes the lab's VXLAN devices from the hypervisor and
// returns the ones it removed.
func (h *Host) Unstitch(ctx context.Context, lab string) ([]string, error) {
	devs := tunnelDevices(lab)
	var b strings.Builder
	b.WriteString("set -eu\n")
	for _, d := range devs {
		fmt.Fprintf(&b, "if ip link show dev %s >/dev/null 2>&1; then ip link del %s; echo %s; fi\n", d, d, d)
	}
	b.WriteString(nftDrop(FirewallTable(lab)))
	out, err := h.Run(ctx, b.String())
	removed := strings.Fields(out)
	if err != nil {
		return removed, fmt.Errorf("remove VXLAN devices: %w", err)
	}
	return removed, nil
}

// Links lists the network interfaces of the lab still on the hypervisor:
// its VXLAN devices and bridges (what down must leave none of).
func (h *Host) Links(ctx context.Context, lab string) ([]string, error) {
	names := append(tunnelDevices(lab), plan.BridgeName(lab, plan.RoleNAT), plan.BridgeName(lab, plan.RoleHostOnly))
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "ip link show dev %s >/dev/null 2>&1 && echo %s\n", n, n)
	}
	b.WriteString("true\n")
	out, err := h.Run(ctx, b.String())
	if err != nil {
		return nil, fmt.Errorf("%s: list links: %w", Who(h.HV), err)
	}
	return strings.Fields(out), nil
}

// CheckTunnelPort fails when a program (not a kernel VXLAN socket, which
// shares the port between VNIs) listens on the tunnel port.
func (h *Host) CheckTunnelPort(ctx context.Context, port int) error {
	out, err := h.Run(ctx, fmt.Sprintf("ss -Hulnp 'sport = :%d' 2>/dev/null || true\n", port))
	if err != nil {
		return fmt.Errorf("check UDP port %d: %w", port, err)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "users:") {
			return fmt.Errorf("UDP port %d, the lab's tunnel port, is held by another program (%s); stop it or choose another port with tunnels.port", port, strings.Join(strings.Fields(l), " "))
		}
	}
	return nil
}
