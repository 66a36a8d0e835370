package labs

import (
	"context"
	"fmt"
	"strings"

	lnet "github.com/labctl/labctl/network"
)

// All returns every lab, in the tutorial's order.
func All() []*Exercise {
	return []*Exercise{bridgeLab(), userBridgeLab(), hostLab(), macvlanLab(), macvlan8021qLab(), ipvlanL2Lab(), ipvlanL3Lab(), noneLab(), overlayLab()}
}

// Lookup finds a lab by name.
func Lookup(name string) (*Exercise, bool) {
	for _, l := range All() {
		if l.Name == name {
			return l, true
		}
	}
	return nil, false
}

// addr returns the address with host part i in subnet (e.g. .92).
func addr(subnet string, i int) string { return lnet.Nth(subnet, i) }

func natNet(r *Run) *lnet.Net { return r.Env.Plan.Net(lnet.RoleNAT) }

// nodeAddrs returns a node's NAT and host-only addresses (without prefix).
func nodeAddrs(r *Run, node string) (nat, hostonly string) {
	n, _ := r.Env.Plan.Node(node)
	return n.Addr(lnet.RoleNAT), n.Addr(lnet.RoleHostOnly)
}

func natNIC(r *Run) string { return r.Env.Plan.Nodes[0].NIC(lnet.RoleNAT).Guest }

func runBusybox(name, network, ip string) func(ctx context.Context, r *Run) error {
	return func(ctx context.Context, r *Run) error {
		_, err := r.RunContainer(ctx, r.NodeName(0), ContainerSpec{Name: name, Image: "busybox", Network: network, IP: ip})
		return err
	}
}

// ---- bridge ----

func bridgeLab() *Exercise {
	return &Exercise{
		Name: "bridge", Title: "The default bridge (docker0)", MinNodes: 1,
		Explain: `Containers started without --network join docker0, a Linux bridge on the
node with its own subnet. They reach each other by IP but not by name, reach
outside through the node's NAT, and are reachable from outside only through
published ports (a DNAT rule Docker adds to iptables).`,
		Tutorial: []string{
			"docker run -itd --rm --name milk busybox",
			"docker run -itd --rm --name bread busybox",
			"docker run -itd --rm --name coffee nginx",
			"bridge link",
			"docker inspect bridge",
			"docker exec -it milk ping bread-ip",
			"docker stop coffee && docker run -itd --rm -p 80:80 --name coffee nginx",
		},
		LookFor: []string{"one veth per container in `bridge link`", "ping by IP works, by name it does not", "the DNAT rule for port 80 in `iptables -t nat -S DOCKER`"},
		Steps: []Step{
			{"run milk and bread (busybox) and coffee (nginx) on docker0", func(ctx context.Context, r *Run) error {
				for _, c := range []ContainerSpec{{Name: "milk", Image: "busybox"}, {Name: "bread", Image: "busybox"}, {Name: "coffee", Image: "nginx"}} {
					if _, err := r.RunContainer(ctx, r.NodeName(0), c); err != nil {
						return err
					}
				}
				ip, err := r.ContainerIP(ctx, r.NodeName(0), "bread", "bridge")
				r.Set("bread", ip)
				return err
			}},
		},
		Checks: []Check{
			{"docker0 has the configured address " + "(bip)", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.OnNode(ctx, r.NodeName(0), "ip -4 -o addr show docker0", r.Env.Plan.Docker.BridgeIP))
			}},
			{"bridge link shows one veth per container on docker0", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				ok, ev, err := r.OnNode(ctx, r.NodeName(0), "bridge link show | grep -c 'master docker0'", "")
				if err == nil {
					ok = ok && strings.TrimSpace(strings.Split(ev.Output, "\n")[0]) == "3"
					ev = note(ev, "3 containers, 3 veth ports on docker0")
				}
				return one(ok, ev, err)
			}},
			{"milk pings bread by IP", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", r.Get("bread")))
			}},
			{"milk cannot resolve bread by name (no DNS on docker0)", ExpectFailure, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", "bread"))
			}},
			{"milk reaches outside", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", r.Env.Plan.Outside.Address))
			}},
			{"after -p 80:80 the host reaches coffee's nginx on both node addresses", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				n := r.NodeName(0)
				if err := r.RemoveContainer(ctx, n, "coffee"); err != nil {
					return false, nil, err
				}
				if _, err := r.RunContainer(ctx, n, ContainerSpec{Name: "coffee", Image: "nginx", Publish: []string{"80:80"}}); err != nil {
					return false, nil, err
				}
				nat, ho := nodeAddrs(r, n)
				return all(
					func() (bool, Evidence, error) { return waitHTTP(ctx, r, "http://"+nat+"/", "nginx") },
					func() (bool, Evidence, error) { return waitHTTP(ctx, r, "http://"+ho+"/", "nginx") },
					func() (bool, Evidence, error) {
						ok, ev, err := r.OnNode(ctx, n, "sudo iptables -t nat -S DOCKER | grep -- '--dport 80 '", "DNAT")
						return ok, note(ev, "the NAT rule that publishes port 80"), err
					},
				)
			}},
		},
	}
}

// waitHTTP fetches a URL from the host, retrying briefly while a freshly
// started server comes up.
func waitHTTP(ctx context.Context, r *Run, url, contains string) (bool, Evidence, error) {
	var ok bool
	var ev Evidence
	var err error
	for i := 0; i < 10; i++ {
		ok, ev, err = r.FromHost(ctx, url, contains)
		if ok || err != nil {
			return ok, ev, err
		}
		if sleepCtx(ctx, 1) != nil {
			break
		}
	}
	return ok, ev, err
}

// ---- user-defined bridge ----

func userBridgeLab() *Exercise {
	return &Exercise{
		Name: "user-bridge", Title: "A user-defined bridge (greatwall)", MinNodes: 1,
		Explain: `A user-defined bridge network is a new Linux bridge with its own subnet and
gateway. Containers on it find each other by name (Docker's embedded DNS) and
are isolated from containers on docker0, until a container is connected to
both networks.`,
		Tutorial: []string{
			"docker network create greatwall",
			"docker run -itd --rm --network greatwall --name beijing busybox",
			"docker run -itd --rm --network greatwall --name shenzhen busybox",
			"docker exec -it beijing ping shenzhen",
			"docker exec -it milk ping beijing-ip",
		},
		LookFor: []string{"a new br-... interface with the network's gateway", "ping by name inside greatwall", "no way from docker0 to greatwall"},
		Steps: []Step{
			{"create greatwall; run beijing and shenzhen on it and milk on docker0", func(ctx context.Context, r *Run) error {
				n := r.NodeName(0)
				id, err := r.CreateNetwork(ctx, n, NetworkSpec{Name: "greatwall"})
				if err != nil {
					return err
				}
				r.Set("greatwall-id", id)
				for _, c := range []ContainerSpec{{Name: "beijing", Image: "busybox", Network: "greatwall"}, {Name: "shenzhen", Image: "busybox", Network: "greatwall"}, {Name: "milk", Image: "busybox"}} {
					if _, err := r.RunContainer(ctx, n, c); err != nil {
						return err
					}
				}
				ip, err := r.ContainerIP(ctx, n, "beijing", "greatwall")
				r.Set("beijing", ip)
				return err
			}},
		},
		Checks: []Check{
			{"greatwall is a new bridge with its own subnet and gateway", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				n := r.NodeName(0)
				nw, err := r.Node(n).Docker().NetworkInspect(ctx, "greatwall", networkInspectOptions())
				if err != nil || len(nw.IPAM.Config) == 0 {
					return false, nil, fmt.Errorf("inspect greatwall: %v", err)
				}
				cfg := nw.IPAM.Config[0]
				ev0 := Evidence{Node: n, Where: "node", Command: "docker network inspect greatwall", Output: fmt.Sprintf("subnet %s gateway %s", cfg.Subnet, cfg.Gateway)}
				br := "br-" + r.Get("greatwall-id")[:12]
				ok, ev, err := r.OnNode(ctx, n, "ip -4 -o addr show "+br, cfg.Gateway+"/")
				return ok && cfg.Subnet != "" && cfg.Gateway != "", []Evidence{ev0, ev}, err
			}},
			{"beijing pings shenzhen by name", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "beijing", "shenzhen"))
			}},
			{"milk (docker0) cannot reach beijing (greatwall)", ExpectFailure, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", r.Get("beijing")))
			}},
			{"after docker network connect, milk reaches beijing", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				n := r.NodeName(0)
				if err := r.Node(n).Docker().NetworkConnect(ctx, "greatwall", "milk", nil); err != nil {
					return false, nil, err
				}
				return one(r.Ping(ctx, n, "milk", "beijing"))
			}},
			{"after docker network disconnect, milk no longer reaches beijing", ExpectFailure, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				n := r.NodeName(0)
				if err := r.Node(n).Docker().NetworkDisconnect(ctx, "greatwall", "milk", true); err != nil {
					return false, nil, err
				}
				return one(r.Ping(ctx, n, "milk", r.Get("beijing")))
			}},
		},
	}
}

// ---- host ----

func hostLab() *Exercise {
	return &Exercise{
		Name: "host", Title: "The host network", MinNodes: 1,
		Explain: `A container on the host network shares the node's network stack: nginx
listens on port 80 of every node address, and the container sees the node's
own interfaces. The price is isolation: a second host-mode nginx cannot bind
the same port.`,
		Tutorial: []string{
			"docker run -itd --rm --network host --name coffee nginx",
			"curl http://node-nat-ip/ ; curl http://node-hostonly-ip/",
		},
		LookFor: []string{"nginx on both node addresses without -p", "the node's interfaces inside the container", "the second nginx's 'Address already in use'"},
		Steps: []Step{
			{"run coffee (nginx) with --network host", func(ctx context.Context, r *Run) error {
				_, err := r.RunContainer(ctx, r.NodeName(0), ContainerSpec{Name: "coffee", Image: "nginx", Network: "host"})
				return err
			}},
		},
		Checks: []Check{
			{"nginx answers on port 80 of both node addresses", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				nat, ho := nodeAddrs(r, r.NodeName(0))
				return all(
					func() (bool, Evidence, error) { return waitHTTP(ctx, r, "http://"+nat+"/", "nginx") },
					func() (bool, Evidence, error) { return waitHTTP(ctx, r, "http://"+ho+"/", "nginx") },
				)
			}},
			{"the container sees the node's interfaces", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				nic := natNIC(r)
				return one(r.InContainer(ctx, r.NodeName(0), "coffee", nic, "busybox", "ip", "-o", "link"))
			}},
			{"a second host-mode nginx hits the port conflict", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				n := r.NodeName(0)
				if _, err := r.RunContainer(ctx, n, ContainerSpec{Name: "coffee2", Image: "nginx", Network: "host"}); err != nil {
					return false, nil, err
				}
				var logs string
				for i := 0; i < 10; i++ {
					logs = containerLogs(ctx, r, n, "coffee2")
					if strings.Contains(logs, "Address already in use") {
						break
					}
					sleepCtx(ctx, 1)
				}
				ev := Evidence{Node: n, Where: "container coffee2", Command: "docker logs coffee2", Output: logs}
				return strings.Contains(logs, "Address already in use"), []Evidence{note(ev, "port 80 belongs to coffee")}, nil
			}},
		},
	}
}

// ---- none ----

func noneLab() *Exercise {
	return &Exercise{
		Name: "none", Title: "No network", MinNodes: 1,
		Explain:  `A container with --network none has a loopback interface and nothing else.`,
		Tutorial: []string{"docker run -itd --rm --network none --name milk busybox", "docker exec milk ip addr"},
		LookFor:  []string{"only lo"},
		Steps:    []Step{{"run milk with --network none", runBusybox("milk", "none", "")}},
		Checks: []Check{
			{"only lo inside the container", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				ok, ev, err := r.InContainer(ctx, r.NodeName(0), "milk", "", "ip", "-o", "link")
				if err == nil {
					lines := strings.Split(strings.TrimSpace(ev.Output), "\n")
					ok = ok && len(lines) == 1 && strings.Contains(lines[0], " lo:")
				}
				return one(ok, ev, err)
			}},
			{"milk cannot reach outside", ExpectFailure, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(0), "milk", r.Env.Plan.Outside.Address))
			}},
		},
	}
}
