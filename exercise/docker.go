package exercise

import (
	"context"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
)

// ContainerSpec is `docker run -itd --rm [--network N] [--ip IP] [-p P] --name NAME IMAGE`.
type ContainerSpec struct {
	Name    string
	Image   string
	Network string   // "" for the default bridge, or a network name, "host", "none"
	IP      string   // fixed address on Network
	Publish []string // "80:80"
	Cmd     []string
}

// RunContainer creates and starts a container on a node, labelled for the
// lab, and registers its removal.
func (r *Run) RunContainer(ctx context.Context, node string, s ContainerSpec) (string, error) {
	d := r.Node(node).Docker()
	cfg := &container.Config{
		Image: s.Image, Cmd: s.Cmd, Tty: true, OpenStdin: true, Hostname: s.Name,
		Labels: map[string]string{Label: r.Lab.Name},
	}
	hc := &container.HostConfig{}
	var nc *network.NetworkingConfig
	if s.Network != "" {
		hc.NetworkMode = container.NetworkMode(s.Network)
		if s.IP != "" {
			nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
				s.Network: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: s.IP}},
			}}
		}
	}
	if len(s.Publish) > 0 {
		exposed, bindings, err := nat.ParsePortSpecs(s.Publish)
		if err != nil {
			return "", err
		}
		cfg.ExposedPorts, hc.PortBindings = exposed, bindings
	}
	resp, err := d.ContainerCreate(ctx, cfg, hc, nc, nil, s.Name)
	if err != nil {
		return "", fmt.Errorf("%s: create container %s: %w", node, s.Name, err)
	}
	r.OnUndo("remove container "+s.Name+" on "+node, func(ctx context.Context) error {
		return IgnoreNotFound(d.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true}))
	})
	if err := d.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		return "", fmt.Errorf("%s: start container %s: %w", node, s.Name, err)
	}
	r.Log(fmt.Sprintf("%s: container %s (%s) started", node, s.Name, s.Image))
	return resp.ID, nil
}

// RemoveContainer stops and removes a container now (as `docker stop` with
// --rm does).
func (r *Run) RemoveContainer(ctx context.Context, node, name string) error {
	d := r.Node(node).Docker()
	if r.checkOnly {
		// The container is the student's: set aside under another name
		// while the check needs its name, and put back when the checks'
		// own actions are undone (after what the check started in its
		// place is removed: undo runs last first).
		if _, err := d.ContainerInspect(ctx, name); err != nil {
			return IgnoreNotFound(err)
		}
		aside := name + "-labctl-aside"
		if err := d.ContainerRename(ctx, name, aside); err != nil {
			return fmt.Errorf("set %s aside on %s: %w", name, node, err)
		}
		r.OnUndo("put "+name+" back on "+node, func(ctx context.Context) error { return d.ContainerRename(ctx, aside, name) })
		return nil
	}
	return IgnoreNotFound(d.ContainerRemove(ctx, name, container.RemoveOptions{Force: true}))
}

// NetworkSpec is `docker network create`.
type NetworkSpec struct {
	Name    string
	Driver  string            // bridge (default), macvlan, ipvlan, overlay
	Subnets []Subnet          // empty: Docker picks from its pools
	Options map[string]string // e.g. parent, ipvlan_mode
	// Attachable lets standalone containers join a Swarm overlay.
	Attachable bool
}

// Subnet is one IPAM pool of a network.
type Subnet struct {
	Subnet  string
	Gateway string
}

// CreateNetwork creates a Docker network on a node, labelled for the lab,
// and registers its removal.
func (r *Run) CreateNetwork(ctx context.Context, node string, s NetworkSpec) (string, error) {
	d := r.Node(node).Docker()
	opts := network.CreateOptions{Driver: s.Driver, Options: s.Options, Attachable: s.Attachable, Labels: map[string]string{Label: r.Lab.Name}}
	if len(s.Subnets) > 0 {
		opts.IPAM = &network.IPAM{}
		for _, sn := range s.Subnets {
			opts.IPAM.Config = append(opts.IPAM.Config, network.IPAMConfig{Subnet: sn.Subnet, Gateway: sn.Gateway})
		}
	}
	resp, err := d.NetworkCreate(ctx, s.Name, opts)
	if err != nil {
		return "", fmt.Errorf("%s: create network %s: %w", node, s.Name, err)
	}
	r.OnUndo("remove network "+s.Name+" on "+node, func(ctx context.Context) error {
		return IgnoreNotFound(d.NetworkRemove(ctx, resp.ID))
	})
	r.Log(fmt.Sprintf("%s: network %s (%s) created", node, s.Name, driverName(s.Driver)))
	return resp.ID, nil
}

func driverName(d string) string {
	if d == "" {
		return "bridge"
	}
	return d
}

// NodeSh runs a setup command on a node and registers undo (a command that
// reverses it, run at teardown; "" for none). A failing command is an error.
func (r *Run) NodeSh(ctx context.Context, node, cmd, undo string) error {
	n := r.Node(node)
	out, err := n.Sh(ctx, cmd)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", node, cmd, err)
	}
	if undo != "" {
		r.UndoSh("", node+": "+undo, n.Sh, undo)
	}
	if out.Exit != 0 {
		return fmt.Errorf("%s: `%s` exited with %d: %s", node, cmd, out.Exit, strings.TrimSpace(out.Stderr+out.Stdout))
	}
	return nil
}

// Exec runs argv in a container through the Docker API.
func (r *Run) Exec(ctx context.Context, node, ctr string, argv ...string) (Output, error) {
	return dockerExec(ctx, r.Node(node).Docker(), ctr, argv)
}

func dockerExec(ctx context.Context, d DockerAPI, ctr string, argv []string) (Output, error) {
	ex, err := d.ContainerExecCreate(ctx, ctr, container.ExecOptions{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return Output{}, fmt.Errorf("exec in %s: %w", ctr, err)
	}
	att, err := d.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return Output{}, fmt.Errorf("exec in %s: %w", ctr, err)
	}
	defer att.Close()
	var out, errb capped
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&out, &errb, att.Reader)
		done <- err
	}()
	select {
	case <-ctx.Done():
		return Output{}, ctx.Err()
	case err := <-done:
		if err != nil {
			return Output{}, fmt.Errorf("exec in %s: read output: %w", ctr, err)
		}
	}
	insp, err := d.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return Output{}, err
	}
	return Output{Stdout: out.String(), Stderr: errb.String(), Exit: insp.ExitCode}, nil
}

// ContainerIP returns a container's address on a network ("" for the
// first network it has).
func (r *Run) ContainerIP(ctx context.Context, node, ctr, net string) (string, error) {
	c, err := r.Node(node).Docker().ContainerInspect(ctx, ctr)
	if err != nil {
		return "", err
	}
	if c.NetworkSettings == nil {
		return "", fmt.Errorf("%s has no network settings", ctr)
	}
	for name, ep := range c.NetworkSettings.Networks {
		if (net == "" || name == net) && ep.IPAddress != "" {
			return ep.IPAddress, nil
		}
	}
	return "", fmt.Errorf("%s: container %s has no address on %q", node, ctr, net)
}

func cleanNode(ctx context.Context, n Node, lab string) error {
	d := n.Docker()
	f := filters.NewArgs()
	if lab == "" {
		f.Add("label", Label)
	} else {
		f.Add("label", Label+"="+lab)
	}
	cs, err := d.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := IgnoreNotFound(d.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})); err != nil {
			return err
		}
	}
	ns, err := d.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return err
	}
	for _, nw := range ns {
		if nw.Scope == "swarm" {
			continue // removed with the swarm (the overlay lab leaves it first)
		}
		if err := IgnoreNotFound(d.NetworkRemove(ctx, nw.ID)); err != nil {
			return err
		}
	}
	return nil
}

// IgnoreNotFound is err, but nil for Docker's "no such object".
func IgnoreNotFound(err error) error {
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// UndoSh registers cmd, run with sh, as an undo action (in group when
// named); a non-zero exit fails it with the command's stderr.
func (r *Run) UndoSh(group, what string, sh func(context.Context, string) (Output, error), cmd string) {
	r.OnUndoIn(group, what, func(ctx context.Context) error {
		o, err := sh(ctx, cmd)
		if err == nil && o.Exit != 0 {
			err = fmt.Errorf("exit %d: %s", o.Exit, strings.TrimSpace(o.Stderr))
		}
		return err
	})
}
