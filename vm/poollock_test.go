package vm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two labs preparing the same pool at once take turns; the one that waits
// says so, and gives up when its context ends. Another pool, or the same
// pool name on another libvirtd, does not wait.
func TestSharedPoolLockTakesTurns(t *testing.T) {
	sharedLockDir = t.TempDir()
	defer func() { sharedLockDir = os.TempDir() }()
	ctx := context.Background()
	unlock, err := lockShared(ctx, "qemu:///system", "labctl", nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := lockShared(ctx, "qemu:///system", "other", nil)
	if err != nil {
		t.Fatal(err)
	}
	other()
	remote, err := lockShared(ctx, "qemu+ssh://hv2/system", "labctl", nil)
	if err != nil {
		t.Fatal(err)
	}
	remote()

	got := make(chan time.Time, 1)
	var said []string
	go func() {
		u, err := lockShared(ctx, "qemu:///system", "labctl", func(m string) { said = append(said, m) })
		if err != nil {
			t.Error(err)
		}
		got <- time.Now()
		u()
	}()
	time.Sleep(500 * time.Millisecond)
	released := time.Now()
	unlock()
	if at := <-got; at.Before(released) {
		t.Errorf("the second took the lock while the first held it")
	}
	if len(said) != 1 || !strings.Contains(said[0], "waiting for another labctl preparing storage pool labctl") {
		t.Errorf("while waiting it said %q", said)
	}

	unlock, _ = lockShared(ctx, "qemu:///system", "labctl", nil)
	defer unlock()
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := lockShared(cctx, "qemu:///system", "labctl", nil); err == nil || !strings.Contains(err.Error(), "waiting for the lock of storage pool labctl") {
		t.Errorf("cancelled wait: %v", err)
	}
	// A link where the lock file belongs is refused, not followed.
	m, _ := filepath.Glob(filepath.Join(sharedLockDir, "labctl-pool-*.lock"))
	target := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(target, []byte("keep"), 0o644)
	for _, p := range m {
		os.Remove(p)
		os.Symlink(target, p)
	}
	if _, err := lockShared(ctx, "qemu:///system", "labctl", nil); err == nil {
		t.Error("a symlinked lock file was followed")
	}
}
