// Swarm services and tasks as the overlay lab uses them: the anchor
// service that sets the overlays up on every node, the web service, task
// lists and tables.

package overlay

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/labctl/labctl/exercise"
)

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
func anchorOverlays(ctx context.Context, r *exercise.Run) error {
	mgr := r.Node(r.NodeName(0)).Docker()
	grace := time.Second
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: ovAnchor, Labels: map[string]string{exercise.Label: r.Lab.Name}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "busybox", Command: []string{"sleep", "86400"},
				StopGracePeriod: &grace, Labels: map[string]string{exercise.Label: r.Lab.Name}},
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
		if err := exercise.Sleep(ctx, time.Second); err != nil {
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
		if isRunning(t) {
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
func removeService(ctx context.Context, r *exercise.Run, id, name string) error {
	if err := exercise.IgnoreNotFound(r.Node(r.NodeName(0)).Docker().ServiceRemove(ctx, id)); err != nil {
		return err
	}
	for i := 0; i < 30; i++ {
		if ts, err := allTasks(ctx, r, name); err != nil || len(ts) == 0 {
			return nil
		}
		if err := exercise.Sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	return nil
}

func createWebService(ctx context.Context, r *exercise.Run) error {
	mgr := r.Node(r.NodeName(0)).Docker()
	last, _ := r.Env.Plan.Node(r.NodeName(len(r.Env.Plan.Nodes) - 1))
	replicas := uint64(2)
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: ovService, Labels: map[string]string{exercise.Label: r.Lab.Name}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "nginx", Labels: map[string]string{exercise.Label: r.Lab.Name}},
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
		if err := exercise.Sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	ts, _ := allTasks(ctx, r, ovService)
	return fmt.Errorf("service %s: after 120 s not 2 tasks running on different nodes:\n%s", ovService, tasksTable(ts, nil))
}

func allTasks(ctx context.Context, r *exercise.Run, service string) ([]swarm.Task, error) {
	f := filters.NewArgs(filters.Arg("service", service))
	return r.Node(r.NodeName(0)).Docker().TaskList(ctx, swarm.TaskListOptions{Filters: f})
}

func runningTasks(ctx context.Context, r *exercise.Run) ([]swarm.Task, error) {
	ts, err := allTasks(ctx, r, ovService)
	var out []swarm.Task
	for _, t := range ts {
		if isRunning(t) {
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
func servicePs(r *exercise.Run, ts []swarm.Task, names map[string]string) exercise.Evidence {
	return exercise.Evidence{Node: r.NodeName(0), Where: "node", Command: "docker service ps " + ovService + " (Docker API)", Output: tasksTable(ts, names)}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func nodeNames(ctx context.Context, r *exercise.Run) map[string]string {
	m := map[string]string{}
	nodes, err := r.Node(r.NodeName(0)).Docker().NodeList(ctx, swarm.NodeListOptions{})
	if err == nil {
		for _, n := range nodes {
			m[n.ID] = n.Description.Hostname
		}
	}
	return m
}

// isRunning reports whether a task runs and is meant to (not one being shut
// down).
func isRunning(t swarm.Task) bool {
	return t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning
}
