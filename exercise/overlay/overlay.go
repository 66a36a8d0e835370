// Package overlay is the multi-node Swarm overlay exercise, written in Go
// because it reads Swarm's state through the Docker API (overlay*.go), and
// the Swarm operations labctl does itself (swarm.go: init and join on the
// host-only network, leave, status).
package overlay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/plan"
)

// The overlay lab: a swarm over the nodes' host-only addresses, attachable
// and encrypted overlays, a service with a VIP and the routing mesh. The
// swarm operations it uses (init, join, leave, status) are in swarm.go.

const (
	ovNet     = "lab-ov"
	ovSecure  = "lab-ov-secure"
	ovService = "web"
	ovAnchor  = "ov-anchor"
	ovPort    = 8080
)

// Exercise is the overlay lab: a Swarm of every node, overlay networks
// (one encrypted) across them, a service reached through its VIP and the
// routing mesh, with the VXLAN and ESP on the wire as evidence. It is Go,
// not a lab file, because it reads Swarm state through the Docker API.
func Exercise() *exercise.Exercise {
	return &exercise.Exercise{
		Name: "overlay", Title: "Swarm overlay networks across nodes", MinNodes: 3,
		// The nodes leave the swarm in teardown, workers at once and then
		// the managers, each leave tried up to 3 times for Docker's 20 s
		// and 30 s of reading the state again (leaveNode): 150 s a round
		// at worst, and Docker restarted after a leave that timed out.
		// Three guests on two emulated cores have needed more than the
		// default 2 minutes.
		Teardown: 7 * time.Minute,
		Explain: `The tutorial stops before overlay networks ("for when you learn Swarm"). An
overlay is one Docker network spanning several nodes: Swarm gives every
overlay a VXLAN segment whose packets travel between the nodes' data-path
addresses, here the host-only network. Containers on different nodes reach
each other by name; a service gets one virtual IP that spreads connections
over its tasks on different nodes; a published port answers on every node,
also one running no task (the routing mesh, through the ingress overlay). An
encrypted overlay wraps its VXLAN traffic in IPsec ESP. Encapsulation costs
50 bytes, so the overlay's MTU is the host-only network's minus 50.

A node sets an overlay up (VXLAN device, namespace, load balancer, firewall
rules) the first time something on it uses the network. 'docker run' waits
for that at most 20 s, which a slow node can miss; a service's tasks wait
as long as it takes. So the lab first runs a global service on both
overlays, and the containers then join networks their nodes already have.`,
		Tutorial: []string{
			"docker swarm init --advertise-addr NODE1-HOSTONLY --data-path-addr NODE1-HOSTONLY --default-addr-pool POOL",
			"docker swarm join --token <worker token> NODE1-HOSTONLY:2377   # on node2 and node3",
			"docker node ls",
			"docker network create -d overlay --attachable lab-ov",
			"docker network create -d overlay --attachable --opt encrypted lab-ov-secure",
			"docker service create --mode global --name ov-anchor --network lab-ov --network lab-ov-secure busybox sleep 1d   # every node sets both overlays up",
			"docker run -itd --rm --network lab-ov --name c2 busybox   # on node2 (c3 on node3)",
			"docker exec c2 ping c3",
			"docker service create --name web --replicas 2 --replicas-max-per-node 1 --constraint node.hostname!=NODE3 --network lab-ov -p 8080:80 nginx",
			"curl http://NODE3-HOSTONLY:8080/hostname",
			"ip -s xfrm state",
			"docker swarm leave --force   # on every node",
		},
		LookFor: []string{
			"`docker node ls`: three Ready nodes, addresses on the host-only network",
			"`docker network inspect --verbose lab-ov`: the peers are host-only addresses",
			"the service's /hostname answering with different task names",
			"ESP security associations between host-only addresses in `ip xfrm state`",
			"the overlay interface's MTU of 1450 and a don't-fragment ping of 1422 bytes passing",
		},
		Steps: []exercise.Step{
			{Title: "leave any swarm an earlier run of this lab left behind", Do: func(ctx context.Context, r *exercise.Run) error {
				return LeaveSwarm(ctx, r.Env, false)
			}},
			{Title: "swarm init on the first node: listen, advertise and data path on its host-only address", Do: func(ctx context.Context, r *exercise.Run) error {
				r.OnUndo("every node leaves the swarm", func(ctx context.Context) error { return LeaveSwarm(ctx, r.Env, false) })
				if _, err := InitSwarm(ctx, r.Env, r.NodeName(0), r.Lab.Name); err != nil {
					return err
				}
				r.Log(r.NodeName(0) + ": swarm initialised on " + hostOnlyAddr(r.Env.Plan, r.NodeName(0)))
				return nil
			}},
			{Title: "the other nodes join as workers over the host-only network", Do: func(ctx context.Context, r *exercise.Run) error {
				var workers []string
				for _, n := range r.Env.Plan.Nodes[1:] {
					workers = append(workers, n.Name)
				}
				if err := JoinSwarm(ctx, r.Env, r.NodeName(0), workers); err != nil {
					return err
				}
				r.Log(strings.Join(workers, ", ") + " joined the swarm")
				return waitMembersReady(ctx, r, len(r.Env.Plan.Nodes))
			}},
			{Title: "create the attachable overlays lab-ov and lab-ov-secure (encrypted)", Do: func(ctx context.Context, r *exercise.Run) error {
				id, err := r.CreateNetwork(ctx, r.NodeName(0), exercise.NetworkSpec{Name: ovNet, Driver: "overlay", Attachable: true, Options: overlayMTU(r, nil)})
				if err != nil {
					return err
				}
				r.Set(ovNet, id)
				_, err = r.CreateNetwork(ctx, r.NodeName(0), exercise.NetworkSpec{Name: ovSecure, Driver: "overlay", Attachable: true, Options: overlayMTU(r, map[string]string{"encrypted": ""})})
				return err
			}},
			{Title: "set up lab-ov and lab-ov-secure on every node: a global service ov-anchor on both", Do: func(ctx context.Context, r *exercise.Run) error {
				return anchorOverlays(ctx, r)
			}},
			{Title: "run c2 on node2 and c3 on node3 on lab-ov, s2 and s3 on lab-ov-secure", Do: func(ctx context.Context, r *exercise.Run) error {
				// One at a time: each attachment is the node's work, and
				// the deadline is per request.
				for _, c := range []struct{ node, name, net string }{
					{r.NodeName(1), "c2", ovNet}, {r.NodeName(2), "c3", ovNet},
					{r.NodeName(1), "s2", ovSecure}, {r.NodeName(2), "s3", ovSecure},
				} {
					if err := runOnOverlay(ctx, r, c.node, c.name, c.net); err != nil {
						return err
					}
				}
				return nil
			}},
			{Title: "service web: nginx, 2 replicas, at most one per node, none on the last node, port 8080 published", Do: func(ctx context.Context, r *exercise.Run) error {
				return createWebService(ctx, r)
			}},
		},
		Diagnose: diagnoseOverlay,
		Checks: []exercise.Check{
			{Name: "the swarm has every node Ready, each at its host-only address", Expect: exercise.ExpectSuccess, Do: checkMembers},
			{Name: "every node advertises its host-only address, never its NAT address", Expect: exercise.ExpectSuccess, Do: checkNodeAddrs},
			{Name: "lab-ov's VXLAN peers are the nodes' host-only (data-path) addresses", Expect: exercise.ExpectSuccess, Do: checkPeers},
			{Name: "c2 on node2 pings c3 on node3 by name over lab-ov", Expect: exercise.ExpectSuccess, Do: checkVXLAN},
			{Name: "the service's VIP spreads requests over tasks on different nodes", Expect: exercise.ExpectSuccess, Do: checkVIPSpread},
			{Name: "port 8080 answers on every node's host-only address, also on the node with no task (routing mesh)", Expect: exercise.ExpectSuccess, Do: checkRoutingMesh},
			{Name: "the encrypted overlay carries ESP between host-only addresses", Expect: exercise.ExpectSuccess, Do: checkESP},
			{Name: "overlay MTU: a don't-fragment ping of the largest size that fits crosses lab-ov", Expect: exercise.ExpectSuccess, Do: func(ctx context.Context, r *exercise.Run) (bool, []exercise.Evidence, error) {
				return checkMTU(ctx, r, 0)
			}},
			{Name: "overlay MTU: one byte more does not fit with don't-fragment set", Expect: exercise.ExpectFailure, Do: func(ctx context.Context, r *exercise.Run) (bool, []exercise.Evidence, error) {
				return checkMTU(ctx, r, 1)
			}},
			{Name: "the join tokens appear in nothing this run printed or logged", Expect: exercise.ExpectSuccess, Do: checkTokensHidden},
		},
	}
}

// runOnOverlay starts a busybox container on an attachable overlay that
// the node has already set up (anchorOverlays). Docker gives the whole
// attachment 20 s; with the network in place it takes a second or two, so
// a miss means a node starved of CPU: the container is removed and started
// again, and the log says so.
func runOnOverlay(ctx context.Context, r *exercise.Run, node, name, net string) error {
	const tries = 3
	var err error
	for try := 1; try <= tries; try++ {
		start := time.Now()
		_, err = r.RunContainer(ctx, node, exercise.ContainerSpec{Name: name, Image: "busybox", Network: net})
		if err == nil || !isAttachTimeout(err) {
			return err
		}
		r.Log(fmt.Sprintf("%s: %s missed Docker's 20 s attachment deadline on %s after %s although the node has the network (a node short of CPU); removing it and trying again (try %d of %d)",
			node, name, net, time.Since(start).Round(time.Second), try, tries))
		if rerr := r.RemoveContainer(ctx, node, name); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

// isAttachTimeout tells Docker's "attaching to network failed ... context
// deadline exceeded" (the daemon's 20 s swarm request deadline) from other
// errors.
func isAttachTimeout(err error) bool {
	m := err.Error()
	return strings.Contains(m, "attaching to network failed") || strings.Contains(m, "attach to network")
}

// diagnoseOverlay gathers, after a failed setup step, the labctl services'
// tasks as the manager sees them and every node's dockerd log since the
// step started.
func diagnoseOverlay(ctx context.Context, r *exercise.Run, since time.Time) []exercise.Evidence {
	var evs []exercise.Evidence
	names := nodeNames(ctx, r)
	for _, svc := range []string{ovAnchor, ovService} {
		if ts, err := allTasks(ctx, r, svc); err == nil && len(ts) > 0 {
			ev := servicePs(r, ts, names)
			ev.Command = "docker service ps --no-trunc " + svc + " (Docker API)"
			evs = append(evs, ev)
		}
	}
	return append(evs, exercise.DockerLogs(ctx, r, since)...)
}

func waitMembersReady(ctx context.Context, r *exercise.Run, want int) error {
	d := r.Node(r.NodeName(0)).Docker()
	var last []Member
	for i := 0; i < 60; i++ {
		ms, err := SwarmMembers(ctx, d)
		if err != nil {
			return err
		}
		ready := 0
		for _, m := range ms {
			if m.State == string(swarm.NodeStateReady) {
				ready++
			}
		}
		if ready >= want {
			return nil
		}
		last = ms
		if err := exercise.Sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	return fmt.Errorf("after 60 s the swarm has not %d Ready nodes:\n%s", want, MembersTable(last))
}

// overlayMTU adds the MTU of the network under the overlay to its options
// when the host-only network's is not Ethernet's 1500 (a lab spread over
// hypervisors has its networks' MTU lowered for its own VXLAN tunnels).
// Docker's overlay driver takes the option as the underlay's MTU and
// subtracts VXLAN's 50 bytes itself; without it, it assumes 1500 and
// makes an interface 50 bytes too large for the NIC under it.
func overlayMTU(r *exercise.Run, opts map[string]string) map[string]string {
	if opts == nil {
		opts = map[string]string{}
	}
	if n := r.Env.Plan.Net(plan.RoleHostOnly); n != nil && n.MTU > 0 {
		opts["com.docker.network.driver.mtu"] = strconv.Itoa(n.MTU)
	}
	return opts
}
