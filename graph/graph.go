// Package graph draws a lab: the host with its libvirt networks, the nodes
// with their NICs, addresses and VLAN sub-interfaces on the 802.1q trunk,
// and, from a live lab, the Docker networks and containers on each node.
// It writes Graphviz DOT (and SVG through Graphviz's dot) and Mermaid. It
// is its own package because the CLI's graph command and the HTML report
// both draw the same picture.
package graph

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"

	"github.com/labctl/labctl/plan"
)

// Live is what was found on one node: its Docker networks and the
// containers on each.
type Live struct {
	Networks []LiveNetwork
}

// LiveNetwork is one Docker network on a node.
type LiveNetwork struct {
	Name       string
	Driver     string
	Subnet     string
	Containers []string // "name address"
}

// DOT draws the plan (and live state per node name, when given) in
// Graphviz's language.
func DOT(p *plan.Plan, live map[string]Live) string {
	var b strings.Builder
	q := quote
	fmt.Fprintf(&b, "graph %s {\n", q("lab "+p.Lab))
	b.WriteString("  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, nodesep=0.3, ranksep=0.9];\n")
	b.WriteString("  node [fontname=\"Helvetica\", fontsize=10, shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\"];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=9];\n")
	fmt.Fprintf(&b, "  subgraph cluster_host {\n    label=%s; style=\"rounded,filled\"; fillcolor=\"#eef3fb\";\n", q(hostLabel(p)))
	for _, n := range p.Networks {
		kind := "host-only (isolated)"
		if n.Forward == "nat" {
			kind = "NAT"
		}
		label := fmt.Sprintf("%s\n%s %s\nbridge %s, host %s", n.Name, kind, n.Subnet, n.Bridge, n.Host)
		if n.Role == plan.RoleNAT && len(p.VLANs) > 0 {
			var ids []string
			for _, v := range p.VLANs {
				ids = append(ids, fmt.Sprint(v.ID))
			}
			label += "\n802.1q trunk: VLAN " + strings.Join(ids, ", ")
		}
		fmt.Fprintf(&b, "    %s [label=%s, fillcolor=\"#dbe8fa\"];\n", q(netID(n.Role)), q(label))
	}
	fmt.Fprintf(&b, "    %s [label=%s, shape=ellipse, fillcolor=\"#f4f4f4\"];\n", q("outside"), q("outside\n"+p.Outside.Address))
	b.WriteString("  }\n")
	fmt.Fprintf(&b, "  %s -- %s [label=\"masquerade\", style=dotted];\n", q(netID(plan.RoleNAT)), q("outside"))
	for _, v := range p.VLANs {
		fmt.Fprintf(&b, "  %s [label=%s, shape=hexagon, fillcolor=\"#fdf0d5\"];\n", q(vlanID(v.ID)), q(fmt.Sprintf("VLAN %d\n%s", v.ID, v.Subnet)))
	}
	for _, n := range p.Nodes {
		fmt.Fprintf(&b, "  subgraph %s {\n    label=%s; style=\"rounded,filled\"; fillcolor=\"#f2f8ee\";\n", q("cluster_node_"+n.Name), q(fmt.Sprintf("%s (%d CPU, %d MiB%s)", n.Name, n.CPUs, n.MemoryMiB, onHypervisor(n))))
		for _, nic := range n.NICs {
			fmt.Fprintf(&b, "    %s [label=%s];\n", q(nicID(n.Name, nic.Guest)), q(fmt.Sprintf("%s\n%s\n%s", nic.Guest, nic.Address, nic.MAC)))
		}
		for _, v := range n.VLANs {
			fmt.Fprintf(&b, "    %s [label=%s, fillcolor=\"#fdf0d5\"];\n", q(nicID(n.Name, v.Name)), q(fmt.Sprintf("%s\n802.1q VLAN %d", v.Name, v.ID)))
		}
		if l, ok := live[n.Name]; ok {
			for _, dn := range l.Networks {
				id := q("docker:" + n.Name + ":" + dn.Name)
				fmt.Fprintf(&b, "    %s [label=%s, shape=component, fillcolor=\"#e6f4f1\"];\n", id, q(fmt.Sprintf("docker %s (%s)\n%s", dn.Name, dn.Driver, dn.Subnet)))
				for _, c := range dn.Containers {
					cid := q("ctr:" + n.Name + ":" + dn.Name + ":" + c)
					fmt.Fprintf(&b, "    %s [label=%s, shape=note, fillcolor=\"#ffffff\"];\n", cid, q(c))
					fmt.Fprintf(&b, "    %s -- %s;\n", cid, id)
				}
			}
		}
		b.WriteString("  }\n")
		for _, nic := range n.NICs {
			fmt.Fprintf(&b, "  %s -- %s;\n", q(nicID(n.Name, nic.Guest)), q(netID(nic.Role)))
		}
		for _, v := range n.VLANs {
			fmt.Fprintf(&b, "  %s -- %s [label=\"tagged %d\", style=dashed];\n", q(nicID(n.Name, v.Name)), q(nicID(n.Name, v.Parent)), v.ID)
			fmt.Fprintf(&b, "  %s -- %s [style=dashed];\n", q(nicID(n.Name, v.Name)), q(vlanID(v.ID)))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// Mermaid draws the same picture as a Mermaid flowchart (for Markdown).
func Mermaid(p *plan.Plan, live map[string]Live) string {
	var b strings.Builder
	ids := map[string]string{}
	id := func(key string) string {
		if v, ok := ids[key]; ok {
			return v
		}
		v := fmt.Sprintf("n%d", len(ids)+1)
		ids[key] = v
		return v
	}
	lbl := func(s string) string {
		return `"` + strings.NewReplacer(`"`, "#quot;", "\n", "<br/>").Replace(s) + `"`
	}
	b.WriteString("flowchart LR\n")
	fmt.Fprintf(&b, "  subgraph %s[%s]\n", id("host"), lbl(hostLabel(p)))
	for _, n := range p.Networks {
		kind := "host-only"
		if n.Forward == "nat" {
			kind = "NAT"
		}
		fmt.Fprintf(&b, "    %s[%s]\n", id(netID(n.Role)), lbl(fmt.Sprintf("%s\n%s %s", n.Name, kind, n.Subnet)))
	}
	fmt.Fprintf(&b, "    %s((%s))\n", id("outside"), lbl("outside\n"+p.Outside.Address))
	b.WriteString("  end\n")
	fmt.Fprintf(&b, "  %s -. masquerade .- %s\n", id(netID(plan.RoleNAT)), id("outside"))
	for _, v := range p.VLANs {
		fmt.Fprintf(&b, "  %s{{%s}}\n", id(vlanID(v.ID)), lbl(fmt.Sprintf("VLAN %d\n%s", v.ID, v.Subnet)))
	}
	for _, n := range p.Nodes {
		fmt.Fprintf(&b, "  subgraph %s[%s]\n", id("node:"+n.Name), lbl(n.Name))
		for _, nic := range n.NICs {
			fmt.Fprintf(&b, "    %s[%s]\n", id(nicID(n.Name, nic.Guest)), lbl(fmt.Sprintf("%s\n%s", nic.Guest, nic.Address)))
		}
		for _, v := range n.VLANs {
			fmt.Fprintf(&b, "    %s[%s]\n", id(nicID(n.Name, v.Name)), lbl(fmt.Sprintf("%s\nVLAN %d", v.Name, v.ID)))
		}
		if l, ok := live[n.Name]; ok {
			for _, dn := range l.Networks {
				fmt.Fprintf(&b, "    %s[%s]\n", id("docker:"+n.Name+":"+dn.Name), lbl(fmt.Sprintf("docker %s (%s)\n%s", dn.Name, dn.Driver, dn.Subnet)))
				for _, c := range dn.Containers {
					fmt.Fprintf(&b, "    %s[%s] --- %s\n", id("ctr:"+n.Name+":"+dn.Name+":"+c), lbl(c), id("docker:"+n.Name+":"+dn.Name))
				}
			}
		}
		b.WriteString("  end\n")
		for _, nic := range n.NICs {
			fmt.Fprintf(&b, "  %s --- %s\n", id(nicID(n.Name, nic.Guest)), id(netID(nic.Role)))
		}
		for _, v := range n.VLANs {
			fmt.Fprintf(&b, "  %s -. tagged %d .- %s\n", id(nicID(n.Name, v.Name)), v.ID, id(nicID(n.Name, v.Parent)))
			fmt.Fprintf(&b, "  %s -.- %s\n", id(nicID(n.Name, v.Name)), id(vlanID(v.ID)))
		}
	}
	return b.String()
}

// ErrNoGraphviz is SVG asked for where Graphviz's dot is not installed.
var ErrNoGraphviz = errors.New("SVG needs Graphviz's dot (Debian: apt-get install graphviz); --format dot or mermaid print the graph without it")

// SVG renders DOT with Graphviz's dot.
func SVG(ctx context.Context, dot string) ([]byte, error) {
	bin, err := exec.LookPath("dot")
	if err != nil {
		return nil, ErrNoGraphviz
	}
	cmd := exec.CommandContext(ctx, bin, "-Tsvg")
	cmd.Stdin = strings.NewReader(dot)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dot -Tsvg: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// IDs: stable names of the graph's nodes (SVG <title>s carry them).
func netID(role string) string        { return "net:" + role }
func vlanID(id int) string            { return fmt.Sprintf("vlan:%d", id) }
func nicID(node, iface string) string { return "nic:" + node + ":" + iface }
func nodeIDs(p *plan.Plan) []string { // every graph node the plan gives
	var out []string
	for _, n := range p.Networks {
		out = append(out, netID(n.Role))
	}
	for _, v := range p.VLANs {
		out = append(out, vlanID(v.ID))
	}
	for _, n := range p.Nodes {
		for _, nic := range n.NICs {
			out = append(out, nicID(n.Name, nic.Guest))
		}
		for _, v := range n.VLANs {
			out = append(out, nicID(n.Name, v.Name))
		}
	}
	sort.Strings(out)
	return out
}

// quote quotes s as a DOT string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// Stamp marks an SVG with the hash of the DOT it was drawn from, so that a
// checked-in picture can be told from a stale one without Graphviz.
func Stamp(svg []byte, dot string) []byte {
	sum := sha256.Sum256([]byte(dot))
	mark := "<!-- drawn by labctl graph; sha256 of the DOT: " + hex.EncodeToString(sum[:]) + " -->\n"
	if i := bytes.Index(svg, []byte("<svg")); i >= 0 {
		return append(append(append([]byte{}, svg[:i]...), mark...), svg[i:]...)
	}
	return append([]byte(mark), svg...)
}

// hostLabel names where the lab's networks live: the libvirt host, or the
// hypervisors of a lab spread over several (its networks span them all).
func hostLabel(p *plan.Plan) string {
	if len(p.Hypervisors) == 0 {
		return "host (" + p.Libvirt.URI + ")"
	}
	var hs []string
	for _, h := range p.Hypervisors {
		hs = append(hs, h.Name)
	}
	s := "hypervisors " + strings.Join(hs, ", ")
	if p.Tunnels != nil {
		s += fmt.Sprintf(" (networks joined by VXLAN, UDP %d, MTU %d)", p.Tunnels.Port, p.Tunnels.MTU)
	}
	return s
}

// onHypervisor is ", on NAME" for a node of a spread lab.
func onHypervisor(n plan.Node) string {
	if n.Hypervisor == "" {
		return ""
	}
	return ", on " + n.Hypervisor
}
