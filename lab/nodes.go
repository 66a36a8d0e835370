package lab

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	dnetwork "github.com/docker/docker/api/types/network"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/graph"
	"github.com/labctl/labctl/inventory"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/provision"
	"github.com/labctl/labctl/transport"
)

// PinFile is where an inventory's host keys are pinned.
func (l *Lab) PinFile() string { return filepath.Join(l.dir.Path, "inventory_known_hosts") }

// Nodes connects to the nodes the labs run on: labctl's own VMs with the
// lab's keys, or with Options.Inventory the hosts it lists (host keys
// trusted on first use and pinned in PinFile). This is the one place
// that decides where nodes come from. The function returned closes the
// connections.
func (l *Lab) Nodes(ctx context.Context) (*exercise.Env, func(), error) {
	if l.o.Inventory == "" {
		if err := l.requireUp(); err != nil {
			return nil, nil, err
		}
		return l.connectVMs(ctx, l.Plan)
	}
	inv, q, err := l.inventory()
	if err != nil {
		return nil, nil, err
	}
	if l.o.ConnectNodes != nil {
		return l.o.ConnectNodes(ctx, q)
	}
	kh := &transport.KnownHosts{Path: l.PinFile()}
	env, closeEnv, err := exercise.ConnectTargets(ctx, q, func(n plan.Node) (transport.Target, error) {
		h, _ := inv.Host(n.Name)
		return inv.Target(h, kh, func(node, fp string) {
			if l.o.FirstContact != nil {
				l.o.FirstContact(node, fp, kh.Path)
			}
		})
	}, exercise.LocalHost{})
	if err != nil {
		return nil, nil, fmt.Errorf("inventory %s: %w", l.o.Inventory, err)
	}
	return env, closeEnv, nil
}

// inventory reads and validates Options.Inventory against the plan and
// returns it with the plan the labs see on those hosts.
func (l *Lab) inventory() (*inventory.Inventory, *plan.Plan, error) {
	inv, err := inventory.Load(l.o.Inventory)
	if err != nil {
		return nil, nil, err
	}
	if ps := inv.Validate(l.Plan); len(ps) > 0 {
		return nil, nil, ps
	}
	return inv, inv.Apply(l.Plan), nil
}

// Node connects to one of the lab's VMs over SSH with the pinned host key.
func (l *Lab) Node(ctx context.Context, name string) (*transport.Client, error) {
	n, err := l.upNode(name)
	if err != nil {
		return nil, err
	}
	dial, err := l.dial(ctx)
	if err != nil {
		return nil, err
	}
	return provision.Connect(ctx, l.Plan, l.Keys(), *n, dial)
}

// ConnectNode connects to the one node name as Nodes does to them all
// (through Options.ConnectNodes when set): for a command that asks each
// node on its own, so that one node's answer does not wait for another's.
func (l *Lab) ConnectNode(ctx context.Context, name string) (exercise.Node, func(), error) {
	n, err := l.upNode(name)
	if err != nil {
		return nil, nil, err
	}
	one := *l.Plan
	one.Nodes = []plan.Node{*n}
	env, closeEnv, err := l.connectVMs(ctx, &one)
	if err != nil {
		return nil, nil, err
	}
	return env.Nodes[name], closeEnv, nil
}

// connectVMs connects to the nodes of p, the lab's own VMs (all or
// some): through Options.ConnectNodes when set, else over SSH with the
// lab's keys.
func (l *Lab) connectVMs(ctx context.Context, p *plan.Plan) (*exercise.Env, func(), error) {
	if l.o.ConnectNodes != nil {
		return l.o.ConnectNodes(ctx, p)
	}
	dial, err := l.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	env, closeEnv, err := exercise.Connect(ctx, p, l.Keys(), exercise.LocalHost{Dial: dial})
	if err != nil {
		return nil, nil, fmt.Errorf("lab %s: connect to the nodes (is the lab up? 'labctl up'): %w", l.Name, err)
	}
	return env, closeEnv, nil
}

// upNode is the plan's node name of a lab that is up.
func (l *Lab) upNode(name string) (*plan.Node, error) {
	n, ok := l.Plan.Node(name)
	if !ok {
		var nodes []string
		for _, n := range l.Plan.Nodes {
			nodes = append(nodes, n.Name)
		}
		return nil, &NoNodeError{Lab: l.Name, Node: name, Nodes: nodes}
	}
	return n, l.requireUp()
}

// NoNodeError is a node name the lab does not have.
type NoNodeError struct {
	Lab, Node string
	Nodes     []string // the lab's nodes
}

func (e *NoNodeError) Error() string {
	return fmt.Sprintf("lab %s has no node %q; its nodes: %s", e.Lab, e.Node, strings.Join(e.Nodes, ", "))
}

// SSHFiles writes the lab's ssh config and known_hosts and returns the
// config's path (for OpenSSH, the Docker CLI, an Include).
func (l *Lab) SSHFiles() (string, error) {
	jump, err := l.jump()
	if err != nil {
		return "", err
	}
	if err := provision.WriteSSHFiles(l.Plan, l.dir, jump); err != nil {
		return "", err
	}
	return l.dir.Join(provision.SSHConfigFile), nil
}

// Live is what is on the nodes now, for a picture: each node's Docker
// networks (but host and none) and the containers on each with their
// addresses.
func (l *Lab) Live(ctx context.Context) (map[string]graph.Live, error) {
	env, closeEnv, err := l.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	defer closeEnv()
	out := map[string]graph.Live{}
	var errs []error
	for _, pn := range env.Plan.Nodes {
		d := env.Nodes[pn.Name].Docker()
		nets, err := d.NetworkList(ctx, dnetwork.ListOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", pn.Name, err))
			continue
		}
		var live graph.Live
		for _, n := range nets {
			if n.Name == "host" || n.Name == "none" {
				continue
			}
			insp, err := d.NetworkInspect(ctx, n.ID, dnetwork.InspectOptions{})
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: network %s: %w", pn.Name, n.Name, err))
				continue
			}
			ln := graph.LiveNetwork{Name: n.Name, Driver: n.Driver}
			if len(insp.IPAM.Config) > 0 {
				ln.Subnet = insp.IPAM.Config[0].Subnet
			}
			for _, c := range insp.Containers {
				ln.Containers = append(ln.Containers, strings.TrimSpace(c.Name+" "+c.IPv4Address))
			}
			sort.Strings(ln.Containers)
			live.Networks = append(live.Networks, ln)
		}
		out[pn.Name] = live
	}
	return out, errors.Join(errs...)
}
