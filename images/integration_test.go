package images

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
)

// TestBuildEverythingForReal builds the VM base image, the Docker bundle
// and both container images from Debian's archive, then builds again and
// expects cache hits.
func TestBuildEverythingForReal(t *testing.T) {
	testenv.Integration(t, "mmdebstrap", "mkfs.ext4", "qemu-img")
	c, err := OpenCache(testenv.CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	names := []string{"debian-12", "docker.io-debian-12", "busybox", "nginx"}
	for _, n := range names {
		r, _ := LookupRecipe(n)
		start := time.Now()
		e, built, err := c.Build(ctx, r, BuildOptions{Log: os.Stderr, Mirror: os.Getenv("LABCTL_DEBIAN_MIRROR")})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("TIMING image build %s: %.1fs (built=%v, %d files, %d bytes)", n, time.Since(start).Seconds(), built, len(e.Files), e.Size())
		switch n {
		case "debian-12":
			for _, role := range []string{"disk", "kernel", "initrd", "packages"} {
				if _, ok := e.File(role); !ok {
					t.Errorf("debian-12 has no %s file", role)
				}
			}
		case "docker.io-debian-12":
			if _, ok := e.File("index"); !ok || len(e.Files) < 10 {
				t.Errorf("bundle: %d files, index present: %v", len(e.Files), ok)
			}
		case "busybox", "nginx":
			if e.Meta["tag"] != n+":latest" {
				t.Errorf("%s tagged %q", n, e.Meta["tag"])
			}
		}
	}
	for _, n := range names {
		r, _ := LookupRecipe(n)
		start := time.Now()
		_, built, err := c.Build(ctx, r, BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if built {
			t.Errorf("%s: second build was not a cache hit", n)
		}
		t.Logf("TIMING image build %s again (cache hit): %.2fs", n, time.Since(start).Seconds())
	}
}

// TestCacheFullDuringBuildForReal fills the image cache's filesystem (a
// tmpfs of 1 MiB) during a real build: the build fails with an error
// naming the image and the cause, leaves no entry and no file of it in
// the cache, and builds once there is room.
func TestCacheFullDuringBuildForReal(t *testing.T) {
	testenv.Integration(t, "mmdebstrap", "mount", "umount")
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "labctl-test-full", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r, _ := LookupRecipe("busybox")
	opts := BuildOptions{Log: os.Stderr, Mirror: os.Getenv("LABCTL_DEBIAN_MIRROR")}
	_, _, err = c.Build(ctx, r, opts)
	if err == nil || !strings.Contains(err.Error(), "busybox: build failed: the filesystem of the image cache "+dir+" is full") {
		t.Fatalf("build into a full cache: %v", err)
	}
	t.Logf("build into a full cache: %v", err)
	if _, lerr := c.Lookup("busybox"); !errors.Is(lerr, ErrNotCached) {
		t.Errorf("a failed build left an entry: %v", lerr)
	}
	// Nothing of the build is left: only the (empty) tmp directory and the
	// build log.
	var left []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.HasPrefix(p, filepath.Join(dir, "logs")+"/") {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("left in the cache after the failed build: %v", left)
	}
	// Room again: the next build succeeds.
	if out, err := exec.Command("mount", "-o", "remount,size=256m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	e, built, err := c.Build(ctx, r, opts)
	if err != nil || !built || c.Verify(e) != nil {
		t.Fatalf("build with room again: built=%v err=%v", built, err)
	}
}
