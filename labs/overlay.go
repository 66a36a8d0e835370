package labs

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/hashicorp/go-multierror"
	lnet "github.com/labctl/labctl/network"
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

func overlayLab() *Lab {
	return &Lab{
		Name: "overlay", Title: "Swarm overlay networks across nodes", MinNodes: 3,
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
		Steps: []Step{
			{"leave any swarm an earlier run of this lab left behind", func(ctx context.Context, r *Run) error {
				return LeaveSwarm(ctx, r.Env, false)
			}},
			{"swarm init on the first node: listen, advertise and data path on its host-only address", func(ctx context.Context, r *Run) error {
				r.OnUndo("every node leaves the swarm", func(ctx context.Context) error { return LeaveSwarm(ctx, r.Env, false) })
				if _, err := InitSwarm(ctx, r.Env, r.NodeName(0), r.Lab.Name); err != nil {
					return err
				}
				r.Log(r.NodeName(0) + ": swarm initialised on " + hostOnlyAddr(r.Env.Plan, r.NodeName(0)))
				return nil
			}},
			{"the other nodes join as workers over the host-only network", func(ctx context.Context, r *Run) error {
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
			{"create the attachable overlays lab-ov and lab-ov-secure (encrypted)", func(ctx context.Context, r *Run) error {
				id, err := r.CreateNetwork(ctx, r.NodeName(0), NetworkSpec{Name: ovNet, Driver: "overlay", Attachable: true})
				if err != nil {
					return err
				}
				r.Set(ovNet, id)
				_, err = r.CreateNetwork(ctx, r.NodeName(0), NetworkSpec{Name: ovSecure, Driver: "overlay", Attachable: true, Options: map[string]string{"encrypted": ""}})
				return err
			}},
			{"set up lab-ov and lab-ov-secure on every node: a global service ov-anchor on both", func(ctx context.Context, r *Run) error {
				return anchorOverlays(ctx, r)
			}},
			{"run c2 on node2 and c3 on node3 on lab-ov, s2 and s3 on lab-ov-secure", func(ctx context.Context, r *Run) error {
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
			{"service web: nginx, 2 replicas, at most one per node, none on the last node, port 8080 published", func(ctx context.Context, r *Run) error {
				return createWebService(ctx, r)
			}},
		},
		Diagnose: diagnoseOverlay,
		Checks: []Check{
			{"the swarm has every node Ready, each at its host-only address", ExpectSuccess, checkMembers},
			{"every node advertises its host-only address, never its NAT address", ExpectSuccess, checkNodeAddrs},
			{"lab-ov's VXLAN peers are the nodes' host-only (data-path) addresses", ExpectSuccess, checkPeers},
			{"c2 on node2 pings c3 on node3 by name over lab-ov", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return one(r.Ping(ctx, r.NodeName(1), "c2", "c3"))
			}},
			{"the service's VIP spreads requests over tasks on different nodes", ExpectSuccess, checkVIPSpread},
			{"port 8080 answers on every node's host-only address, also on the node with no task (routing mesh)", ExpectSuccess, checkRoutingMesh},
			{"the encrypted overlay carries ESP between host-only addresses", ExpectSuccess, checkESP},
			{"overlay MTU: a don't-fragment ping of the largest size that fits crosses lab-ov", ExpectSuccess, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return checkMTU(ctx, r, 0)
			}},
			{"overlay MTU: one byte more does not fit with don't-fragment set", ExpectFailure, func(ctx context.Context, r *Run) (bool, []Evidence, error) {
				return checkMTU(ctx, r, 1)
			}},
			{"the join tokens appear in nothing this run printed or logged", ExpectSuccess, checkTokensHidden},
		},
	}
}

// runOnOverlay starts a busybox container on an attachable overlay that
// the node has already set up (anchorOverlays). Docker gives the whole
// attachment 20 s; with the network in place it takes a second or two, so
// a miss means a node starved of CPU: the container is removed and started
// again, and the log says so.
func runOnOverlay(ctx context.Context, r *Run, node, name, net string) error {
	const tries = 3
	var err error
	for try := 1; try <= tries; try++ {
		start := time.Now()
		_, err = r.RunContainer(ctx, node, ContainerSpec{Name: name, Image: "busybox", Network: net})
		if err == nil || !isAttachTimeout(err) {
			return err
		}
		r.Log(fmt.Sprintf("%s: %s missed Docker's 20 s attachment deadline on %s after %s although the node has the network (a node short of CPU); removing it and trying again (try %d of %d)",
			node, name, net, time.Since(start).Round(time.Second), try, tries))
		if rerr := r.RemoveContainer(ctx, node, name); rerr != nil {
			return multierror.Append(err, rerr)
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

// anchorOverlays makes every node set up lab-ov and lab-ov-secure before
// any container asks to attach to them.
//
// `docker run --network lab-ov` on a worker gives the whole attachment
// Docker's 20 s swarm request deadline. The manager creates the attachment
// task within a second; the rest is the worker setting the overlay up
// locally the first time: IPAM, the VXLAN device and its namespace, the
// network's load-balancer sandbox with IPVS, a dozen iptables calls, and
// on a node that has just joined, its ingress sandbox at the same time.
// Measured in dockerd's debug log under emulation: 8-9 s on an idle
// machine, and past 20 s on a loaded one, where every retry starts that
// work again because the failed attachment is released. A service task has
// no such deadline: it stays Preparing for as long as the setup takes. So
// a global service on both overlays has every node set them up, its tasks
// keep them there, and the containers then attach to a network the node
// already has.
func anchorOverlays(ctx context.Context, r *Run) error {
	mgr := r.Node(r.NodeName(0)).Docker()
	grace := time.Second
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: ovAnchor, Labels: map[string]string{Label: r.Lab.Name}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "busybox", Command: []string{"sleep", "86400"},
				StopGracePeriod: &grace, Labels: map[string]string{Label: r.Lab.Name}},
			Networks: []swarm.NetworkAttachmentConfig{{Target: ovNet}, {Target: ovSecure}},
		},
		Mode:         swarm.ServiceMode{Global: &swarm.GlobalService{}},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR},
	}
	start := time.Now()
	resp, err := mgr.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{QueryRegistry: false})
	if err != nil {
		return fmt.Errorf("create service %s: %w", ovAnchor, err)
	}
	r.OnUndo("remove service "+ovAnchor, func(ctx context.Context) error { return removeService(ctx, r, resp.ID, ovAnchor) })
	var want []string
	for _, n := range r.Env.Plan.Nodes {
		want = append(want, n.Hostname)
	}
	names := nodeNames(ctx, r)
	lastLog := time.Now()
	var missing []string
	var ts []swarm.Task
	for time.Since(start) < anchorWait {
		ts, err = allTasks(ctx, r, ovAnchor)
		if err != nil {
			return err
		}
		if len(names) < len(want) {
			names = nodeNames(ctx, r)
		}
		missing = anchorMissing(ts, names, want)
		if len(missing) == 0 {
			break
		}
		if time.Since(lastLog) >= 30*time.Second {
			r.Log(fmt.Sprintf("%s: after %s still setting the overlays up: %s", ovAnchor, time.Since(start).Round(time.Second), taskStates(ts, names, missing)))
			lastLog = time.Now()
		}
		if err := sleepCtx(ctx, 1); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("service %s: after %s no running task on %s:\n%s", ovAnchor, anchorWait, strings.Join(missing, ", "), tasksTable(ts, names))
	}
	// The condition that matters: the node itself has both networks.
	for _, pn := range r.Env.Plan.Nodes {
		for _, net := range []string{ovNet, ovSecure} {
			if _, err := r.Node(pn.Name).Docker().NetworkInspect(ctx, net, network.InspectOptions{}); err != nil {
				return fmt.Errorf("%s: %s runs a task of %s but does not have the network: %w", pn.Name, pn.Name, ovAnchor, err)
			}
		}
	}
	r.Log(fmt.Sprintf("%s and %s set up on every node in %s", ovNet, ovSecure, time.Since(start).Round(time.Second)))
	return nil
}

// anchorWait bounds how long the nodes may take to set the overlays up:
// 1-2 minutes measured under emulation on a machine loaded with two
// busy processes besides the three guests.
const anchorWait = 8 * time.Minute

// taskStates says, for each host, the state of its newest task ("node3
// preparing"; "node2 no task yet"), with the task's error if it has one.
func taskStates(ts []swarm.Task, names map[string]string, hosts []string) string {
	newest := map[string]swarm.Task{}
	for _, t := range ts {
		h := names[t.NodeID]
		if old, ok := newest[h]; !ok || t.Meta.CreatedAt.After(old.Meta.CreatedAt) {
			newest[h] = t
		}
	}
	var parts []string
	for _, h := range hosts {
		t, ok := newest[h]
		switch {
		case !ok:
			parts = append(parts, h+" no task yet")
		case t.Status.Err != "":
			parts = append(parts, fmt.Sprintf("%s %s (%s)", h, t.Status.State, t.Status.Err))
		default:
			parts = append(parts, fmt.Sprintf("%s %s", h, t.Status.State))
		}
	}
	return strings.Join(parts, ", ")
}

// anchorMissing lists the hosts of want that have no running task in ts
// (names maps node IDs to host names).
func anchorMissing(ts []swarm.Task, names map[string]string, want []string) []string {
	running := map[string]bool{}
	for _, t := range ts {
		if t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning {
			running[names[t.NodeID]] = true
		}
	}
	var missing []string
	for _, h := range want {
		if !running[h] {
			missing = append(missing, h)
		}
	}
	return missing
}

// removeService removes a service of the lab and waits (30 s at most) for
// its tasks to go, so that the nodes leave the swarm with nothing running.
func removeService(ctx context.Context, r *Run, id, name string) error {
	if err := ignoreNotFound(r.Node(r.NodeName(0)).Docker().ServiceRemove(ctx, id)); err != nil {
		return err
	}
	for i := 0; i < 30; i++ {
		if ts, err := allTasks(ctx, r, name); err != nil || len(ts) == 0 {
			return nil
		}
		if err := sleepCtx(ctx, 1); err != nil {
			return err
		}
	}
	return nil
}

// diagnoseOverlay gathers, after a failed setup step, the labctl services'
// tasks as the manager sees them and every node's dockerd log since the
// step started.
func diagnoseOverlay(ctx context.Context, r *Run, since time.Time) []Evidence {
	var evs []Evidence
	names := nodeNames(ctx, r)
	for _, svc := range []string{ovAnchor, ovService} {
		if ts, err := allTasks(ctx, r, svc); err == nil && len(ts) > 0 {
			ev := servicePs(r, ts, names)
			ev.Command = "docker service ps --no-trunc " + svc + " (Docker API)"
			evs = append(evs, ev)
		}
	}
	return append(evs, dockerLogs(ctx, r, since)...)
}

func waitMembersReady(ctx context.Context, r *Run, want int) error {
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
		if err := sleepCtx(ctx, 1); err != nil {
			return err
		}
	}
	return fmt.Errorf("after 60 s the swarm has not %d Ready nodes:\n%s", want, MembersTable(last))
}

func createWebService(ctx context.Context, r *Run) error {
	mgr := r.Node(r.NodeName(0)).Docker()
	last, _ := r.Env.Plan.Node(r.NodeName(len(r.Env.Plan.Nodes) - 1))
	replicas := uint64(2)
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: ovService, Labels: map[string]string{Label: r.Lab.Name}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "nginx", Labels: map[string]string{Label: r.Lab.Name}},
			Placement:     &swarm.Placement{Constraints: []string{"node.hostname!=" + last.Hostname}, MaxReplicas: 1},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: ovNet}},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP, Ports: []swarm.PortConfig{{
			Protocol: swarm.PortConfigProtocolTCP, TargetPort: 80, PublishedPort: ovPort, PublishMode: swarm.PortConfigPublishModeIngress,
		}}},
	}
	// The image is loaded on every node; no registry is asked.
	resp, err := mgr.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{QueryRegistry: false})
	if err != nil {
		return fmt.Errorf("create service %s: %w", ovService, err)
	}
	r.OnUndo("remove service "+ovService, func(ctx context.Context) error { return removeService(ctx, r, resp.ID, ovService) })
	r.Set("service", resp.ID)
	for i := 0; i < 120; i++ {
		ts, err := runningTasks(ctx, r)
		if err != nil {
			return err
		}
		nodes := map[string]bool{}
		for _, t := range ts {
			nodes[t.NodeID] = true
		}
		if len(nodes) >= 2 {
			r.Log(fmt.Sprintf("service %s: %d tasks running on %d nodes", ovService, len(ts), len(nodes)))
			return nil
		}
		if err := sleepCtx(ctx, 1); err != nil {
			return err
		}
	}
	ts, _ := allTasks(ctx, r, ovService)
	return fmt.Errorf("service %s: after 120 s not 2 tasks running on different nodes:\n%s", ovService, tasksTable(ts, nil))
}

func allTasks(ctx context.Context, r *Run, service string) ([]swarm.Task, error) {
	f := filters.NewArgs(filters.Arg("service", service))
	return r.Node(r.NodeName(0)).Docker().TaskList(ctx, swarm.TaskListOptions{Filters: f})
}

func runningTasks(ctx context.Context, r *Run) ([]swarm.Task, error) {
	ts, err := allTasks(ctx, r, ovService)
	var out []swarm.Task
	for _, t := range ts {
		if t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning {
			out = append(out, t)
		}
	}
	return out, err
}

// tasksTable prints tasks as `docker service ps` does; names maps node IDs
// to host names.
func tasksTable(ts []swarm.Task, names map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-14s %-8s %-16s %-10s %-10s %s\n", "TASK", "SLOT", "NODE", "DESIRED", "CURRENT", "ERROR")
	for _, t := range ts {
		node := t.NodeID
		if n := names[t.NodeID]; n != "" {
			node = n
		}
		fmt.Fprintf(&b, "%-14s %-8d %-16s %-10s %-10s %s\n", short(t.ID), t.Slot, node, t.DesiredState, t.Status.State, t.Status.Err)
	}
	return strings.TrimRight(b.String(), "\n")
}

// servicePs is the evidence `docker service ps web` gives, from the
// manager's task list.
func servicePs(r *Run, ts []swarm.Task, names map[string]string) Evidence {
	return Evidence{Node: r.NodeName(0), Where: "node", Command: "docker service ps " + ovService + " (Docker API)", Output: tasksTable(ts, names)}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func nodeNames(ctx context.Context, r *Run) map[string]string {
	m := map[string]string{}
	nodes, err := r.Node(r.NodeName(0)).Docker().NodeList(ctx, swarm.NodeListOptions{})
	if err == nil {
		for _, n := range nodes {
			m[n.ID] = n.Description.Hostname
		}
	}
	return m
}

func checkMembers(ctx context.Context, r *Run) (bool, []Evidence, error) {
	ms, err := SwarmMembers(ctx, r.Node(r.NodeName(0)).Docker())
	ev := Evidence{Node: r.NodeName(0), Where: "node", Command: "docker node ls (Docker API)"}
	if err != nil {
		ev.Output, ev.Exit = err.Error(), 1
		return false, []Evidence{ev}, nil
	}
	ev.Output = MembersTable(ms)
	ho := hostOnlyAddrs(r.Env.Plan)
	ready := 0
	for _, m := range ms {
		if m.State == string(swarm.NodeStateReady) && ho[m.Addr] != "" {
			ready++
		}
	}
	ok := ready == len(r.Env.Plan.Nodes) && len(ms) == ready
	return ok, []Evidence{note(ev, "%d of %d nodes Ready at a host-only address", ready, len(r.Env.Plan.Nodes))}, nil
}

func checkNodeAddrs(ctx context.Context, r *Run) (bool, []Evidence, error) {
	ok := true
	var evs []Evidence
	for _, pn := range r.Env.Plan.Nodes {
		nat, ho := nodeAddrs(r, pn.Name)
		good, ev, err := r.OnNode(ctx, pn.Name, "docker info --format '{{.Swarm.NodeAddr}} {{.Swarm.LocalNodeState}}'", "")
		if err != nil {
			return false, evs, err
		}
		f := strings.Fields(ev.Output)
		good = good && len(f) == 2 && f[0] == ho && f[0] != nat && f[1] == "active"
		ok = ok && good
		evs = append(evs, note(ev, "host-only %s, NAT %s", ho, nat))
	}
	return ok, evs, nil
}

func checkPeers(ctx context.Context, r *Run) (bool, []Evidence, error) {
	n := r.NodeName(1)
	ev := Evidence{Node: n, Where: "node", Command: "docker network inspect --verbose " + ovNet + " (Docker API: Peers)"}
	nw, err := r.Node(n).Docker().NetworkInspect(ctx, ovNet, networkInspectVerbose())
	if err != nil {
		ev.Output, ev.Exit = err.Error(), 1
		return false, []Evidence{ev}, nil
	}
	ho := hostOnlyAddrs(r.Env.Plan)
	var lines []string
	ok := len(nw.Peers) >= 2
	for _, p := range nw.Peers {
		lines = append(lines, p.Name+" "+p.IP)
		if ho[p.IP] == "" {
			ok = false
		}
	}
	sort.Strings(lines)
	ev.Output = strings.Join(lines, "\n")
	return ok, []Evidence{note(ev, "every node with a task or container on lab-ov is a peer, at its host-only address")}, nil
}

func checkVIPSpread(ctx context.Context, r *Run) (bool, []Evidence, error) {
	node := r.NodeName(2)
	vip, err := serviceVIP(ctx, r)
	if err != nil {
		return false, nil, err
	}
	// busybox-static's wget crashes in glibc's NSS (a static binary
	// looking up the "http" service), so the requests go through nc with
	// numbers only; nslookup shows that the service name gives the VIP.
	cmd := "nslookup " + ovService + " | grep -q 'Address: " + vip + "$' && for i in $(seq 12); do printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 5 " + vip + " 80 | tail -n 1; done"
	ok, ev, err := r.InContainer(ctx, node, "c3", "", "sh", "-c", cmd)
	if err != nil {
		return false, []Evidence{ev}, err
	}
	distinct := map[string]bool{}
	for _, l := range strings.Split(ev.Output, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, " ") {
			distinct[l] = true
		}
	}
	ts, _ := runningTasks(ctx, r)
	tev := servicePs(r, ts, nodeNames(ctx, r))
	taskNodes := map[string]bool{}
	for _, t := range ts {
		taskNodes[t.NodeID] = true
	}
	ev = note(ev, "%d distinct task names answered through the VIP", len(distinct))
	return ok && len(distinct) >= 2 && len(taskNodes) >= 2, []Evidence{tev, ev}, nil
}

// serviceVIP returns the web service's virtual IP on lab-ov.
func serviceVIP(ctx context.Context, r *Run) (string, error) {
	ss, err := r.Node(r.NodeName(0)).Docker().ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("name", ovService))})
	if err != nil {
		return "", err
	}
	for _, s := range ss {
		for _, v := range s.Endpoint.VirtualIPs {
			if v.NetworkID == r.Get(ovNet) {
				return strings.Split(v.Addr, "/")[0], nil
			}
		}
	}
	return "", fmt.Errorf("service %s has no virtual IP on %s", ovService, ovNet)
}

func checkRoutingMesh(ctx context.Context, r *Run) (bool, []Evidence, error) {
	ts, err := runningTasks(ctx, r)
	if err != nil {
		return false, nil, err
	}
	names := nodeNames(ctx, r)
	last, _ := r.Env.Plan.Node(r.NodeName(len(r.Env.Plan.Nodes) - 1))
	noTask := true
	for _, t := range ts {
		if names[t.NodeID] == last.Hostname {
			noTask = false
		}
	}
	tev := note(servicePs(r, ts, names),
		"%s runs no task of %s", last.Name, ovService)
	probes := []func() (bool, Evidence, error){func() (bool, Evidence, error) { return noTask, tev, nil }}
	for _, pn := range r.Env.Plan.Nodes {
		_, ho := nodeAddrs(r, pn.Name)
		url := fmt.Sprintf("http://%s:%d/hostname", ho, ovPort)
		probes = append(probes, func() (bool, Evidence, error) { return waitHTTP(ctx, r, url, "") })
	}
	return all(probes...)
}

func checkESP(ctx context.Context, r *Run) (bool, []Evidence, error) {
	n2, n3 := r.NodeName(1), r.NodeName(2)
	pok, pev, err := r.Ping(ctx, n2, "s2", "s3")
	if err != nil {
		return false, []Evidence{pev}, err
	}
	_, ho2 := nodeAddrs(r, n2)
	_, ho3 := nodeAddrs(r, n3)
	// Only the SAs from node2 to node3: every pair of nodes with a task
	// on the encrypted overlay has its own (ov-anchor runs on all three),
	// and the whole table is longer than evidence keeps. The verdict reads
	// the full output, not the evidence cut to size.
	cmd := "sudo ip -s xfrm state list src " + ho2 + " dst " + ho3 + " proto esp"
	o, err := r.Node(n2).Sh(ctx, cmd)
	xev := Evidence{Node: n2, Where: "node", Command: cmd, Output: trim(o), Exit: o.Exit}
	if err != nil {
		return false, []Evidence{pev, xev}, err
	}
	// An SA from node2 to node3 over the host-only network that has
	// carried bytes.
	sa := o.Exit == 0 && strings.Contains(o.Stdout, "src "+ho2+" dst "+ho3) && carried(o.Stdout)
	xev = note(xev, "ESP security associations between %s and %s, with traffic counted", ho2, ho3)
	return pok && sa, []Evidence{pev, xev}, nil
}

// carried reports whether `ip -s xfrm state` counts traffic on any SA.
func carried(out string) bool {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if b, _, ok := strings.Cut(l, "(bytes)"); ok && b != "0" && !strings.Contains(b, " ") {
			return true
		}
	}
	return false
}

// checkMTU pings c3 from c2's network namespace (iputils ping on the node:
// busybox's ping cannot set don't-fragment) with the largest payload that
// fits the overlay interface's MTU, plus extra bytes.
func checkMTU(ctx context.Context, r *Run, extra int) (bool, []Evidence, error) {
	n2, n3 := r.NodeName(1), r.NodeName(2)
	ip2, err := r.ContainerIP(ctx, n2, "c2", ovNet)
	if err != nil {
		return false, nil, err
	}
	ip3, err := r.ContainerIP(ctx, n3, "c3", ovNet)
	if err != nil {
		return false, nil, err
	}
	// The overlay interface is the one holding c2's lab-ov address.
	mok, mev, err := r.InContainer(ctx, n2, "c2", "", "sh", "-c",
		`dev=$(ip -o -4 addr show | awk '$4 ~ /^`+strings.ReplaceAll(ip2, ".", `\.`)+`\// {print $2}'); echo "$dev $(cat /sys/class/net/$dev/mtu)"`)
	if err != nil {
		return false, []Evidence{mev}, err
	}
	f := strings.Fields(mev.Output)
	mtu := 0
	if len(f) == 2 {
		fmt.Sscan(f[1], &mtu)
	}
	// The underlay: the node's host-only NIC carries the VXLAN packets.
	nic := r.Env.Plan.Nodes[1].NIC(lnet.RoleHostOnly).Guest
	uok, uev, err := r.OnNode(ctx, n2, "cat /sys/class/net/"+nic+"/mtu", "")
	if err != nil {
		return false, []Evidence{mev, uev}, err
	}
	under := 0
	fmt.Sscan(uev.Output, &under)
	mev = note(mev, "the overlay interface's MTU: %d expected (%d of %s minus 50 for VXLAN)", under-50, under, nic)
	if !mok || !uok || under == 0 || mtu != under-50 {
		return false, []Evidence{uev, mev}, nil
	}
	c, err := r.Node(n2).Docker().ContainerInspect(ctx, "c2")
	if err != nil {
		return false, []Evidence{mev}, err
	}
	size := mtu - 28 + extra // IPv4 header 20, ICMP header 8
	pok, pev, err := r.OnNode(ctx, n2, fmt.Sprintf("sudo nsenter -t %d -n ping -M do -c 2 -W 2 -s %d %s", c.State.Pid, size, ip3), "")
	pev.Where = "container c2 (nsenter)"
	pev = note(pev, "%d bytes of payload + 28 = %d", size, size+28)
	return pok, []Evidence{uev, mev, pev}, err
}

func checkTokensHidden(ctx context.Context, r *Run) (bool, []Evidence, error) {
	sw, err := r.Node(r.NodeName(0)).Docker().SwarmInspect(ctx)
	if err != nil {
		return false, nil, err
	}
	tokens := []string{sw.JoinTokens.Worker, sw.JoinTokens.Manager}
	shown := r.Shown()
	found := 0
	for _, s := range shown {
		for _, t := range tokens {
			if t != "" && strings.Contains(s, t) {
				found++
			}
		}
	}
	ok := found == 0 && !slices.Contains(tokens, "")
	ev := Evidence{Node: r.NodeName(0), Where: "labctl", Command: "search this run's log lines and evidence for the worker and manager join tokens (read through the Docker API)",
		Output: fmt.Sprintf("%d texts searched, %d contain a join token", len(shown), found)}
	return ok, []Evidence{ev}, nil
}
