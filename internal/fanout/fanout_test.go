package fanout

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestEachBoundsAndGathers(t *testing.T) {
	var running, peak int32
	items := []string{"a", "b", "c", "d", "e"}
	err := Each(context.Background(), items, 2, func(s string) string { return s }, func(ctx context.Context, s string) error {
		n := atomic.AddInt32(&running, 1)
		for {
			p := atomic.LoadInt32(&peak)
			if n <= p || atomic.CompareAndSwapInt32(&peak, p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		atomic.AddInt32(&running, -1)
		if s == "b" || s == "d" {
			return errors.New("broken")
		}
		return nil
	})
	if peak > 2 {
		t.Errorf("%d ran at once, limit 2", peak)
	}
	// One line per failed item, in the items' order.
	if err == nil || err.Error() != "b: broken\nd: broken" {
		t.Errorf("err = %q", err)
	}
	if err := Each(context.Background(), items, 0, func(s string) string { return s }, func(context.Context, string) error { return nil }); err != nil {
		t.Errorf("no failures: %v (no errors must be a nil error)", err)
	}
}

func TestEachCancelWins(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	err := Each(ctx, []int{1, 2, 3}, 1, func(int) string { return "x" }, func(ctx context.Context, i int) error {
		cancel()
		return errors.New("failed after cancel")
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

// An item's error that names the item already is not named twice; one
// that only starts with a similar word still is.
func TestEachNamesEachErrorOnce(t *testing.T) {
	err := Each(context.Background(), []string{"node1", "node2"}, 0, func(s string) string { return s }, func(_ context.Context, s string) error {
		if s == "node1" {
			return errors.New("node1: SSH to 10.0.0.1:22: no route")
		}
		return errors.New("node2x: not the item's own name")
	})
	msg := err.Error()
	if strings.Contains(msg, "node1: node1:") || !strings.Contains(msg, "node1: SSH to") || !strings.Contains(msg, "node2: node2x: not") {
		t.Errorf("err = %v", err)
	}
}
