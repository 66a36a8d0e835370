package overlay

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/internal/fanout"
	"github.com/labctl/labctl/plan"
)

// SwarmPort is the Swarm manager's port (cluster management, TCP).
const SwarmPort = 2377

// NodeSwarm is one node's view of its Swarm membership.
type NodeSwarm struct {
	Node     string   `json:"node"`
	State    string   `json:"state"`               // inactive, pending, active, error, locked
	Role     string   `json:"role,omitempty"`      // manager or worker
	NodeAddr string   `json:"node_addr,omitempty"` // the address it advertises
	Managers []string `json:"managers,omitempty"`  // managers it knows (address:port)
	Cluster  string   `json:"cluster,omitempty"`   // cluster ID (managers only)
	Ours     bool     `json:"created_by_labctl"`   // created by labctl's overlay lab
	Error    string   `json:"error,omitempty"`
}

// Member is one node as a manager lists it (`docker node ls`).
type Member struct {
	Hostname     string `json:"hostname"`
	Addr         string `json:"addr"`
	State        string `json:"state"`
	Availability string `json:"availability"`
	Role         string `json:"role"`
	Leader       bool   `json:"leader,omitempty"`
}

// hostOnlyAddrs maps every lab node's host-only address to the node name.
func hostOnlyAddrs(p *plan.Plan) map[string]string {
	m := map[string]string{}
	for _, n := range p.Nodes {
		if a := n.Addr(plan.RoleHostOnly); a != "" {
			m[a] = n.Name
		}
	}
	return m
}

// SwarmStatus asks every node about its Swarm membership. A node that
// cannot be asked is reported with the error.
func SwarmStatus(ctx context.Context, env *exercise.Env) []NodeSwarm {
	ho := hostOnlyAddrs(env.Plan)
	var out []NodeSwarm
	for _, pn := range env.Plan.Nodes {
		ns := NodeSwarm{Node: pn.Name}
		info, err := env.Nodes[pn.Name].Docker().Info(ctx)
		if err != nil {
			ns.State, ns.Error = "unknown", err.Error()
			out = append(out, ns)
			continue
		}
		s := info.Swarm
		ns.State, ns.NodeAddr, ns.Error = string(s.LocalNodeState), s.NodeAddr, s.Error
		for _, m := range s.RemoteManagers {
			ns.Managers = append(ns.Managers, m.Addr)
		}
		sort.Strings(ns.Managers)
		ns.Ours = hasSwarmMarker(ctx, env.Nodes[pn.Name], env.Plan.Lab)
		if ns.State != string(swarm.LocalNodeStateInactive) {
			ns.Role = "worker"
			if s.ControlAvailable {
				ns.Role = "manager"
				if sw, err := env.Nodes[pn.Name].Docker().SwarmInspect(ctx); err == nil {
					ns.Cluster = sw.ID
					ns.Ours = ns.Ours || sw.Spec.Labels[exercise.Label] != ""
				}
			}
		}
		out = append(out, ns)
	}
	// A worker is ours when a manager it knows is one of ours.
	ours := map[string]bool{}
	for _, ns := range out {
		if ns.Ours {
			ours[ns.NodeAddr] = true
		}
	}
	for i, ns := range out {
		for _, m := range ns.Managers {
			if host, _, _ := strings.Cut(m, ":"); ours[host] && ho[host] != "" {
				out[i].Ours = true
			}
		}
	}
	return out
}

// SwarmMembers lists the swarm's nodes as the manager sees them.
func SwarmMembers(ctx context.Context, d exercise.DockerAPI) ([]Member, error) {
	nodes, err := d.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, err
	}
	var out []Member
	for _, n := range nodes {
		m := Member{Hostname: n.Description.Hostname, Addr: n.Status.Addr, State: string(n.Status.State),
			Availability: string(n.Spec.Availability), Role: string(n.Spec.Role)}
		if n.ManagerStatus != nil {
			m.Leader = n.ManagerStatus.Leader
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hostname < out[j].Hostname })
	return out, nil
}

func active(ns NodeSwarm) bool { return ns.State != string(swarm.LocalNodeStateInactive) }

// LeaveSwarm makes every node that is in a swarm labctl created leave it,
// workers first and then the managers; nodes not in a swarm are left
// alone, so it can run any number of times. A node in a swarm that labctl
// did not create is an error naming it, unless all is set.
func LeaveSwarm(ctx context.Context, env *exercise.Env, all bool) error {
	st := SwarmStatus(ctx, env)
	var errs []error
	var workers, managers []NodeSwarm
	for _, ns := range st {
		switch {
		case ns.State == "unknown":
			errs = append(errs, fmt.Errorf("%s: cannot ask Docker: %s", ns.Node, ns.Error))
		case !active(ns):
		case !ns.Ours && !all:
			errs = append(errs, fmt.Errorf("%s is in a swarm labctl did not create (managers %s); leave it by hand with 'labctl exec %s -- docker swarm leave --force' if it may go",
				ns.Node, strings.Join(ns.Managers, ", "), ns.Node))
		case ns.Role == "manager":
			managers = append(managers, ns)
		default:
			workers = append(workers, ns)
		}
	}
	leave := func(ctx context.Context, ns NodeSwarm) error {
		return leaveNode(ctx, env.Nodes[ns.Node])
	}
	name := func(ns NodeSwarm) string { return ns.Node }
	if err := fanout.Each(ctx, workers, 0, name, leave); err != nil {
		errs = append(errs, err)
	}
	if err := fanout.Each(ctx, managers, 0, name, leave); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// swarmMarker marks a node that labctl made a swarm member (with the lab's
// name), so that a later run recognises it also when the node lost its
// managers (a half-finished leave).
const swarmMarker = "/var/lib/labctl/swarm"

func hasSwarmMarker(ctx context.Context, n exercise.Node, lab string) bool {
	o, err := n.Sh(ctx, "cat "+swarmMarker+" 2>/dev/null")
	return err == nil && o.Exit == 0 && strings.TrimSpace(o.Stdout) == lab
}

func setSwarmMarker(ctx context.Context, n exercise.Node, lab string) error {
	o, err := n.Sh(ctx, "sudo mkdir -p "+path.Dir(swarmMarker)+" && echo '"+lab+"' | sudo tee "+swarmMarker+" >/dev/null")
	if err == nil && o.Exit != 0 {
		err = fmt.Errorf("mark %s: %s", swarmMarker, o.Text())
	}
	return err
}

// leaveNode makes one node leave its swarm (forced), and removes the
// marker. Docker gives a leave 20 s, which a busy node under emulation can
// miss while the node still leaves; so the state is read again and the
// leave retried, three times at most. A leave that timed out can leave the
// node's gossip agent running with the old cluster's keys (the next
// swarm's attachments then time out, "No installed keys could decrypt the
// message" in the managers' logs), so Docker is restarted after it.
func leaveNode(ctx context.Context, n exercise.Node) error {
	var err error
	timedOut := false
	defer func() {
		if timedOut && err == nil {
			err = restartDocker(ctx, n)
		}
	}()
	for try := 0; try < 3; try++ {
		err = n.Docker().SwarmLeave(ctx, true)
		if err != nil && strings.Contains(err.Error(), "not part of a swarm") {
			err = nil
		}
		timedOut = timedOut || err != nil
		for i := 0; err != nil && i < 30; i++ {
			info, ierr := n.Docker().Info(ctx)
			if ierr == nil && info.Swarm.LocalNodeState == swarm.LocalNodeStateInactive {
				err = nil
				break
			}
			if serr := exercise.Sleep(ctx, time.Second); serr != nil {
				return serr
			}
		}
		if err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("leave the swarm: %w", err)
	}
	// Docker creates docker_gwbridge for overlay attachments and keeps it
	// after the swarm is gone; the node is left as the lab found it.
	if err := removeGWBridge(ctx, n); err != nil {
		return err
	}
	o, err := n.Sh(ctx, "sudo rm -f "+swarmMarker)
	if err == nil && o.Exit != 0 {
		err = fmt.Errorf("remove %s: %s", swarmMarker, o.Text())
	}
	return err
}

func removeGWBridge(ctx context.Context, n exercise.Node) error {
	var err error
	for i := 0; i < 10; i++ {
		err = exercise.IgnoreNotFound(n.Docker().NetworkRemove(ctx, "docker_gwbridge"))
		if err == nil {
			return nil
		}
		// endpoints of the ingress sandbox go a moment after the leave
		if serr := exercise.Sleep(ctx, time.Second); serr != nil {
			return serr
		}
	}
	return fmt.Errorf("remove docker_gwbridge: %w", err)
}

func restartDocker(ctx context.Context, n exercise.Node) error {
	o, err := n.Sh(ctx, "sudo systemctl restart docker && for i in $(seq 60); do sudo docker info >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1")
	if err == nil && o.Exit != 0 {
		err = fmt.Errorf("restart docker after a slow swarm leave: %s", o.Text())
	}
	return err
}

// InitSwarm makes manager the first manager of a new swarm, listening,
// advertising and carrying overlay traffic (the data path) on its
// host-only address, with overlay subnets from the lab's Swarm pool.
func InitSwarm(ctx context.Context, env *exercise.Env, manager, lab string) (string, error) {
	addr := hostOnlyAddr(env.Plan, manager)
	if addr == "" {
		return "", fmt.Errorf("%s has no host-only address", manager)
	}
	pool := env.Plan.Docker.SwarmPool
	req := swarm.InitRequest{
		ListenAddr:      fmt.Sprintf("%s:%d", addr, SwarmPort),
		AdvertiseAddr:   fmt.Sprintf("%s:%d", addr, SwarmPort),
		DataPathAddr:    addr,
		DefaultAddrPool: []string{pool.Base},
		SubnetSize:      uint32(pool.Size),
		Spec:            swarm.Spec{Annotations: swarm.Annotations{Labels: map[string]string{exercise.Label: lab}}},
	}
	if err := setSwarmMarker(ctx, env.Nodes[manager], env.Plan.Lab); err != nil {
		return "", fmt.Errorf("%s: %w", manager, err)
	}
	id, err := env.Nodes[manager].Docker().SwarmInit(ctx, req)
	if err != nil {
		return "", fmt.Errorf("%s: swarm init on %s: %w", manager, addr, err)
	}
	return id, nil
}

// JoinSwarm makes workers join the swarm managed by manager, each over its
// own host-only address. The join token goes from the manager's API to
// the workers' APIs and nowhere else. Every node that cannot join is
// reported by name with Docker's reason.
func JoinSwarm(ctx context.Context, env *exercise.Env, manager string, workers []string) error {
	sw, err := env.Nodes[manager].Docker().SwarmInspect(ctx)
	if err != nil {
		return fmt.Errorf("%s: read the join token: %w", manager, err)
	}
	remote := fmt.Sprintf("%s:%d", hostOnlyAddr(env.Plan, manager), SwarmPort)
	return fanout.Each(ctx, workers, 0, func(n string) string { return n }, func(ctx context.Context, n string) error {
		addr := hostOnlyAddr(env.Plan, n)
		if addr == "" {
			return errors.New("no host-only address")
		}
		if err := setSwarmMarker(ctx, env.Nodes[n], env.Plan.Lab); err != nil {
			return err
		}
		err := env.Nodes[n].Docker().SwarmJoin(ctx, swarm.JoinRequest{
			ListenAddr:    fmt.Sprintf("%s:%d", addr, SwarmPort),
			AdvertiseAddr: addr,
			DataPathAddr:  addr,
			RemoteAddrs:   []string{remote},
			JoinToken:     sw.JoinTokens.Worker,
		})
		if err != nil {
			return fmt.Errorf("cannot join the swarm at %s: %s", remote, redact(err.Error(), sw.JoinTokens.Worker, sw.JoinTokens.Manager))
		}
		return nil
	})
}

// redact replaces secrets in s.
func redact(s string, secrets ...string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "[join token]")
		}
	}
	return s
}

func hostOnlyAddr(p *plan.Plan, node string) string {
	n, ok := p.Node(node)
	if !ok {
		return ""
	}
	return n.Addr(plan.RoleHostOnly)
}

// MembersTable prints a manager's node list as 'docker node ls' does: the
// overlay lab's evidence and 'labctl swarm status' show the same table.
func MembersTable(ms []Member) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s %-16s %-8s %-12s %s\n", "HOSTNAME", "ADDR", "STATUS", "AVAILABILITY", "ROLE")
	for _, m := range ms {
		role := m.Role
		if m.Leader {
			role += " (leader)"
		}
		fmt.Fprintf(&b, "%-16s %-16s %-8s %-12s %s\n", m.Hostname, m.Addr, m.State, m.Availability, role)
	}
	return strings.TrimRight(b.String(), "\n")
}
