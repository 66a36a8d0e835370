// Package provision makes a lab's nodes ready for the labs, over SSH only:
// pinned host keys and an ssh config for people, remote commands and SFTP
// uploads for labctl, Docker installed online or from the offline bundle,
// the busybox and nginx images loaded, and the Docker API reachable
// through the SSH connection. It knows nothing of how the nodes were made.
package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/labctl/labctl/internal/fanout"
	"github.com/labctl/labctl/internal/phase"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/transport"
)

// Runner is what provisioning needs from a node: run a command, upload a
// file. Tests substitute their own.
type Runner interface {
	// Run runs cmd with sh on the node. A non-zero exit is an error that
	// carries the exit status and the command's stderr.
	Run(ctx context.Context, cmd string) (stdout []byte, err error)
	// Upload copies size bytes from r to dst on the node (mode perm) and
	// verifies the result's size and SHA-256 on the node.
	Upload(ctx context.Context, r io.Reader, size int64, dst string, perm os.FileMode) error
}

// Options configure provisioning of a lab.
type Options struct {
	Plan     *plan.Plan
	Keys     keys.Lab
	Dial     transport.DialFunc
	Docker   DockerOptions
	Parallel int // nodes at once (default: all)
	Progress func(node, msg string)
	Phase    phase.Func
	// Log gets each remote command and its duration at debug level.
	Log *slog.Logger
}

func (o *Options) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = len(o.Plan.Nodes)
	}
	if o.Progress == nil {
		o.Progress = func(string, string) {}
	}
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
}

// Target describes how to reach a node of the plan with the lab's keys.
func TargetFor(p *plan.Plan, k keys.Lab, n plan.Node) (transport.Target, error) {
	user, err := k.User()
	if err != nil {
		return transport.Target{}, err
	}
	signer, err := user.Signer()
	if err != nil {
		return transport.Target{}, err
	}
	hk, err := PinnedKey(k, n.Name)
	if err != nil {
		return transport.Target{}, err
	}
	return transport.Target{Node: n.Name, Addr: net.JoinHostPort(HostOnlyAddr(n), "22"), User: p.User, Signer: signer, HostKey: hk}, nil
}

// Connect opens an SSH connection to a node of the plan.
func Connect(ctx context.Context, p *plan.Plan, k keys.Lab, n plan.Node, dial transport.DialFunc) (*transport.Client, error) {
	t, err := TargetFor(p, k, n)
	if err != nil {
		return nil, err
	}
	return transport.Dial(ctx, t, transport.DialOptions{Dial: dial})
}

// Provision makes every node ready, all at once, and gathers each node's
// error. A cancelled context wins over the gathered errors.
func Provision(ctx context.Context, o Options) error {
	o.defaults()
	return fanout.Each(ctx, o.Plan.Nodes, o.Parallel, func(n plan.Node) string { return n.Name },
		func(ctx context.Context, n plan.Node) error { return provisionNode(ctx, o, n) })
}

// maxReconnects bounds how often one node's provisioning connects again
// after its SSH connection was lost.
const maxReconnects = 2

func provisionNode(ctx context.Context, o Options, n plan.Node) error {
	phase := func(name string, fn func() error) error { return o.Phase.Time(name, n.Name, fn) }
	var c *transport.Client
	if err := phase("ssh ready", func() (err error) {
		c, err = Connect(ctx, o.Plan, o.Keys, n, o.Dial)
		return err
	}); err != nil {
		return err
	}
	defer func() { c.Close() }()
	d := o.Docker
	d.Log = func(msg string) { o.Progress(n.Name, msg) }
	// Every step checks before it acts, so a connection lost on the way
	// (sshd restarted, the network gone for a moment) costs a reconnect
	// and the steps again, not the node.
	for attempt := 1; ; attempt++ {
		r := traced{c, o.Log, n.Name}
		err := phase("guest network", func() error { return CheckGuestNetwork(ctx, r, o.Plan, n) })
		if err == nil {
			err = phase("docker installed", func() error { return InstallDocker(ctx, r, o.Plan.User, d) })
		}
		if err == nil {
			break
		}
		if !errors.Is(err, transport.ErrConnectionLost) || attempt == maxReconnects+1 || ctx.Err() != nil {
			return err
		}
		o.Progress(n.Name, fmt.Sprintf("%v; connecting again to carry on (%d of %d)", err, attempt, maxReconnects))
		c.Close()
		if err := phase("ssh ready", func() (err error) {
			c, err = Connect(ctx, o.Plan, o.Keys, n, o.Dial)
			return err
		}); err != nil {
			return fmt.Errorf("connecting again after the SSH connection was lost: %w", err)
		}
	}
	// A new login picks up the docker group for the API tunnel.
	return phase("docker ready", func() error {
		c.Close()
		var err error
		if c, err = Connect(ctx, o.Plan, o.Keys, n, o.Dial); err != nil {
			return err
		}
		dc, err := transport.DockerClient(c)
		if err != nil {
			return err
		}
		defer dc.Close()
		v, err := dc.ServerVersion(ctx)
		if err != nil {
			return fmt.Errorf("Docker API over SSH: %w", err)
		}
		o.Progress(n.Name, fmt.Sprintf("Docker %s ready (API %s)", v.Version, v.APIVersion))
		return nil
	})
}

// traced is a Runner that logs each command and upload with its duration
// at debug level (labctl -v): where the time of "docker installed" goes.
type traced struct {
	r    Runner
	log  *slog.Logger
	node string
}

func (t traced) Run(ctx context.Context, cmd string) ([]byte, error) {
	start := time.Now()
	out, err := t.r.Run(ctx, cmd)
	if t.log != nil {
		t.log.Debug("ran", "node", t.node, "cmd", transport.Abbrev(cmd, 72), "seconds", time.Since(start).Seconds(), "err", err)
	}
	return out, err
}

func (t traced) Upload(ctx context.Context, src io.Reader, size int64, dst string, perm os.FileMode) error {
	start := time.Now()
	err := t.r.Upload(ctx, src, size, dst, perm)
	if t.log != nil {
		t.log.Debug("uploaded", "node", t.node, "file", dst, "bytes", size, "seconds", time.Since(start).Seconds(), "err", err)
	}
	return err
}
