package fanout

import (
	"context"
	"errors"
	"fmt"
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
			return errors.New("broken " + s)
		}
		return nil
	})
	if peak > 2 {
		t.Errorf("%d ran at once, limit 2", peak)
	}
	// One line per failed item, in the items' order.
	if err == nil || err.Error() != "b: broken b\nd: broken d" {
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

// Items that fail alike are one error naming them all, in the place of
// the first, and every item's error is still there for errors.Is; an
// item that failed otherwise keeps its own line.
func TestEachMergesTheSameError(t *testing.T) {
	noImage := errors.New("image debian-12-docker is not in the cache: run 'labctl image build'")
	var seats []string
	for i := 1; i <= 30; i++ {
		seats = append(seats, fmt.Sprintf("ws-s%02d", i))
	}
	err := Each(context.Background(), seats, 4, func(s string) string { return s }, func(_ context.Context, s string) error {
		switch s {
		case "ws-s06":
			return nil
		case "ws-s12":
			return errors.New("ws-s12: node1: SSH: connection refused")
		}
		return fmt.Errorf("preflight: %w", noImage)
	})
	want := "ws-s01 to ws-s05, ws-s07 to ws-s11, ws-s13 to ws-s30: preflight: " + noImage.Error() + "\n" +
		"ws-s12: node1: SSH: connection refused"
	if err == nil || err.Error() != want {
		t.Fatalf("err =\n%v\nwant\n%s", err, want)
	}
	if !errors.Is(err, noImage) {
		t.Error("errors.Is does not find the seats' error through the merged one")
	}
	// Two alike are named both; one alone reads as it was.
	err = Each(context.Background(), []string{"node1", "node2", "node3"}, 0, func(s string) string { return s }, func(_ context.Context, s string) error {
		if s == "node3" {
			return errors.New("docker: not running")
		}
		return errors.New("no route")
	})
	if want := "node1, node2: no route\nnode3: docker: not running"; err == nil || err.Error() != want {
		t.Errorf("err =\n%v\nwant\n%s", err, want)
	}
}

// An item without a name gets no ": " before its error.
func TestEachUnnamed(t *testing.T) {
	err := Each(context.Background(), []string{"a", "b"}, 0, func(string) string { return "" }, func(_ context.Context, s string) error {
		return errors.New(s + " failed")
	})
	if want := "a failed\nb failed"; err == nil || err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"ws-s01"}, "ws-s01"},
		{[]string{"ws-s01", "ws-s02"}, "ws-s01, ws-s02"},
		{[]string{"ws-s01", "ws-s02", "ws-s03", "ws-s05"}, "ws-s01 to ws-s03, ws-s05"},
		{[]string{"node9", "node10", "node11"}, "node9, node10, node11"}, // widths differ: no range
		{[]string{"hv1", "node2", "node3"}, "hv1, node2, node3"},
		{[]string{"a", "b", "c"}, "a, b, c"},
	} {
		if got := Names(c.in); got != c.want {
			t.Errorf("Names(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
