package overlay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/exercise/exercisetest"
)

// fakeCluster is Swarm as the nodes' Docker APIs show it, in memory.
type fakeCluster struct {
	mu      sync.Mutex
	token   string
	labels  map[string]string
	manager string // address:port of the manager, "" before init
	members map[string]*fakeSwarmNode
	leaves  []string // order in which nodes left
	initReq swarm.InitRequest
}

type fakeSwarmNode struct {
	c        *fakeCluster
	name     string
	state    swarm.LocalNodeState
	addr     string
	manager  bool
	managers []string
	joinErr  error
	joinReq  swarm.JoinRequest
}

func (n *fakeSwarmNode) Info(ctx context.Context) (system.Info, error) {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	var rm []swarm.Peer
	for _, m := range n.managers {
		rm = append(rm, swarm.Peer{Addr: m})
	}
	st := n.state
	if st == "" {
		st = swarm.LocalNodeStateInactive
	}
	return system.Info{Swarm: swarm.Info{LocalNodeState: st, NodeAddr: n.addr, ControlAvailable: n.manager, RemoteManagers: rm}}, nil
}

func (n *fakeSwarmNode) SwarmInit(ctx context.Context, req swarm.InitRequest) (string, error) {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	n.c.initReq = req
	n.c.labels = req.Spec.Labels
	n.c.manager = req.AdvertiseAddr
	n.c.token = "SWMTKN-1-secret-worker-token"
	n.state, n.manager, n.addr = swarm.LocalNodeStateActive, true, strings.Split(req.AdvertiseAddr, ":")[0]
	n.managers = []string{req.AdvertiseAddr}
	return "cluster1", nil
}

func (n *fakeSwarmNode) SwarmJoin(ctx context.Context, req swarm.JoinRequest) error {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	n.joinReq = req
	if n.joinErr != nil {
		return n.joinErr
	}
	if req.JoinToken != n.c.token || len(req.RemoteAddrs) != 1 || req.RemoteAddrs[0] != n.c.manager {
		return errors.New("invalid join token or manager")
	}
	n.state, n.addr, n.managers = swarm.LocalNodeStateActive, req.AdvertiseAddr, []string{n.c.manager}
	return nil
}

func (n *fakeSwarmNode) SwarmLeave(ctx context.Context, force bool) error {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if n.state != swarm.LocalNodeStateActive {
		return errors.New("Error response from daemon: This node is not part of a swarm")
	}
	n.c.leaves = append(n.c.leaves, n.name)
	n.state, n.manager, n.managers = swarm.LocalNodeStateInactive, false, nil
	return nil
}

func (n *fakeSwarmNode) SwarmInspect(ctx context.Context) (swarm.Swarm, error) {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if !n.manager {
		return swarm.Swarm{}, errors.New("This node is not a swarm manager")
	}
	var sw swarm.Swarm
	sw.ID = "cluster1"
	sw.Spec.Labels = n.c.labels
	sw.JoinTokens.Worker = n.c.token
	return sw, nil
}

func (n *fakeSwarmNode) NodeList(context.Context, swarm.NodeListOptions) ([]swarm.Node, error) {
	return nil, errors.New("not in this fake")
}
func (n *fakeSwarmNode) ServiceCreate(context.Context, swarm.ServiceSpec, swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error) {
	return swarm.ServiceCreateResponse{}, errors.New("not in this fake")
}
func (n *fakeSwarmNode) ServiceRemove(context.Context, string) error { return nil }
func (n *fakeSwarmNode) ServiceList(context.Context, swarm.ServiceListOptions) ([]swarm.Service, error) {
	return nil, nil
}
func (n *fakeSwarmNode) TaskList(context.Context, swarm.TaskListOptions) ([]swarm.Task, error) {
	return nil, nil
}

func swarmEnv(t *testing.T) (*exercise.Env, *fakeCluster) {
	env, _ := exercisetest.Env(t)
	c := &fakeCluster{members: map[string]*fakeSwarmNode{}}
	for name, n := range env.Nodes {
		sn := &fakeSwarmNode{c: c, name: name}
		c.members[name] = sn
		n.(*exercisetest.Node).D.SwarmAPI = sn
	}
	return env, c
}

func TestSwarmInitAndJoinUseTheHostOnlyNetwork(t *testing.T) {
	ctx := context.Background()
	env, c := swarmEnv(t)
	if _, err := InitSwarm(ctx, env, "node1", "overlay"); err != nil {
		t.Fatal(err)
	}
	ho1 := hostOnlyAddr(env.Plan, "node1")
	if ho1 == "" || strings.HasPrefix(ho1, "192.168.241.") {
		t.Fatalf("node1's host-only address: %q", ho1)
	}
	want := ho1 + ":2377"
	if c.initReq.AdvertiseAddr != want || c.initReq.ListenAddr != want || c.initReq.DataPathAddr != ho1 {
		t.Errorf("init request: %+v", c.initReq)
	}
	if len(c.initReq.DefaultAddrPool) != 1 || c.initReq.DefaultAddrPool[0] != env.Plan.Docker.SwarmPool.Base || c.initReq.SubnetSize != uint32(env.Plan.Docker.SwarmPool.Size) {
		t.Errorf("address pool: %v /%d, want the plan's %+v", c.initReq.DefaultAddrPool, c.initReq.SubnetSize, env.Plan.Docker.SwarmPool)
	}
	if err := JoinSwarm(ctx, env, "node1", []string{"node2", "node3"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"node2", "node3"} {
		j := c.members[n].joinReq
		if j.AdvertiseAddr != hostOnlyAddr(env.Plan, n) || j.DataPathAddr != j.AdvertiseAddr || j.RemoteAddrs[0] != want {
			t.Errorf("%s joined with %+v", n, j)
		}
	}
	st := SwarmStatus(ctx, env)
	for _, ns := range st {
		if ns.State != "active" || !ns.Ours {
			t.Errorf("status %+v: want active and labctl's", ns)
		}
	}
	if st[0].Role != "manager" || st[1].Role != "worker" {
		t.Errorf("roles: %+v", st)
	}
}

func TestSwarmJoinFailureNamesTheNodeAndHidesTheToken(t *testing.T) {
	ctx := context.Background()
	env, c := swarmEnv(t)
	if _, err := InitSwarm(ctx, env, "node1", "overlay"); err != nil {
		t.Fatal(err)
	}
	c.members["node3"].joinErr = fmt.Errorf("rpc error: code = Unavailable desc = connection refused (token %s)", c.token)
	err := JoinSwarm(ctx, env, "node1", []string{"node2", "node3"})
	if err == nil {
		t.Fatal("a failed join was not reported")
	}
	msg := err.Error()
	if !strings.Contains(msg, "node3: cannot join the swarm at "+hostOnlyAddr(env.Plan, "node1")+":2377") || !strings.Contains(msg, "connection refused") {
		t.Errorf("error does not name node3 and the reason: %s", msg)
	}
	if strings.Contains(msg, c.token) || strings.Contains(msg, "node2") {
		t.Errorf("error shows the token or blames node2: %s", msg)
	}
	if c.members["node2"].state != swarm.LocalNodeStateActive {
		t.Error("node2 should have joined")
	}
}

func TestLeaveSwarmWorkersFirstIdempotentForeignRefused(t *testing.T) {
	ctx := context.Background()
	env, c := swarmEnv(t)
	InitSwarm(ctx, env, "node1", "overlay")
	if err := JoinSwarm(ctx, env, "node1", []string{"node2", "node3"}); err != nil {
		t.Fatal(err)
	}
	if err := LeaveSwarm(ctx, env, false); err != nil {
		t.Fatal(err)
	}
	if len(c.leaves) != 3 || c.leaves[2] != "node1" {
		t.Errorf("leave order %v: the manager must leave last", c.leaves)
	}
	if err := LeaveSwarm(ctx, env, false); err != nil || len(c.leaves) != 3 {
		t.Errorf("second leave: err=%v, leaves %v", err, c.leaves)
	}
	for _, ns := range SwarmStatus(ctx, env) {
		if ns.State != "inactive" {
			t.Errorf("%s still %s", ns.Node, ns.State)
		}
	}

	// node2 in somebody else's swarm: reported, not touched.
	n2 := c.members["node2"]
	n2.state, n2.addr, n2.managers = swarm.LocalNodeStateActive, "10.99.0.2", []string{"10.99.0.1:2377"}
	err := LeaveSwarm(ctx, env, false)
	if err == nil || !strings.Contains(err.Error(), "node2 is in a swarm labctl did not create") {
		t.Errorf("foreign swarm: %v", err)
	}
	if n2.state != swarm.LocalNodeStateActive {
		t.Error("node2 left a swarm that is not labctl's")
	}
	if err := LeaveSwarm(ctx, env, true); err != nil || n2.state != swarm.LocalNodeStateInactive {
		t.Errorf("--all: err=%v state=%s", err, n2.state)
	}
}

func TestCarriedReadsXfrmCounters(t *testing.T) {
	none := "src 192.168.242.12 dst 192.168.242.13\n\tproto esp spi 0x1 reqid 0 mode transport\n\tlifetime current:\n\t  0(bytes), 0(packets)\n"
	some := strings.Replace(none, "0(bytes), 0(packets)", "1368(bytes), 12(packets)", 1)
	if carried(none) || !carried(some) {
		t.Errorf("carried: none=%v some=%v", carried(none), carried(some))
	}
}

func TestOverlayLabNeedsThreeNodes(t *testing.T) {
	env, _ := exercisetest.Env(t)
	env.Plan.Nodes = env.Plan.Nodes[:2]
	l := Exercise()
	rep := exercise.RunLab(context.Background(), env, l, exercise.Options{})
	if rep.Passed || !strings.Contains(rep.SetupError, "needs 3 nodes") {
		t.Errorf("overlay on 2 nodes: %+v", rep)
	}
}
