package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/labctl/labctl/vm"
)

// Down removes every libvirt object of the lab - found by metadata and
// names, so it works without the state too - and then the lab's state
// directory but its lock. It needs the lab locked. What was removed is
// returned also when something could not be.
func (l *Lab) Down(ctx context.Context) (vm.Removed, error) {
	if l.lock == nil {
		return vm.Removed{}, fmt.Errorf("lab %s: down needs the lab's lock (open it with Options.Lock)", l.Name)
	}
	parts, err := l.openParts(ctx, false)
	if err != nil {
		return vm.Removed{}, err
	}
	// Each part's removals in its place, each list sorted: the result
	// reads the same whichever hypervisor finishes first.
	removed := make(map[*part]vm.Removed, len(parts))
	var mu sync.Mutex
	err = eachPart(ctx, parts, func(ctx context.Context, p *part) error {
		if p.err != nil {
			return leftOn(p, l.Plan.Lab)
		}
		pr, err := vm.Down(ctx, p.conn, l.Plan.Lab, l.Plan.Libvirt.Pool)
		if len(l.Plan.Hypervisors) > 0 {
			// Also for a lab that spans one hypervisor now: the topology
			// may have had more when it was brought up. (A lab on its
			// libvirt.uri alone never had tunnels: down needs no root
			// command there.)
			devs, terr := p.host.Unstitch(ctx, l.Plan.Lab)
			for _, d := range devs {
				pr.Tunnels = append(pr.Tunnels, p.Hypervisor.Name+"/"+d)
			}
			err = errors.Join(err, terr)
		}
		if l.Plan.Isolated && p.Hypervisor.Gateway {
			err = errors.Join(err, p.host.Unisolate(ctx, l.Plan.Lab))
		}
		for _, l := range [][]string{pr.Domains, pr.Volumes, pr.Networks, pr.Tunnels, pr.Kept} {
			slices.Sort(l)
		}
		mu.Lock()
		removed[p] = pr
		mu.Unlock()
		return err
	})
	var r vm.Removed
	for _, p := range parts {
		r.Add(removed[p])
	}
	if err != nil {
		return r, fmt.Errorf("lab %s: down: %w\n(run 'labctl down' again)", l.Name, err)
	}
	return r, clearStateDir(l.dir.Path)
}

// clearStateDir removes everything in the lab's directory but its lock.
func clearStateDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.Name() == "lock" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clear state: %w", err)
	}
	return nil
}

// Status is each node's domain state, NICs, MACs and addresses.
func (l *Lab) Status(ctx context.Context) ([]vm.NodeStatus, error) {
	parts, err := l.openParts(ctx, true)
	if err != nil {
		return nil, err
	}
	byNode := map[string]vm.NodeStatus{}
	var mu sync.Mutex
	err = eachPart(ctx, parts, func(ctx context.Context, p *part) error {
		st, err := vm.Status(ctx, p.conn, p.Part)
		mu.Lock()
		defer mu.Unlock()
		for _, s := range st {
			s.Hypervisor = p.Hypervisor.Name
			byNode[s.Name] = s
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]vm.NodeStatus, 0, len(l.Plan.Nodes))
	for _, n := range l.Plan.Nodes {
		out = append(out, byNode[n.Name])
	}
	return out, nil
}

// Virtualisation is what the lab's nodes run under on its libvirtd: kvm
// or qemu (software emulation).
func (l *Lab) Virtualisation(ctx context.Context) (string, error) {
	parts, err := l.openParts(ctx, true)
	if err != nil {
		return "", err
	}
	return vm.NewManager(parts[0].conn, parts[0].Part, vm.Options{}).Acceleration(ctx)
}
