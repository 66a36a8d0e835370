package vagrant

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/internal/testlab"
	"github.com/labctl/labctl/keys"
)

func tarList(t *testing.T, file string) []string {
	t.Helper()
	out, err := exec.Command("tar", "-tf", file).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -tf: %v\n%s", err, out)
	}
	names := strings.Fields(string(out))
	sort.Strings(names)
	return names
}

// The provisioner's one upload holds the bundle's files (debs and the apt
// index) and one archive per container image, under the names the script
// loads.
func TestBundleTar(t *testing.T) {
	c, err := images.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	add := func(name, kind, role string, files map[string]string, meta map[string]string) {
		var fs []images.File
		for rel, content := range files {
			src := filepath.Join(t.TempDir(), "f")
			os.WriteFile(src, []byte(content), 0o644)
			f, err := c.AddFile(src, rel, role)
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		}
		if err := c.Put(images.Entry{Name: name, Kind: kind, Files: fs, Meta: meta}); err != nil {
			t.Fatal(err)
		}
	}
	add("docker.io-debian-12", images.KindDockerBundle, "deb", map[string]string{"bundles/b/docker.io_1.deb": "d1", "bundles/b/runc_1.deb": "d2", "bundles/b/Packages": "idx"}, map[string]string{"packages": "docker.io apparmor iptables"})
	add("busybox", images.KindContainerImage, "archive", map[string]string{"containers/busybox.tar": "bb"}, nil)
	out := filepath.Join(t.TempDir(), "bundle.tar")
	archives, packages, err := BundleTar(context.Background(), c, "docker.io-debian-12", []string{"busybox"}, out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(archives, ",") != "busybox.tar" || strings.Join(packages, " ") != "docker.io apparmor iptables" {
		t.Errorf("archives %v, packages %v", archives, packages)
	}
	if got := strings.Join(tarList(t, out), " "); got != "Packages busybox.tar docker.io_1.deb runc_1.deb" {
		t.Errorf("tar holds %s", got)
	}
	// The members are the files, not links to them.
	if b, err := exec.Command("tar", "-xOf", out, "busybox.tar").Output(); err != nil || string(b) != "bb" {
		t.Errorf("busybox.tar in the tar: %q, %v", b, err)
	}
	if _, _, err := BundleTar(context.Background(), c, "docker.io-debian-12", []string{"nginx"}, out, io.Discard); err == nil || !strings.Contains(err.Error(), "labctl image build nginx") {
		t.Errorf("a missing image: %v", err)
	}
}

// A box made from the real image: the tar Vagrant expects, a qcow2 disk of
// the size the metadata says, and inside it what a box needs (the vagrant
// user with the bench's key and passwordless sudo, DHCP on every NIC, host
// keys, no first-boot seed service, update-initramfs diverted), while the
// cached image itself is unchanged.
func TestBuildBoxForReal(t *testing.T) {
	testenv.Integration(t, "qemu-img", "mount", "umount", "chroot", "tar")
	ctx := context.Background()
	c := testlab.Images(t, ctx, "debian-12")
	key, err := keys.Generate("bench")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "box.tar")
	if err := BuildBox(ctx, c, "debian-12", key.AuthorizedKey(), out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tarList(t, out), " "); got != "box.img metadata.json" {
		t.Fatalf("box holds %s", got)
	}
	dir := t.TempDir()
	if b, err := exec.Command("tar", "-xf", out, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	var meta struct {
		Provider, Format string
		VirtualSize      int64 `json:"virtual_size"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "metadata.json"))
	if err := json.Unmarshal(b, &meta); err != nil || meta.Provider != "libvirt" || meta.Format != "qcow2" || meta.VirtualSize < 1 {
		t.Fatalf("metadata.json %s: %v", b, err)
	}
	b, err = exec.Command("qemu-img", "info", "--output=json", filepath.Join(dir, "box.img")).Output()
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Format      string
		VirtualSize int64 `json:"virtual-size"`
	}
	json.Unmarshal(b, &info)
	if info.Format != "qcow2" || info.VirtualSize > meta.VirtualSize<<30 || info.VirtualSize <= (meta.VirtualSize-1)<<30 {
		t.Errorf("box.img is %s of %d bytes; metadata says %d GiB", info.Format, info.VirtualSize, meta.VirtualSize)
	}

	raw, mnt := filepath.Join(dir, "root.raw"), filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if b, err := exec.Command("qemu-img", "convert", "-f", "qcow2", "-O", "raw", filepath.Join(dir, "box.img"), raw).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if b, err := exec.Command("mount", "-o", "loop,ro", raw, mnt).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	defer exec.Command("umount", mnt).Run()
	read := func(p string) string { b, _ := os.ReadFile(filepath.Join(mnt, p)); return string(b) }
	if got := strings.TrimSpace(read("home/vagrant/.ssh/authorized_keys")); got != key.AuthorizedKey() {
		t.Errorf("authorized_keys %q, want the bench's key", got)
	}
	for file, want := range map[string]string{
		"etc/sudoers.d/vagrant":                  "vagrant ALL=(ALL) NOPASSWD:ALL",
		"etc/systemd/network/50-vagrant.network": "DHCP=ipv4",
		"etc/passwd":                             "vagrant:x:",
		"etc/ssh/ssh_host_ed25519_key.pub":       "ssh-ed25519 ",
	} {
		if !strings.Contains(read(file), want) {
			t.Errorf("%s lacks %q", file, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(mnt, "etc/systemd/system/sysinit.target.wants/labctl-seed.service")); err == nil {
		t.Error("the first-boot seed service is still enabled in the box")
	}
	if l, err := os.Readlink(filepath.Join(mnt, "usr/sbin/update-initramfs")); err != nil || l != "/bin/true" {
		t.Errorf("update-initramfs: %q, %v", l, err)
	}
	e, err := c.Get("debian-12")
	if err != nil {
		t.Fatalf("the cached image is no longer intact: %v", err)
	}
	if err := c.Verify(e); err != nil {
		t.Errorf("the cached image changed: %v", err)
	}
}
