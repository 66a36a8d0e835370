package labs

import (
	"context"
	"fmt"
	"strings"
)

// ---- macvlan ----

func macvlanLab() *Exercise {
	return &Exercise{
		Name: "macvlan", Title: "macvlan on the NAT NIC (subway)", MinNodes: 2,
		NATHosts: map[int]string{92: "milk", 93: "soup", 95: "bread", 96: "tea"},
		Explain: `macvlan gives each container its own MAC and an address on the node's
physical network, as if it were another machine plugged into the same
switch: containers reach the gateway and outside directly, and the host
reaches them at their own addresses. The one thing that cannot talk to them
is the node itself: the kernel does not pass frames between a macvlan
parent and its macvlan children.`,
		Tutorial: []string{
			"docker network create -d macvlan --subnet 192.168.241.0/24 --gateway 192.168.241.2 -o parent=ens33 subway",
			"docker run -itd --rm --network subway --ip 192.168.241.92 --name milk busybox",
			"docker run -itd --rm --network subway --ip 192.168.241.95 --name bread busybox",
			"docker run -itd --rm --network subway --ip 192.168.241.96 --name tea nginx",
			"docker exec milk ip address show",
		},
		LookFor: []string{"eth0@ifN with N the index of ens33", "the gateway and outside answering", "the node failing to ping its own containers"},
		Steps: []Step{
			{"create subway (macvlan on the NAT NIC) on node1 and node2; run milk .92, bread .95, tea .96 on node1 and soup .93 on node2", func(ctx context.Context, r *Run) error {
				nat := natNet(r)
				for _, n := range []string{r.NodeName(0), r.NodeName(1)} {
					if _, err := r.CreateNetwork(ctx, n, NetworkSpec{Name: "subway", Driver: "macvlan",
						Subnets: []Subnet{{nat.Subnet, nat.Host}}, Options: map[string]string{"parent": natNIC(r)}}); err != nil {
						return err
					}
				}
				n1 := r.NodeName(0)
				for _, c := range []ContainerSpec{
					{Name: "milk", Image: "busybox", Network: "subway", IP: addr(nat.Subnet, 92)},
					{Name: "bread", Image: "busybox", Network: "subway", IP: addr(nat.Subnet, 95)},
					{Name: "tea", Image: "nginx", Network: "subway", IP: addr(nat.Subnet, 96)},
				} {
					if _, err := r.RunContainer(ctx, n1, c); err != nil {
						return err
					}
				}
				_, err := r.RunContainer(ctx, r.NodeName(1), ContainerSpec{Name: "soup", Image: "busybox", Network: "subway", IP: addr(nat.Subnet, 93)})
				return err
			}},
		},
		Checks: []Check{
			{"milk's eth0 is eth0@ifN, N being the index of the parent NIC", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				n := r.NodeName(0)
				okIdx, evIdx, err := r.OnNode(ctx, n, "cat /sys/class/net/"+natNIC(r)+"/ifindex", "")
				if err != nil {
					return false, nil, err
				}
				idx := strings.TrimSpace(evIdx.Output)
				ok, ev, err := r.InContainer(ctx, n, "milk", "eth0@if"+idx+":", "ip", "-o", "link", "show", "eth0")
				return okIdx && ok, []Evidence{evIdx, ev}, err
			}},
			{"milk pings the gateway", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", natNet(r).Host))
			}},
			{"milk reaches outside", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", r.Env.Plan.Outside.Address))
			}},
			{"bread pings milk", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "bread", addr(natNet(r).Subnet, 92)))
			}},
			{"the host reaches tea's nginx at tea's own address", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(waitHTTP(ctx, r, "http://"+addr(natNet(r).Subnet, 96)+"/", "nginx"))
			}},
			{"the node cannot reach its own macvlan containers (the kernel does not pass frames between a macvlan parent and its children)", ExpectFailure, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.OnNode(ctx, r.NodeName(0), "ping -c 2 -W 2 "+addr(natNet(r).Subnet, 92), ""))
			}},
			{"milk on node1 reaches soup on node2 over the same macvlan network", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", addr(natNet(r).Subnet, 93)))
			}},
		},
	}
}

// ---- macvlan on 802.1q ----

func macvlan8021qLab() *Exercise {
	return &Exercise{
		Name: "macvlan-8021q", Title: "macvlan on 802.1q sub-interfaces, and routing between VLANs", MinNodes: 2,
		Explain: `One NIC carries several VLANs as 802.1q sub-interfaces (ens33.20,
ens33.30); a macvlan network on each puts containers into that VLAN.
Containers in the same VLAN reach each other; across VLANs nothing passes
until a router joins them: here node2 becomes a router on a stick (an
address in each VLAN on its sub-interfaces, forwarding between them), and
the cross-VLAN ping works, until routing is removed again.`,
		Tutorial: []string{
			"docker network create -d macvlan --subnet 192.168.20.0/24 --gateway 192.168.20.1 -o parent=ens33.20 macvlan20",
			"docker network create -d macvlan --subnet 192.168.30.0/24 --gateway 192.168.30.1 -o parent=ens33.30 macvlan30",
			"docker run -itd --rm --network macvlan20 --ip 192.168.20.2 --name milk busybox",
			"docker run -itd --rm --network macvlan20 --ip 192.168.20.3 --name bread busybox",
			"docker run -itd --rm --network macvlan30 --ip 192.168.30.2 --name tea busybox",
		},
		LookFor: []string{"the same-VLAN ping working, the cross-VLAN one not", "the router's two sub-interface addresses", "the cross-VLAN ping failing again without the router"},
		Steps: []Step{
			{"create macvlan20 and macvlan30 on the VLAN sub-interfaces; run milk and bread in VLAN 20, tea in VLAN 30", func(ctx context.Context, r *Run) error {
				v20, v30, err := vlans(r)
				if err != nil {
					return err
				}
				n := r.NodeName(0)
				for _, v := range []struct{ name, parent, subnet, gw string }{
					{"macvlan20", v20.Parent + ".20", v20.Subnet, v20.Gateway}, {"macvlan30", v30.Parent + ".30", v30.Subnet, v30.Gateway},
				} {
					if _, err := r.CreateNetwork(ctx, n, NetworkSpec{Name: v.name, Driver: "macvlan",
						Subnets: []Subnet{{v.subnet, v.gw}}, Options: map[string]string{"parent": v.parent}}); err != nil {
						return err
					}
				}
				for _, c := range []ContainerSpec{
					{Name: "milk", Image: "busybox", Network: "macvlan20", IP: addr(v20.Subnet, 2)},
					{Name: "bread", Image: "busybox", Network: "macvlan20", IP: addr(v20.Subnet, 3)},
					{Name: "tea", Image: "busybox", Network: "macvlan30", IP: addr(v30.Subnet, 2)},
				} {
					if _, err := r.RunContainer(ctx, n, c); err != nil {
						return err
					}
				}
				return nil
			}},
		},
		Checks: []Check{
			{"milk reaches bread in the same VLAN", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				v20, _, _ := vlans(r)
				return one(r.Ping(ctx, r.NodeName(0), "milk", addr(v20.Subnet, 3)))
			}},
			{"milk (VLAN 20) cannot reach tea (VLAN 30) without a router", ExpectFailure, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				_, v30, _ := vlans(r)
				return one(r.Ping(ctx, r.NodeName(0), "milk", addr(v30.Subnet, 2)))
			}},
			{"milk cannot reach outside from VLAN 20", ExpectFailure, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", r.Env.Plan.Outside.Address))
			}},
			{"with node2 routing between VLAN 20 and 30, milk reaches tea", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				v20, v30, _ := vlans(r)
				router := r.NodeName(1)
				if err := routerOn(ctx, r, router, v20.Parent, v20.Gateway, v30.Gateway, v20.Subnet, v30.Subnet); err != nil {
					return false, nil, err
				}
				ok1, ev1, err := r.OnNode(ctx, router, "ip -4 -o addr show | grep -E '"+v20.Parent+"\\.(20|30)'", "")
				if err != nil {
					return false, nil, err
				}
				ok, ev, err := r.Ping(ctx, r.NodeName(0), "milk", addr(v30.Subnet, 2))
				return ok && ok1, []Evidence{note(ev1, "the router's addresses"), ev}, err
			}},
			{"with routing removed again, milk no longer reaches tea", ExpectFailure, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				_, v30, _ := vlans(r)
				if err := r.UndoGroup(ctx, routerGroup); err != nil {
					return false, nil, err
				}
				return one(r.Ping(ctx, r.NodeName(0), "milk", addr(v30.Subnet, 2)))
			}},
		},
	}
}

type vlanInfo struct{ Parent, Subnet, Gateway string }

func vlans(r *Run) (v20, v30 vlanInfo, err error) {
	var found20, found30 bool
	for _, v := range r.Env.Plan.VLANs {
		switch v.ID {
		case 20:
			v20, found20 = vlanInfo{v.Parent, v.Subnet, v.Gateway}, true
		case 30:
			v30, found30 = vlanInfo{v.Parent, v.Subnet, v.Gateway}, true
		}
	}
	if !found20 || !found30 {
		err = fmt.Errorf("this lab needs VLANs 20 and 30 in the topology")
	}
	return
}

// routerOn makes node a router between the two VLANs: an address in each on
// its sub-interfaces, and forwarding allowed between them (Docker's
// FORWARD policy is DROP, so the rules go into DOCKER-USER).
func routerOn(ctx context.Context, r *Run, node, parent, gw20, gw30, sub20, sub30 string) error {
	p20, p30 := parent+".20", parent+".30"
	steps := []struct{ do, undo string }{
		{"sudo ip addr add " + gw20 + "/" + prefixLen(sub20) + " dev " + p20, "sudo ip addr del " + gw20 + "/" + prefixLen(sub20) + " dev " + p20},
		{"sudo ip addr add " + gw30 + "/" + prefixLen(sub30) + " dev " + p30, "sudo ip addr del " + gw30 + "/" + prefixLen(sub30) + " dev " + p30},
		{"sudo iptables -I DOCKER-USER -i " + p20 + " -o " + p30 + " -j ACCEPT", "sudo iptables -D DOCKER-USER -i " + p20 + " -o " + p30 + " -j ACCEPT"},
		{"sudo iptables -I DOCKER-USER -i " + p30 + " -o " + p20 + " -j ACCEPT", "sudo iptables -D DOCKER-USER -i " + p30 + " -o " + p20 + " -j ACCEPT"},
	}
	n := r.Node(node)
	for _, s := range steps {
		if err := r.NodeSh(ctx, node, s.do, ""); err != nil {
			return err
		}
		cmd := s.undo
		r.OnUndoIn(routerGroup, node+": "+cmd, func(ctx context.Context) error {
			o, err := n.Sh(ctx, cmd)
			if err == nil && o.Exit != 0 {
				err = fmt.Errorf("exit %d: %s", o.Exit, strings.TrimSpace(o.Stderr))
			}
			return err
		})
	}
	return nil
}

// routerGroup names the router's undo actions: a check removes the router
// before teardown to show the cross-VLAN ping fail again.
const routerGroup = "the VLAN router"

func prefixLen(subnet string) string {
	_, l, _ := strings.Cut(subnet, "/")
	return l
}

// ---- ipvlan L2 ----

func ipvlanL2Lab() *Exercise {
	return &Exercise{
		Name: "ipvlan-l2", Title: "ipvlan in L2 mode", MinNodes: 2,
		NATHosts: map[int]string{92: "milk", 95: "bread"},
		Explain: `ipvlan is macvlan without the extra MACs: containers get their own IP
addresses on the parent's network, but all of them, and the parent, use the
parent NIC's one MAC address. Another host on the network sees the same MAC
behind several IP addresses in its ARP table.`,
		Tutorial: []string{
			"docker network create -d ipvlan --subnet 192.168.241.0/24 --gateway 192.168.241.2 -o parent=ens33 -o ipvlan_mode=l2 ipvlan-l2",
			"docker run -itd --rm --network ipvlan-l2 --ip 192.168.241.92 --name milk busybox",
			"docker run -itd --rm --network ipvlan-l2 --ip 192.168.241.95 --name bread busybox",
		},
		LookFor: []string{"node2's neighbour table: one MAC for node1, milk and bread"},
		Steps: []Step{
			{"create the ipvlan L2 network on the NAT NIC; run milk .92 and bread .95", func(ctx context.Context, r *Run) error {
				nat := natNet(r)
				n := r.NodeName(0)
				if _, err := r.CreateNetwork(ctx, n, NetworkSpec{Name: "ipvlan-l2", Driver: "ipvlan",
					Subnets: []Subnet{{nat.Subnet, nat.Host}}, Options: map[string]string{"parent": natNIC(r), "ipvlan_mode": "l2"}}); err != nil {
					return err
				}
				for _, c := range []ContainerSpec{
					{Name: "milk", Image: "busybox", Network: "ipvlan-l2", IP: addr(nat.Subnet, 92)},
					{Name: "bread", Image: "busybox", Network: "ipvlan-l2", IP: addr(nat.Subnet, 95)},
				} {
					if _, err := r.RunContainer(ctx, n, c); err != nil {
						return err
					}
				}
				return nil
			}},
		},
		Checks: []Check{
			{"milk pings bread", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", addr(natNet(r).Subnet, 95)))
			}},
			{"node2 sees one MAC, node1's, behind node1, milk and bread", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				nat := natNet(r)
				n1 := r.NodeName(0)
				n1nat, _ := nodeAddrs(r, n1)
				// node1's MAC as node1 reports it (on hosts of an
				// inventory the plan cannot know it).
				mok, mev, err := r.OnNode(ctx, n1, "cat /sys/class/net/"+natNIC(r)+"/address", "")
				if err != nil {
					return false, nil, err
				}
				mac := strings.ToLower(strings.TrimSpace(mev.Output))
				ips := []string{n1nat, addr(nat.Subnet, 92), addr(nat.Subnet, 95)}
				// Entries an earlier lab left (macvlan's own MACs for the
				// same addresses) are flushed first, so the table shows
				// what this lab's pings learn.
				dev := r.Env.Plan.Nodes[1].NIC("nat").Guest
				cmd := "for ip in " + strings.Join(ips, " ") + "; do sudo ip neigh flush to $ip dev " + dev + "; ping -c 1 -W 2 $ip >/dev/null; done; ip neigh show dev " + dev
				ok, ev, err := r.OnNode(ctx, r.NodeName(1), cmd, "")
				if err != nil {
					return false, nil, err
				}
				ok = ok && mok && mac != ""
				for _, ip := range ips {
					ok = ok && neighMAC(ev.Output, ip) == mac
				}
				return ok, []Evidence{note(mev, "node1's NAT NIC"), note(ev, "all three addresses map to %s, node1's NAT NIC", mac)}, nil
			}},
		},
	}
}

// neighMAC finds ip's MAC in `ip neigh` output.
func neighMAC(out, ip string) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == ip {
			for i := 0; i+1 < len(f); i++ {
				if f[i] == "lladdr" {
					return strings.ToLower(f[i+1])
				}
			}
		}
	}
	return ""
}

// ---- ipvlan L3 ----

func ipvlanL3Lab() *Exercise {
	return &Exercise{
		Name: "ipvlan-l3", Title: "ipvlan in L3 mode", MinNodes: 1,
		Explain: `In L3 mode the node routes for its ipvlan containers: they can be in
subnets of their own (192.168.94.0/24, 192.168.95.0/24) that nobody else
knows, so they reach each other across those subnets but not outside, and
the host reaches them only once it has a route to them via the node. To let
them out, the gateway (here the host, the NAT network's gateway) routes the
subnet to the node and NATs it, as an upstream router would. (Source NAT on
the node itself needs ipvlan's l3s mode, which Debian 12's Docker 20.10 does
not offer.)`,
		Tutorial: []string{
			"docker network create -d ipvlan --subnet 192.168.94.0/24 --subnet 192.168.95.0/24 -o parent=ens33 -o ipvlan_mode=l3 ipvlan-l3",
			"docker run -itd --rm --network ipvlan-l3 --ip 192.168.94.10 --name milk busybox",
			"docker run -itd --rm --network ipvlan-l3 --ip 192.168.95.10 --name bread busybox",
			"sudo ip route add 192.168.94.0/24 via node1-nat-ip   # on the host",
		},
		LookFor: []string{"pings across the two subnets working", "outside failing", "the host's route making milk reachable", "the gateway's route and NAT letting milk out"},
		Steps: []Step{
			{"create ipvlan-l3 with two subnets; run milk .94.10, coffee .94.11 and bread .95.10", func(ctx context.Context, r *Run) error {
				return ipvlanL3Setup(ctx, r)
			}},
		},
		Checks: []Check{
			{"milk pings coffee in the same subnet", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", l3addr(r, 0, 11)))
			}},
			{"milk pings bread in the other subnet", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", l3addr(r, 1, 10)))
			}},
			{"milk cannot reach outside", ExpectFailure, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", r.Env.Plan.Outside.Address))
			}},
			{"with a static route on the host, the host reaches milk", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				nat, _ := nodeAddrs(r, r.NodeName(0))
				sub := r.Env.Plan.Docker.IPVlanL3Subnets[0]
				add := "ip route replace " + sub + " via " + nat
				o, err := r.Env.Host.Sh(ctx, add)
				if err != nil || o.Exit != 0 {
					return false, nil, fmt.Errorf("host: %s: %v %s", add, err, o.Stderr)
				}
				r.OnUndo("host: remove the route to "+sub, func(ctx context.Context) error {
					_, err := r.Env.Host.Sh(ctx, "ip route del "+sub+" via "+nat)
					return err
				})
				ev0 := Evidence{Node: "host", Where: "host", Command: add}
				o2, _ := r.Env.Host.Sh(ctx, "ping -c 2 -W 2 "+l3addr(r, 0, 10))
				ev := Evidence{Node: "host", Where: "host", Command: "ping -c 2 -W 2 " + l3addr(r, 0, 10), Output: trim(o2), Exit: o2.Exit}
				return o2.Exit == 0, []Evidence{ev0, ev}, nil
			}},
			{"with the gateway routing and NATing the ipvlan subnet, milk reaches outside", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				nat, _ := nodeAddrs(r, r.NodeName(0))
				sub := r.Env.Plan.Docker.IPVlanL3Subnets[0]
				steps := []struct{ do, undo string }{
					{"ip route replace " + sub + " via " + nat, ""},
					{"iptables -I FORWARD 1 -s " + sub + " -j ACCEPT", "iptables -D FORWARD -s " + sub + " -j ACCEPT"},
					{"iptables -I FORWARD 1 -d " + sub + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "iptables -D FORWARD -d " + sub + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"},
					{"iptables -t nat -I POSTROUTING 1 -s " + sub + " ! -d " + sub + " -j MASQUERADE", "iptables -t nat -D POSTROUTING -s " + sub + " ! -d " + sub + " -j MASQUERADE"},
				}
				var evs []Evidence
				for _, s := range steps {
					o, err := r.Env.Host.Sh(ctx, s.do)
					evs = append(evs, Evidence{Node: "host", Where: "host", Command: s.do, Output: trim(o), Exit: o.Exit})
					if err != nil || o.Exit != 0 {
						return false, evs, fmt.Errorf("host: %s: %v %s", s.do, err, o.Stderr)
					}
					if s.undo != "" {
						undo := s.undo
						r.OnUndo("host: "+undo, func(ctx context.Context) error {
							o, err := r.Env.Host.Sh(ctx, undo)
							if err == nil && o.Exit != 0 {
								err = fmt.Errorf("exit %d: %s", o.Exit, o.Stderr)
							}
							return err
						})
					}
				}
				ok, ev, err := r.Ping(ctx, r.NodeName(0), "milk", r.Env.Plan.Outside.Address)
				return ok, append(evs, ev), err
			}},
		},
	}
}

// l3addr is host part i of the lab's j-th ipvlan L3 subnet.
func l3addr(r *Run, j, i int) string { return addr(r.Env.Plan.Docker.IPVlanL3Subnets[j], i) }

// ipvlanL3Setup creates the L3 network on the lab's two ipvlan subnets and
// runs milk (.10 of the first), coffee (.11 of the first) and bread (.10 of
// the second).
func ipvlanL3Setup(ctx context.Context, r *Run) error {
	n := r.NodeName(0)
	subs := r.Env.Plan.Docker.IPVlanL3Subnets
	if len(subs) < 2 {
		return fmt.Errorf("this lab needs two docker.ipvlan_l3_subnets in the topology")
	}
	if _, err := r.CreateNetwork(ctx, n, NetworkSpec{Name: "ipvlan-l3", Driver: "ipvlan",
		Subnets: []Subnet{{Subnet: subs[0]}, {Subnet: subs[1]}},
		Options: map[string]string{"parent": natNIC(r), "ipvlan_mode": "l3"}}); err != nil {
		return err
	}
	for _, c := range []ContainerSpec{
		{Name: "milk", Image: "busybox", Network: "ipvlan-l3", IP: addr(subs[0], 10)},
		{Name: "coffee", Image: "busybox", Network: "ipvlan-l3", IP: addr(subs[0], 11)},
		{Name: "bread", Image: "busybox", Network: "ipvlan-l3", IP: addr(subs[1], 10)},
	} {
		if _, err := r.RunContainer(ctx, n, c); err != nil {
			return err
		}
	}
	return nil
}
