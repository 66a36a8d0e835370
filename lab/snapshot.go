package lab

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/labctl/labctl/vm"
)

// Snapshot takes the lab's ready snapshot (every node, memory included)
// unless it has it; Reset goes back to it.
func (l *Lab) Snapshot(ctx context.Context) (int, error) {
	parts, err := l.openParts(ctx, true)
	if err != nil {
		return 0, err
	}
	var mu sync.Mutex
	taken := 0
	err = eachPart(ctx, parts, func(ctx context.Context, p *part) error {
		n, err := vm.Snapshot(ctx, p.conn, p.Part, vm.ReadySnapshot)
		mu.Lock()
		taken += n
		mu.Unlock()
		return err
	})
	return taken, err
}

// SnapshotStage takes a workshop stage's snapshot of every node (memory
// included), replacing the stage's earlier one: ResetTo(ctx, stage) goes
// back to it.
func (l *Lab) SnapshotStage(ctx context.Context, stage string) error {
	if err := vm.ValidStage(stage); err != nil {
		return err
	}
	if l.lock == nil {
		return fmt.Errorf("lab %s: a snapshot needs the lab's lock (open it with Options.Lock)", l.Name)
	}
	parts, err := l.openParts(ctx, true)
	if err != nil {
		return err
	}
	return eachPart(ctx, parts, func(ctx context.Context, p *part) error {
		_, err := vm.Retake(ctx, p.conn, p.Part, vm.StageSnapshot(stage))
		return err
	})
}

// Reset puts every node back to the ready snapshot, running, and sets
// each node's clock to now (a restored VM wakes with the time of its
// snapshot).
func (l *Lab) Reset(ctx context.Context) error { return l.ResetTo(ctx, "") }

// ResetTo is Reset to a workshop stage's snapshot (SnapshotStage), or to
// the ready snapshot when stage is "".
func (l *Lab) ResetTo(ctx context.Context, stage string) error {
	snap := vm.ReadySnapshot
	if stage != "" {
		if err := vm.ValidStage(stage); err != nil {
			return err
		}
		snap = vm.StageSnapshot(stage)
	}
	if l.lock == nil {
		return fmt.Errorf("lab %s: reset needs the lab's lock (open it with Options.Lock)", l.Name)
	}
	parts, err := l.openParts(ctx, true)
	if err != nil {
		return err
	}
	if err := eachPart(ctx, parts, func(ctx context.Context, p *part) error {
		return vm.Revert(ctx, p.conn, p.Part, snap)
	}); err != nil {
		return err
	}
	var errs []error
	for _, n := range l.Plan.Nodes {
		nctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		c, err := l.Node(nctx, n.Name)
		if err == nil {
			_, err = c.Run(nctx, fmt.Sprintf("sudo date -u -s @%d >/dev/null", time.Now().Unix()))
			c.Close()
		}
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: set the clock after the reset: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}
