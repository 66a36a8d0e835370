package images

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	names := []string{"debian-12", "debian-12-docker", "docker.io-debian-12", "busybox", "nginx"}
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
			checkInitrd(t, c, e)
		case "debian-12-docker":
			checkInitrd(t, c, e)
			if e.Meta["docker"] != "installed" || e.Meta["images"] != "busybox:latest nginx:latest" {
				t.Errorf("debian-12-docker: meta %v, want Docker installed with busybox:latest nginx:latest preloaded", e.Meta)
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

// TestPreloadForReal runs the Docker-ready image's preload on a copy of
// that image's root file system whose Docker store was emptied: the
// labs' images are loaded with the IDs of their cached archives, the first
// start's identity (key.json) and networks are gone, and nothing of it is
// left on the build host: no mount, no process, no network interface.
func TestPreloadForReal(t *testing.T) {
	testenv.Integration(t, "mmdebstrap", "mkfs.ext4", "qemu-img", "unshare", "chroot", "mount", "umount")
	c, err := OpenCache(testenv.CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	recipe := debianBase(true)
	img, _, err := c.Build(ctx, recipe, BuildOptions{Log: os.Stderr, Mirror: os.Getenv("LABCTL_DEBIAN_MIRROR")})
	if err != nil {
		t.Fatal(err)
	}
	disk, _ := img.File("disk")
	work := t.TempDir()
	raw, root := filepath.Join(work, "root.raw"), filepath.Join(work, "root")
	if out, err := exec.CommandContext(ctx, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", c.Abs(disk.Path), raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	os.Mkdir(root, 0o755)
	if out, err := exec.CommandContext(ctx, "mount", "-o", "loop", raw, root).CombinedOutput(); err != nil {
		t.Fatalf("mount the image's root file system: %v: %s", err, out)
	}
	defer exec.Command("umount", root).Run()
	if err := os.RemoveAll(filepath.Join(root, "var/lib/docker")); err != nil {
		t.Fatal(err)
	}
	links := func() string {
		out, _ := exec.Command("ip", "-o", "link", "show").Output()
		var names []string
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 1 {
				names = append(names, f[1])
			}
		}
		return strings.Join(names, " ")
	}
	mounts := func() string {
		data, _ := os.ReadFile("/proc/self/mountinfo")
		return string(data)
	}
	linksBefore, mountsBefore := links(), mounts()

	deps := map[string]Entry{}
	for _, r := range recipe.needs {
		if deps[r.Name], err = c.Get(r.Name); err != nil {
			t.Fatal(err)
		}
	}
	var log testenv.Buffer
	b := &builder{cache: c, recipe: recipe, opts: BuildOptions{Log: os.Stderr, Runner: ExecRunner{}}, dir: work, log: &log, deps: deps}
	start := time.Now()
	tags, err := b.preload(ctx, root)
	if err != nil {
		t.Fatalf("preload: %v\n%s", err, log.String())
	}
	t.Logf("TIMING preload of %s: %.1fs", tags, time.Since(start).Seconds())
	if tags != "busybox:latest nginx:latest" {
		t.Errorf("preload says it loaded %q", tags)
	}
	repos, err := os.ReadFile(filepath.Join(root, "var/lib/docker/image/overlay2/repositories.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range deps {
		if id := e.Meta["image_id"]; !strings.Contains(string(repos), `"`+e.Meta["tag"]+`":"`+id+`"`) {
			t.Errorf("repositories.json lacks %s as %s:\n%s", e.Meta["tag"], id, repos)
		}
	}
	for _, gone := range []string{"etc/docker/key.json", "var/lib/docker/network", "var/lib/docker/containerd"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
			t.Errorf("/%s is left in the image: every node's dockerd must make its own", gone)
		}
	}
	if after := links(); after != linksBefore {
		t.Errorf("network interfaces changed on the build host: %q, before %q", after, linksBefore)
	}
	if after := mounts(); after != mountsBefore {
		t.Errorf("mounts changed on the build host:\n%s\nbefore:\n%s", after, mountsBefore)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/root")
	for _, p := range procs {
		if dst, err := os.Readlink(p); err == nil && strings.HasPrefix(dst, root) {
			cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
			t.Errorf("a process of the preload still runs: %s (%s)", p, strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
}

// checkInitrd asserts the image's initrd holds what finds a virtio disk
// and little else (MODULES=list in the image), and no fsck (the root has
// pass 0 in fstab).
func checkInitrd(t *testing.T, c *Cache, e Entry) {
	t.Helper()
	f, ok := e.File("initrd")
	if !ok {
		t.Errorf("%s has no initrd", e.Name)
		return
	}
	names, err := initrdFiles(c.Abs(f.Path))
	if err != nil {
		t.Errorf("%s: initrd: %v", e.Name, err)
		return
	}
	var modules []string
	has := map[string]bool{}
	for _, n := range names {
		has[filepath.Base(n)] = true
		if strings.HasSuffix(n, ".ko") {
			modules = append(modules, filepath.Base(n))
		}
	}
	t.Logf("%s: initrd %d bytes, %d files, modules %v", e.Name, f.Size, len(names), modules)
	if !has["virtio_blk.ko"] || !has["virtio_pci.ko"] {
		t.Errorf("%s: initrd lacks virtio_blk or virtio_pci (modules %v)", e.Name, modules)
	}
	if len(modules) > 12 {
		t.Errorf("%s: initrd has %d modules, want only what a virtio disk needs: %v", e.Name, len(modules), modules)
	}
	if has["e2fsck"] || has["fsck"] {
		t.Errorf("%s: initrd has fsck, but the root's fstab pass is 0", e.Name)
	}
}

// initrdFiles lists a gzip-compressed newc cpio archive.
func initrdFiles(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var names []string
	for i := 0; i+110 <= len(data); {
		h := data[i : i+110]
		if string(h[:6]) != "070701" {
			return nil, errors.New("not a newc cpio archive at offset " + strconv.Itoa(i))
		}
		size, err1 := strconv.ParseUint(string(h[54:62]), 16, 32)
		nameSize, err2 := strconv.ParseUint(string(h[94:102]), 16, 32)
		if err1 != nil || err2 != nil || nameSize == 0 || i+110+int(nameSize) > len(data) {
			return nil, errors.New("bad cpio header at offset " + strconv.Itoa(i))
		}
		name := string(data[i+110 : i+110+int(nameSize)-1])
		if name == "TRAILER!!!" {
			return names, nil
		}
		names = append(names, name)
		i = (i + 110 + int(nameSize) + 3) &^ 3
		i = (i + int(size) + 3) &^ 3
	}
	return nil, errors.New("cpio archive without a trailer")
}
