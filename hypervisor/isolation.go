// The table that keeps an isolated lab's nodes to themselves on its
// gateway hypervisor.

package hypervisor

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/labctl/labctl/plan"
)

// IsolationTable is the nftables table of an isolated lab on its gateway,
// named from the lab name alone (down finds it without the topology).
func IsolationTable(lab string) string {
	return "labctl_" + strings.ReplaceAll(plan.BridgeName(lab, plan.RoleNAT), "-", "_")
}

// IsolationRules is an isolated lab's table, loaded as one transaction
// (replaced whole, so loading it again changes nothing). From the lab's
// bridges the nodes reach:
//   - this hypervisor only for DHCP (UDP 67), DNS (53) and ping at the
//     lab's own gateway addresses, and replies to what the hypervisor
//     opened (labctl's SSH, the host's probes);
//   - through it only the outside address, the registry mirrors and the
//     outside URL's host (and replies to connections they did not open);
//
// so not the host's other services (sshd, other labs' dnsmasq), not other
// labs or seats, not the LAN, not link-local metadata addresses. Traffic
// between the nodes of one network is bridged and untouched.
func IsolationRules(p *plan.Plan) (string, error) {
	var bridges, gateways []string
	for _, n := range p.Networks {
		bridges = append(bridges, `"`+n.Bridge+`"`)
		if n.Host != "" {
			gateways = append(gateways, n.Host)
		}
	}
	out := []string{p.Outside.Address}
	for _, m := range p.Docker.RegistryMirrors {
		if u, err := url.Parse(m); err == nil && ipv4(u.Hostname()) {
			out = append(out, u.Hostname())
		}
	}
	if u, err := url.Parse(p.Outside.HTTPURL); p.Outside.HTTPURL != "" && err == nil && ipv4(u.Hostname()) {
		out = append(out, u.Hostname())
	}
	for _, a := range append(append([]string(nil), gateways...), out...) {
		if !ipv4(a) {
			return "", fmt.Errorf("lab %s: %q is not an IPv4 address for the isolation rules", p.Lab, a)
		}
	}
	if len(gateways) == 0 {
		return "", fmt.Errorf("lab %s: no gateway address to isolate", p.Lab)
	}
	br, gw, dst := strings.Join(bridges, ", "), strings.Join(gateways, ", "), strings.Join(out, ", ")
	t := IsolationTable(p.Lab)
	var b strings.Builder
	b.WriteString(nftReplace(t))
	b.WriteString("  chain input {\n    type filter hook input priority -5; policy accept;\n")
	fmt.Fprintf(&b, "    iifname { %s } ct state established,related accept\n", br)
	fmt.Fprintf(&b, "    iifname { %s } udp dport 67 accept\n", br)
	fmt.Fprintf(&b, "    iifname { %s } ip daddr { %s } udp dport 53 accept\n", br, gw)
	fmt.Fprintf(&b, "    iifname { %s } ip daddr { %s } tcp dport 53 accept\n", br, gw)
	fmt.Fprintf(&b, "    iifname { %s } ip daddr { %s } icmp type echo-request accept\n", br, gw)
	fmt.Fprintf(&b, "    iifname { %s } counter drop\n", br)
	b.WriteString("  }\n  chain forward {\n    type filter hook forward priority -5; policy accept;\n")
	fmt.Fprintf(&b, "    iifname { %s } ct state established,related accept\n", br)
	fmt.Fprintf(&b, "    iifname { %s } ip daddr { %s } accept\n", br, dst)
	fmt.Fprintf(&b, "    iifname { %s } counter drop\n", br)
	b.WriteString("  }\n}\n")
	return b.String(), nil
}

// Isolate loads the lab's isolation table (IsolationRules) on this
// hypervisor, its gateway.
func (h *Host) Isolate(ctx context.Context, p *plan.Plan) error {
	rules, err := IsolationRules(p)
	if err != nil {
		return err
	}
	script := "set -eu\ncommand -v nft >/dev/null || { echo 'nft is missing: labctl isolates the lab with nftables (Debian: apt-get install nftables)' >&2; exit 3; }\n" +
		"nft -f - <<'LABCTL_NFT'\n" + rules + "LABCTL_NFT\n"
	if _, err := h.Run(ctx, script); err != nil {
		return fmt.Errorf("isolate the lab's networks: %w", err)
	}
	return nil
}

// Unisolate removes the lab's isolation table, if it is there.
func (h *Host) Unisolate(ctx context.Context, lab string) error {
	if _, err := h.Run(ctx, nftDrop(IsolationTable(lab))); err != nil {
		return fmt.Errorf("remove the lab's isolation: %w", err)
	}
	return nil
}

// ipv4 tells whether s is an IPv4 address in dotted-decimal form, as it
// may be written into a rule or a script.
func ipv4(s string) bool {
	ip, err := netip.ParseAddr(s)
	return err == nil && ip.Is4()
}

// nftReplace opens the definition of table inet t so that loading it
// replaces the table whole: declared (so the delete cannot fail), deleted,
// declared again; the caller writes the chains and the closing brace.
func nftReplace(t string) string {
	return fmt.Sprintf("table inet %s\ndelete table inet %s\ntable inet %s {\n", t, t, t)
}

// nftDrop is a shell line that deletes table inet t if nft and the table
// are there, and does nothing otherwise.
func nftDrop(t string) string {
	return fmt.Sprintf("if command -v nft >/dev/null && nft list table inet %s >/dev/null 2>&1; then nft delete table inet %s; fi\n", t, t)
}
