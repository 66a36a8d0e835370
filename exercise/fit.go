// Whether a lab can run on a topology, checked before anything is set up.

package exercise

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/labctl/labctl/plan"
)

// Fits says why lab cannot run on the plan (nil when it can): too few
// nodes, or a container address of the tutorial's that the NAT subnet
// lacks or that is taken there (the gateway, a node, the DHCP range).
// A topology can be valid and still unable to host a lab.
func Fits(lab *Exercise, p *plan.Plan) error {
	if len(p.Nodes) < lab.MinNodes {
		return fmt.Errorf("%w: lab %s needs %d nodes, the topology has %d", ErrNotEnoughNodes, lab.Name, lab.MinNodes, len(p.Nodes))
	}
	if len(lab.NATHosts) == 0 {
		return nil
	}
	nat := p.Net(plan.RoleNAT)
	if nat == nil {
		return fmt.Errorf("lab %s needs the NAT network", lab.Name)
	}
	prefix, err := netip.ParsePrefix(nat.Subnet)
	if err != nil {
		return err
	}
	prefix = prefix.Masked()
	taken := map[string]string{nat.Host: "the host's address (the gateway)"}
	for _, n := range p.Nodes {
		if a := n.Addr(plan.RoleNAT); a != "" {
			taken[a] = n.Name + "'s address"
		}
	}
	var dhcpFrom, dhcpTo netip.Addr
	if nat.DHCP != nil {
		dhcpFrom, _ = netip.ParseAddr(nat.DHCP.Start)
		dhcpTo, _ = netip.ParseAddr(nat.DHCP.End)
	}
	nums := make([]int, 0, len(lab.NATHosts))
	for i := range lab.NATHosts {
		nums = append(nums, i)
	}
	sort.Ints(nums)
	size := 1 << (32 - prefix.Bits())
	var why, outside, ctrs []string
	need := 0
	for _, i := range nums {
		ctr := lab.NATHosts[i]
		if i <= 0 || i >= size-1 {
			outside = append(outside, fmt.Sprintf(".%d", i))
			ctrs = append(ctrs, ctr)
			need = max(need, i+2)
			continue
		}
		a, _ := netip.ParseAddr(plan.Nth(nat.Subnet, i))
		switch {
		case taken[a.String()] != "":
			why = append(why, fmt.Sprintf("container %s gets %s, which is %s", ctr, a, taken[a.String()]))
		case dhcpFrom.IsValid() && dhcpTo.IsValid() && dhcpFrom.Compare(a) <= 0 && a.Compare(dhcpTo) <= 0:
			why = append(why, fmt.Sprintf("container %s gets %s, which is in the NAT network's DHCP range %s-%s", ctr, a, dhcpFrom, dhcpTo))
		}
	}
	if len(outside) > 0 {
		why = append([]string{fmt.Sprintf("the NAT subnet %s has no host %s for container %s (it needs a /%d or larger)",
			nat.Subnet, strings.Join(outside, ", "), strings.Join(ctrs, ", "), 32-bitsFor(need))}, why...)
	}
	if len(why) > 0 {
		return fmt.Errorf("lab %s cannot run on this topology: %s; change the topology's NAT subnet, node addresses or DHCP range", lab.Name, strings.Join(why, "; "))
	}
	return nil
}

// bitsFor is how many host bits hold n addresses.
func bitsFor(n int) int {
	b := 0
	for 1<<b < n {
		b++
	}
	return b
}
