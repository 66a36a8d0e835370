package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-multierror"
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
	if err := l.connect(ctx); err != nil {
		return vm.Removed{}, err
	}
	r, err := vm.Down(ctx, l.conn, l.Plan.Lab, l.Plan.Libvirt.Pool)
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
	var errs *multierror.Error
	for _, e := range entries {
		if e.Name() == "lock" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	if err := errs.ErrorOrNil(); err != nil {
		return fmt.Errorf("clear state: %w", err)
	}
	return nil
}

// Status is each node's domain state, NICs, MACs and addresses.
func (l *Lab) Status(ctx context.Context) ([]vm.NodeStatus, error) {
	if err := l.connect(ctx); err != nil {
		return nil, err
	}
	return vm.Status(ctx, l.conn, l.Plan)
}

// Virtualisation is what the lab's nodes run under on its libvirtd: kvm
// or qemu (software emulation).
func (l *Lab) Virtualisation(ctx context.Context) (string, error) {
	if err := l.connect(ctx); err != nil {
		return "", err
	}
	return vm.NewManager(l.conn, l.Plan, vm.Options{}).Acceleration(ctx)
}
