package labfile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/labctl/labctl/plan"
)

// The values a lab file can use as ${name}, from the plan, so that one file
// works on every topology that validates:
//
//	node1 ... nodeN            the topology's first ... Nth node's name
//	node1.nat, node1.hostonly  its addresses (no prefix length)
//	node1.nic.nat, node1.nic.hostonly  its NIC names in the guest (ens33)
//	nat.subnet, nat.gateway, nat.prefix, nat.92   the NAT network; .92: host 92 in it
//	hostonly.subnet, hostonly.gateway, hostonly.prefix, hostonly.N
//	nat.bridge, hostonly.bridge  the networks' bridges on the gateway hypervisor
//	vlan20.subnet, vlan20.gateway, vlan20.parent, vlan20.prefix, vlan20.N  (any VLAN id)
//	l3net1.subnet, l3net1.prefix, l3net1.N, l3net2....   docker.ipvlan_l3_subnets
//	docker.bip                 docker0's address (with prefix length)
//	outside                    the address outside the lab the labs ping
//
// and whatever a step or probe captured. Upper-case ${VAR} is left to the
// shell.
var planValueRE = regexp.MustCompile(`^(?:(node)([1-9][0-9]?)(?:\.(nat|hostonly|nic\.nat|nic\.hostonly))?|(nat|hostonly)\.(subnet|gateway|prefix|bridge|[0-9]{1,3})|(vlan)([1-9][0-9]{0,3})\.(subnet|gateway|parent|prefix|[0-9]{1,3})|(l3net)([1-9])\.(subnet|prefix|[0-9]{1,3})|(docker\.bip)|(outside))$`)

// isPlanValue tells whether name has the shape of a plan value.
func isPlanValue(name string) bool {
	if planValueRE.MatchString(name) {
		return true
	}
	head, _, _ := strings.Cut(name, ".")
	return regexp.MustCompile(`^(node[0-9]+|nat|hostonly|vlan[0-9]+|l3net[0-9]+|docker|outside)$`).MatchString(head)
}

// checkPlanValue says what is wrong with a ${name} that is not captured.
func checkPlanValue(name string, nodes int) error {
	m := planValueRE.FindStringSubmatch(name)
	if m == nil {
		return fmt.Errorf("no such value; see 'labctl lab new' for the values a lab file can use, or capture it in an earlier step")
	}
	if m[1] == "node" {
		if i, _ := strconv.Atoi(m[2]); i > nodes {
			return fmt.Errorf("node %d, but the exercise needs %d node(s) (nodes:)", i, nodes)
		}
	}
	if m[6] == "vlan" {
		if id, _ := strconv.Atoi(m[7]); id > 4094 {
			return fmt.Errorf("VLAN %d: VLAN ids are 1 to 4094", id)
		}
	}
	for _, host := range []string{m[5], m[8], m[11]} {
		if n, err := strconv.Atoi(host); err == nil && (n < 1 || n > 254) {
			return fmt.Errorf("host %d of a subnet: 1 to 254", n)
		}
	}
	return nil
}

// planValues are the values of a plan, by name.
func planValues(p *plan.Plan) map[string]string {
	v := map[string]string{"outside": p.Outside.Address, "docker.bip": p.Docker.BridgeIP}
	for i, n := range p.Nodes {
		k := fmt.Sprintf("node%d", i+1)
		v[k] = n.Name
		for _, role := range []string{plan.RoleNAT, plan.RoleHostOnly} {
			v[k+"."+role] = n.Addr(role)
			if nic := n.NIC(role); nic != nil {
				v[k+".nic."+role] = nic.Guest
			}
		}
	}
	for _, role := range []string{plan.RoleNAT, plan.RoleHostOnly} {
		if nw := p.Net(role); nw != nil {
			v[role+".subnet"], v[role+".gateway"], v[role+".prefix"], v[role+".bridge"] = nw.Subnet, nw.Host, prefixLen(nw.Subnet), nw.Bridge
		}
	}
	for _, vl := range p.VLANs {
		k := fmt.Sprintf("vlan%d", vl.ID)
		v[k+".subnet"], v[k+".gateway"], v[k+".parent"], v[k+".prefix"] = vl.Subnet, vl.Gateway, vl.Parent, prefixLen(vl.Subnet)
	}
	for i, s := range p.Docker.IPVlanL3Subnets {
		k := fmt.Sprintf("l3net%d", i+1)
		v[k+".subnet"], v[k+".prefix"] = s, prefixLen(s)
	}
	return v
}

// lookupValue finds ${name}: captured, a plan value, or host N of a subnet.
func lookupValue(name string, values, captured map[string]string) (string, bool) {
	if s, ok := captured[name]; ok {
		return s, true
	}
	if s, ok := values[name]; ok {
		return s, true
	}
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", false
	}
	host, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return "", false
	}
	subnet, ok := values[name[:i]+".subnet"]
	if !ok {
		return "", false
	}
	return plan.Nth(subnet, host), true
}

// expand replaces every ${name} in s; quote (e.g. regexp.QuoteMeta) is
// applied to each value when not nil.
func expand(s string, values, captured map[string]string, quote func(string) string) (string, error) {
	var missing []string
	out := valueRE.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := lookupValue(name, values, captured)
		if !ok {
			missing = append(missing, m)
			return m
		}
		if quote != nil {
			return quote(v)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%s: not in this topology (or not captured yet)", strings.Join(missing, ", "))
	}
	return out, nil
}

// prefixLen is the prefix length of a subnet written as address/length.
func prefixLen(subnet string) string {
	_, l, _ := strings.Cut(subnet, "/")
	return l
}

// capturedRE is what a captured value may hold: an address, a MAC, a
// number, a name, a path. It is read from a node, where students are root,
// and goes into later commands - on the host too - as it is.
var capturedRE = regexp.MustCompile(`^[A-Za-z0-9._:/@%+,=-]{0,256}$`)

// keep stores a captured value as ${name}, trimmed; one that holds more
// (spaces, quotes, $, ;, escapes, new lines, over 256 bytes) is refused:
// it would run as a command wherever ${name} is used.
func (r run) keep(name, out string) error {
	v := strings.TrimSpace(out)
	if !capturedRE.MatchString(v) {
		return fmt.Errorf("capture %s: the value read is not an address, MAC, number or name (%s): a captured value goes into later commands as it is, so it may hold only letters, digits and . _ : / @ %% + , = - (at most 256)", name, strconv.QuoteToASCII(abbrev(v, 60)))
	}
	r.Set(name, v)
	return nil
}

// abbrev cuts s to at most n bytes, for messages.
func abbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
