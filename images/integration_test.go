package images

import (
	"context"
	"os"
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
