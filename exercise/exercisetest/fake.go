// Package exercisetest has fakes of what exercises run on: nodes with an
// in-memory Docker, for the unit tests of the engine, lab files and the
// overlay.
package exercisetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/plan/plantest"
)

// Docker keeps containers and networks in memory; a command run in a
// container answers with the Exec hook.
type Docker struct {
	exercise.SwarmAPI // nil unless a test sets it: only the Swarm lab uses it
	mu                sync.Mutex
	Containers        map[string]map[string]string // name -> labels
	Networks          map[string]map[string]string
	// Exec answers a command run in a container; nil: empty output, exit 0.
	Exec  func(ctr string, argv []string) exercise.Output
	execs map[string]exercise.Output
	n     int
}

func NewDocker() *Docker {
	return &Docker{Containers: map[string]map[string]string{}, Networks: map[string]map[string]string{}, execs: map[string]exercise.Output{}}
}

func (f *Docker) ContainerCreate(ctx context.Context, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, p *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.Containers[name]; ok {
		return container.CreateResponse{}, fmt.Errorf("conflict: %s exists", name)
	}
	f.Containers[name] = cfg.Labels
	return container.CreateResponse{ID: name}, nil
}
func (f *Docker) ContainerStart(ctx context.Context, id string, o container.StartOptions) error {
	return nil
}
func (f *Docker) ContainerRemove(ctx context.Context, id string, o container.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.Containers[id]; !ok {
		return cerrdefs.ErrNotFound.WithMessage("no such container " + id)
	}
	delete(f.Containers, id)
	return nil
}
func (f *Docker) ContainerRename(ctx context.Context, id, newName string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	labels, ok := f.Containers[id]
	if !ok {
		return cerrdefs.ErrNotFound.WithMessage("no such container " + id)
	}
	if _, taken := f.Containers[newName]; taken {
		return cerrdefs.ErrConflict.WithMessage("the name " + newName + " is already in use")
	}
	delete(f.Containers, id)
	f.Containers[newName] = labels
	return nil
}
func (f *Docker) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.Containers[id]; !ok {
		return container.InspectResponse{}, cerrdefs.ErrNotFound.WithMessage("no such container " + id)
	}
	return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{State: &container.State{Running: true, Status: "running"}}}, nil
}
func (f *Docker) ContainerList(ctx context.Context, o container.ListOptions) ([]container.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []container.Summary
	for name, labels := range f.Containers {
		if _, ok := labels[exercise.Label]; ok {
			out = append(out, container.Summary{ID: name, Labels: labels})
		}
	}
	return out, nil
}
func (f *Docker) ContainerExecCreate(ctx context.Context, id string, o container.ExecOptions) (container.ExecCreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	eid := fmt.Sprint(f.n)
	out := exercise.Output{}
	if f.Exec != nil {
		out = f.Exec(id, o.Cmd)
	}
	f.execs[eid] = out
	return container.ExecCreateResponse{ID: eid}, nil
}
func (f *Docker) ContainerExecAttach(ctx context.Context, id string, c container.ExecAttachOptions) (types.HijackedResponse, error) {
	f.mu.Lock()
	out := f.execs[id]
	f.mu.Unlock()
	// Multiplexed stream: stdout frame, then stderr frame.
	var b bytes.Buffer
	frame := func(stream byte, s string) {
		if s == "" {
			return
		}
		h := []byte{stream, 0, 0, 0, 0, 0, 0, 0}
		n := len(s)
		h[4], h[5], h[6], h[7] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		b.Write(h)
		b.WriteString(s)
	}
	frame(1, out.Stdout)
	frame(2, out.Stderr)
	c1, c2 := net.Pipe()
	go func() { io.Copy(c2, &b); c2.Close() }()
	return types.NewHijackedResponse(c1, ""), nil
}
func (f *Docker) ContainerExecInspect(ctx context.Context, id string) (container.ExecInspect, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return container.ExecInspect{ExitCode: f.execs[id].Exit}, nil
}
func (f *Docker) ContainerLogs(ctx context.Context, id string, o container.LogsOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}
func (f *Docker) NetworkCreate(ctx context.Context, name string, o network.CreateOptions) (network.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Networks[name] = o.Labels
	return network.CreateResponse{ID: name}, nil
}
func (f *Docker) NetworkRemove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.Networks[id]; !ok {
		return cerrdefs.ErrNotFound.WithMessage("no such network")
	}
	delete(f.Networks, id)
	return nil
}
func (f *Docker) NetworkInspect(ctx context.Context, id string, o network.InspectOptions) (network.Inspect, error) {
	return network.Inspect{}, errors.New("not used")
}
func (f *Docker) NetworkList(ctx context.Context, o network.ListOptions) ([]network.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []network.Summary
	for name, labels := range f.Networks {
		if _, ok := labels[exercise.Label]; ok {
			out = append(out, network.Summary{ID: name, Name: name, Labels: labels})
		}
	}
	return out, nil
}
func (f *Docker) NetworkConnect(ctx context.Context, n, c string, cfg *network.EndpointSettings) error {
	return nil
}
func (f *Docker) NetworkDisconnect(ctx context.Context, n, c string, force bool) error {
	return nil
}

type Node struct {
	ID string  // the node's name
	D  *Docker // its Docker
	mu sync.Mutex
	// Cmds are the shell commands run on the node, in order. Answer, when
	// set, answers them; otherwise a command containing "exit 7" fails
	// (exit 7, stderr "boom") and every other one prints "ok".
	Cmds   []string
	Answer func(cmd string) exercise.Output
	// Hang makes every command run until its context ends (a command
	// that never ends on the node), as SSH does: then the context's
	// error.
	Hang bool
}

func (n *Node) Name() string { return n.ID }

func (n *Node) Docker() exercise.DockerAPI { return n.D }

func (n *Node) Sh(ctx context.Context, cmd string) (exercise.Output, error) {
	n.mu.Lock()
	n.Cmds = append(n.Cmds, cmd)
	hang := n.Hang
	n.mu.Unlock()
	if hang {
		<-ctx.Done()
		return exercise.Output{}, ctx.Err()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.Answer != nil {
		return n.Answer(cmd), nil
	}
	if strings.Contains(cmd, "exit 7") {
		return exercise.Output{Exit: 7, Stderr: "boom"}, nil
	}
	return exercise.Output{Stdout: "ok\n"}, nil
}

// Host is the machine labctl runs on, faked: it records the commands and
// fetches it is given and answers "ok".
type Host struct {
	mu   sync.Mutex
	Cmds []string
}

func (h *Host) Sh(ctx context.Context, cmd string) (exercise.Output, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Cmds = append(h.Cmds, cmd)
	return exercise.Output{Stdout: "ok\n"}, nil
}

func (h *Host) HTTPGet(ctx context.Context, url string) (exercise.Output, error) {
	return h.Sh(ctx, "GET "+url)
}

// Env is the default topology's plan with three fake nodes; node1 is
// returned too.
func Env(t testing.TB) (*exercise.Env, *Node) {
	p := plantest.New(t, "t", "")
	n1 := &Node{ID: "node1", D: NewDocker()}
	env := &exercise.Env{Plan: p, Nodes: map[string]exercise.Node{"node1": n1, "node2": &Node{ID: "node2", D: NewDocker()}, "node3": &Node{ID: "node3", D: NewDocker()}}}
	return env, n1
}

// Plan is the plan of lab t from a topology's text, defaults applied.
func Plan(t testing.TB, src string) *plan.Plan { return plantest.New(t, "t", src) }
