// The lock around what labs share on one libvirtd: the storage pool and
// the base images in it.

package vm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockShared takes the machine-wide lock for pool on the libvirtd at uri,
// waiting (and saying so once) while another labctl holds it, until ctx
// ends. Labs share the pool and its base volumes: without the lock two
// labs brought up at once would both define the pool, and the second
// would delete and upload again a base volume the first is still
// uploading or already booting from.
//
// The lock file lives in the system's temporary directory, open to every
// user (labs of several users share one libvirtd's pool); it is opened
// without following links and holds nothing.
func lockShared(ctx context.Context, uri, pool string, waiting func(string)) (unlock func(), err error) {
	sum := sha256.Sum256([]byte(uri + "\x00" + pool))
	path := filepath.Join(sharedLockDir, "labctl-pool-"+hex.EncodeToString(sum[:8])+".lock")
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("the lock of storage pool %s: %w", pool, err)
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !said && waiting != nil {
			waiting(fmt.Sprintf("waiting for another labctl preparing storage pool %s (lock %s)", pool, path))
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the lock of storage pool %s: %w", pool, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// sharedLockDir is where lockShared keeps its files (tests change it).
var sharedLockDir = os.TempDir()
