package exercise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sync"
	"time"

	"github.com/docker/docker/client"
	"github.com/labctl/labctl/internal/fanout"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/provision"
	"github.com/labctl/labctl/transport"
)

// sshNode is a lab node reached over the lab's pinned SSH connection, with
// the Docker API tunnelled through it.
type sshNode struct {
	name string
	c    *transport.Client
	d    *client.Client
}

func (n *sshNode) Name() string      { return n.name }
func (n *sshNode) Docker() DockerAPI { return n.d }

// sbinPath lets the lab user's shell find the administration commands
// (bridge, ip, iptables live in /sbin and /usr/sbin on Debian).
const sbinPath = "PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin; export PATH; "

func (n *sshNode) Sh(ctx context.Context, cmd string) (Output, error) {
	var out, errb capped
	err := n.c.Stream(ctx, sbinPath+cmd, nil, &out, &errb)
	o := Output{Stdout: out.String(), Stderr: errb.String()}
	var ee *transport.ExitError
	if errors.As(err, &ee) {
		o.Exit = ee.Status
		return o, nil
	}
	return o, err
}

// LocalHost is the machine labctl runs on. Dial reaches the nodes (the
// test harness passes its namespace's dialer); commands run with sh, and
// with Wrap (e.g. `ip netns exec NS`) prepended when set.
type LocalHost struct {
	Dial transport.DialFunc
	Wrap []string
}

// HTTPGet fetches url with a 10 s limit.
func (h LocalHost) HTTPGet(ctx context.Context, url string) (Output, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	if h.Dial != nil {
		tr.DialContext = h.Dial
	}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Output{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Output{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	o := Output{Stdout: fmt.Sprintf("HTTP %d\n%s", resp.StatusCode, body)}
	if resp.StatusCode != http.StatusOK {
		o.Exit = 1
	}
	return o, nil
}

// Sh runs cmd on this machine.
func (h LocalHost) Sh(ctx context.Context, cmd string) (Output, error) {
	argv := append(append([]string{}, h.Wrap...), "sh", "-c", sbinPath+cmd)
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.WaitDelay = time.Second // a child that keeps the pipes open does not hold the probe
	var out, errb capped
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	o := Output{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		o.Exit = ee.ExitCode()
		return o, nil
	}
	return o, err
}

// Connect opens SSH and Docker API connections to every node of the plan.
// Close the returned Env's connections with the returned function.
func Connect(ctx context.Context, p *plan.Plan, k keys.Lab, host LocalHost) (*Env, func(), error) {
	return ConnectTargets(ctx, p, func(n plan.Node) (transport.Target, error) { return provision.TargetFor(p, k, n) }, host)
}

// ConnectTargets is Connect with the way into each node given by target
// (e.g. hosts of an inventory).
func ConnectTargets(ctx context.Context, p *plan.Plan, target func(plan.Node) (transport.Target, error), host LocalHost) (*Env, func(), error) {
	env := &Env{Plan: p, Nodes: map[string]Node{}, Host: host}
	var mu sync.Mutex
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	// All nodes at once, and every node that cannot be reached is named:
	// one unreachable node must neither hide the others nor make the
	// reachable ones wait for it.
	err := fanout.Each(ctx, p.Nodes, 0, func(n plan.Node) string { return n.Name }, func(ctx context.Context, pn plan.Node) error {
		t, err := target(pn)
		if err != nil {
			return err
		}
		c, err := transport.Dial(ctx, t, transport.DialOptions{Dial: host.Dial, Timeout: time.Minute})
		if err != nil {
			return err
		}
		d, err := transport.DockerClient(c)
		if err != nil {
			c.Close()
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		closers = append(closers, func() { d.Close(); c.Close() })
		env.Nodes[pn.Name] = &sshNode{name: pn.Name, c: c, d: d}
		return nil
	})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return env, closeAll, nil
}
