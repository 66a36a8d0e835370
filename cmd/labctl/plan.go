package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/topology"
	"github.com/spf13/cobra"
)

func newPlanCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "plan",
		Short: "Show everything the lab consists of, without creating anything",
		Long: `Show what 'labctl up' would create for this lab: the libvirt networks with
their bridges, DHCP ranges and reservations; each node with its size, its
NICs (guest name, MAC, address), its VLAN sub-interfaces and routes.

MACs are derived from the lab name, node and network: the same on every run,
different for another --lab. With --output json the plan is printed in a
stable form for scripts.

With a hypervisors: list in the topology, the plan also shows which node runs
on which hypervisor (pinned with nodes[].hypervisor, else placed by capacity),
which hypervisor is the gateway, and the VXLAN tunnels that make each lab
network one layer-2 segment across them (VNI, bridge, UDP port, MTU).`,
		Example: `  labctl plan
  labctl plan --lab workshop-7 -f lab.yaml --output json | jq '.nodes[].nics'
  labctl plan -f two-hypervisors.yaml --output json | jq '.hypervisors, .tunnels'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, p, err := g.loadPlan(true) // plan shows what the file gives now
			if err != nil {
				return err
			}
			return g.emit(p, func() error {
				if err := printPlan(g.stdout, p); err != nil {
					return err
				}
				if t.ImageDefaulted() {
					fmt.Fprintf(g.stdout, "\nThe topology names no image: %s when the image cache has it, else %s with Docker\ninstalled from the offline bundle ('labctl up' says which).\n", topology.DefaultImage, topology.PlainImage)
				}
				return nil
			})
		},
	}
}

func printPlan(w io.Writer, p *plan.Plan) error {
	where := "libvirt " + p.Libvirt.URI
	if len(p.Hypervisors) > 0 {
		where = fmt.Sprintf("%d hypervisors", len(p.Hypervisors))
	}
	fmt.Fprintf(w, "Lab %s  (%s, acceleration %s, pool %s, image %s, user %s)\n\n",
		p.Lab, where, p.Libvirt.Acceleration, p.Libvirt.Pool, p.Image, p.User)
	if len(p.Hypervisors) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HYPERVISOR\tURI\tTUNNEL ADDRESS\tROLE\tNODES")
		for _, h := range p.Hypervisors {
			role := "layer 2"
			if h.Gateway {
				role = "gateway (NAT, DHCP, host addresses)"
			}
			addr := h.Address
			if addr == "" {
				addr = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Name, h.URI, addr, role, strings.Join(h.Nodes, ","))
		}
		tw.Flush()
		fmt.Fprintln(w)
		if t := p.Tunnels; t != nil {
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "TUNNEL\tVNI\tBRIDGE\tUDP PORT\tMTU\tPEERS\n")
			for _, s := range t.Segments {
				var peers []string
				for _, h := range p.Hypervisors {
					peers = append(peers, h.Address)
				}
				fmt.Fprintf(tw, "%s (%s)\t%d\t%s\t%d\t%d\t%s (full mesh, head-end replication)\n", s.Device, s.Role, s.VNI, s.Bridge, t.Port, t.MTU, strings.Join(peers, " <-> "))
			}
			tw.Flush()
			fmt.Fprintln(w)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NETWORK\tBRIDGE\tFORWARD\tSUBNET\tHOST\tDHCP")
	for _, n := range p.Networks {
		dhcp := "-"
		if n.DHCP != nil {
			dhcp = n.DHCP.Start + "-" + n.DHCP.End
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Bridge, n.Forward, n.Subnet, n.Host, dhcp)
	}
	tw.Flush()
	if len(p.VLANs) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VLAN\tPARENT\tSUBNET\tGATEWAY")
		for _, v := range p.VLANs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", v.ID, v.Parent, v.Subnet, v.Gateway)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tDOMAIN\tCPUS\tMEMORY\tDISK\tNIC\tMAC\tADDRESS\tVIA\tVLAN IFS")
	for _, n := range p.Nodes {
		if n.Hypervisor != "" {
			n.Domain += " @" + n.Hypervisor
		}
		var vl []string
		for _, v := range n.VLANs {
			vl = append(vl, v.Name)
		}
		for i, nic := range n.NICs {
			if i == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%dMiB\t%dGiB\t", n.Name, n.Domain, n.CPUs, n.MemoryMiB, n.DiskGiB)
			} else {
				fmt.Fprint(tw, "\t\t\t\t\t")
			}
			vlans := ""
			if i == 0 {
				vlans = strings.Join(vl, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", nic.Guest, nic.MAC, nic.Address, nic.Method, vlans)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nDocker: docker0 %s, pools %s, swarm pool %s (by /%d), ipvlan L3 %s. Outside target: %s\n",
		p.Docker.BridgeIP, pools(p.Docker.AddressPools), p.Docker.SwarmPool.Base, p.Docker.SwarmPool.Size,
		strings.Join(p.Docker.IPVlanL3Subnets, ","), p.Outside.Address)
	return nil
}

func pools(ps []plan.AddressPool) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("%s (by /%d)", p.Base, p.Size))
	}
	return strings.Join(s, ",")
}
