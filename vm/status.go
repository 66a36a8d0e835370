package vm

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"github.com/digitalocean/go-libvirt"
	"github.com/labctl/labctl/plan"
	"libvirt.org/go/libvirtxml"
)

// NodeStatus is one node as libvirt sees it, beside the plan.
type NodeStatus struct {
	Name   string `json:"name"`
	Domain string `json:"domain"`
	State  string `json:"state"` // running, shut off, crashed, ..., "absent"
	// Hypervisor is the node's hypervisor in a lab spread over several.
	Hypervisor string      `json:"hypervisor,omitempty"`
	NICs       []NICStatus `json:"nics"`
}

// NICStatus is one NIC: planned, and as defined in libvirt.
type NICStatus struct {
	Role    string `json:"role"`
	Guest   string `json:"guest"`
	Network string `json:"network"`
	MAC     string `json:"mac"`
	Address string `json:"address"`
	Defined bool   `json:"defined"` // the domain has a NIC with this MAC on this network
}

var stateNames = map[libvirt.DomainState]string{
	libvirt.DomainNostate: "no state", libvirt.DomainRunning: "running", libvirt.DomainBlocked: "blocked",
	libvirt.DomainPaused: "paused", libvirt.DomainShutdown: "shutting down", libvirt.DomainShutoff: "shut off",
	libvirt.DomainCrashed: "crashed", libvirt.DomainPmsuspended: "suspended",
}

// Status reports the domain state and NICs of each node of the part.
func Status(ctx context.Context, c *Conn, part plan.Part) ([]NodeStatus, error) {
	var out []NodeStatus
	for _, n := range part.Nodes {
		s := NodeStatus{Name: n.Name, Domain: n.Domain, State: "absent"}
		var defined map[string]string // MAC -> network
		err := c.Do(ctx, "status of "+n.Domain, func(a API) error {
			d, err := a.DomainLookupByName(n.Domain)
			if IsNoObject(err) {
				return nil
			}
			if err != nil {
				return err
			}
			desc, err := a.DomainGetXMLDesc(d, 0)
			if err != nil {
				return err
			}
			if o, ok := ParseOwner(desc); !ok || o.Lab != part.Plan.Lab {
				s.State = "not labctl's"
				return nil
			}
			st, _, err := a.DomainGetState(d, 0)
			if err != nil {
				return err
			}
			s.State = stateNames[libvirt.DomainState(st)]
			var dx libvirtxml.Domain
			if err := dx.Unmarshal(desc); err != nil {
				return err
			}
			defined = map[string]string{}
			for _, i := range dx.Devices.Interfaces {
				if i.MAC != nil && i.Source != nil && i.Source.Network != nil {
					defined[strings.ToLower(i.MAC.Address)] = i.Source.Network.Network
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, nic := range n.NICs {
			s.NICs = append(s.NICs, NICStatus{
				Role: nic.Role, Guest: nic.Guest, Network: nic.Network, MAC: nic.MAC, Address: nic.Address,
				Defined: defined[nic.MAC] == nic.Network,
			})
		}
		out = append(out, s)
	}
	return out, nil
}

// ExistingNetworks lists libvirt's networks with their bridges and
// subnets, for the preflight.
func ExistingNetworks(ctx context.Context, c *Conn) ([]plan.LibvirtNet, error) {
	var out []plan.LibvirtNet
	err := c.Do(ctx, "list networks", func(a API) error {
		nets, _, err := a.ConnectListAllNetworks(1, 0)
		if err != nil {
			return err
		}
		for _, n := range nets {
			desc, err := a.NetworkGetXMLDesc(n, 0)
			if err != nil {
				continue // vanished meanwhile
			}
			var nx libvirtxml.Network
			if err := nx.Unmarshal(desc); err != nil {
				continue
			}
			ln := plan.LibvirtNet{Name: nx.Name}
			if nx.Bridge != nil {
				ln.Bridge = nx.Bridge.Name
			}
			for _, ip := range nx.IPs {
				if pfx, ok := ipPrefix(ip); ok {
					ln.Subnets = append(ln.Subnets, pfx)
				}
			}
			out = append(out, ln)
		}
		return nil
	})
	return out, err
}

func ipPrefix(ip libvirtxml.NetworkIP) (netip.Prefix, bool) {
	a, err := netip.ParseAddr(ip.Address)
	if err != nil {
		return netip.Prefix{}, false
	}
	bits := int(ip.Prefix)
	if ip.Netmask != "" {
		m, err := netip.ParseAddr(ip.Netmask)
		if err != nil {
			return netip.Prefix{}, false
		}
		bits, _ = net.IPMask(m.AsSlice()).Size()
	}
	if bits == 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, bits), true
}
