package vagrant

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/internal/testenv"
)

func TestCheckBoxName(t *testing.T) {
	for _, ok := range []string{"labctl/debian-12-docker", "mybox", "a.b_c-1/x"} {
		if err := CheckBoxName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/abs", "a/b/c", "../x", "a/..", "a b", "x\ny", "-flag", "a/", strings.Repeat("x", 101), "box;rm"} {
		if err := CheckBoxName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := DefaultBootDir("labctl/debian-12-docker"); got != "/var/lib/labctl/vagrant/labctl_debian-12-docker" {
		t.Errorf("DefaultBootDir: %s", got)
	}
}

// The box Vagrantfile sets the kernel, initrd and command line to exactly
// the values given, whatever they hold: Ruby (with a stand-in for
// Vagrant's configuration objects) reads them back.
func TestBoxVagrantfileValues(t *testing.T) {
	testenv.Tool(t, "ruby")
	stub := `class LV; attr_accessor :kernel, :initrd, :cmd_line, :disk_bus; end
class VM; def provider(name); $lv = LV.new; yield $lv; end; end
class Cfg; def vm; @vm ||= VM.new; end; end
module Vagrant; def self.configure(v); yield Cfg.new; end; end
load ARGV[0]
print [LABCTL_IMAGE, $lv.kernel, $lv.initrd, $lv.cmd_line, $lv.disk_bus].join("\0")`
	for _, c := range []struct{ image, dir, cmdline string }{
		{"debian-12-docker", "/var/lib/labctl/vagrant/labctl_debian-12-docker", images.KernelCmdline},
		{"x\n#{system('false')}", "/tmp/a \"b\"\n`touch /tmp/pwned`#{1}", "root=/dev/vda \\ #@x"},
	} {
		vf, err := boxVagrantfileFor(c.image, c.dir, c.cmdline)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "Vagrantfile")
		os.WriteFile(f, vf, 0o644)
		out, err := exec.Command("ruby", "-e", stub, f).CombinedOutput()
		want := strings.Join([]string{c.image, filepath.Join(c.dir, "vmlinuz"), filepath.Join(c.dir, "initrd.img"), c.cmdline, "virtio"}, "\x00")
		if err != nil || string(out) != want {
			t.Errorf("ruby read %q (%v), want %q\n%s", out, err, want, vf)
		}
	}
}

// What is wrong is said before anything is made: no image, an image that
// is not booted by its kernel, a key that is not one, a relative boot
// directory; the boot directory is not created.
func TestUserBoxRefusesBeforeMaking(t *testing.T) {
	c, err := images.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "disk")
	os.WriteFile(src, []byte("disk"), 0o644)
	f, err := c.AddFile(src, "vm/pulled/disk.qcow2", "disk")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(images.Entry{Name: "pulled", Kind: images.KindVMImage, Files: []images.File{f}, Meta: map[string]string{"boot": "disk"}}); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "key.pub")
	os.WriteFile(key, []byte("not a key\n"), 0o644)
	boot := filepath.Join(t.TempDir(), "boot")
	for _, tc := range []struct {
		b    UserBox
		want string
	}{
		{UserBox{Image: "debian-12-docker", Name: "labctl/debian-12-docker", BootDir: boot}, "labctl image build debian-12-docker"},
		{UserBox{Image: "pulled", Name: "x/pulled", BootDir: boot}, "does not boot by direct kernel boot"},
		{UserBox{Image: "pulled", Name: "x/../y", BootDir: boot}, "is not a box name"},
	} {
		if err := tc.b.Make(context.Background(), c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.b, err, tc.want)
		}
	}
	var fs []images.File
	for role, rel := range map[string]string{"disk": "vm/own/disk.qcow2", "kernel": "vm/own/vmlinuz", "initrd": "vm/own/initrd"} {
		src := filepath.Join(t.TempDir(), role)
		os.WriteFile(src, []byte(role), 0o644)
		f, err := c.AddFile(src, rel, role)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	if err := c.Put(images.Entry{Name: "own", Kind: images.KindVMImage, Files: fs, Meta: map[string]string{"boot": "kernel", "cmdline": "root=/dev/vda"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		b    UserBox
		want string
	}{
		{UserBox{Image: "own", Name: "x/own", BootDir: boot, Key: key}, "is not an OpenSSH public key"},
		{UserBox{Image: "own", Name: "x/own", BootDir: boot, Key: key + ".missing"}, "no such file"},
		{UserBox{Image: "own", Name: "x/own", BootDir: "relative/boot", Key: key}, "give an absolute path"},
	} {
		if err := tc.b.Make(context.Background(), c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.b, err, tc.want)
		}
	}
	if _, err := os.Stat(boot); !os.IsNotExist(err) {
		t.Errorf("the boot directory was made although the box was refused: %v", err)
	}
}

// The repository's Vagrantfile uploads only the container images the box
// lacks: none of a box labctl made of an image holding both (its
// labctl-images, wherever under VAGRANT_HOME Vagrant unpacked it), the one
// missing from a box holding one, both to any other box; never an image
// labctl's cache does not have. Ruby runs the Vagrantfile with a stand-in
// for Vagrant that records the file provisioners.
func TestRepositoryVagrantfileUploadsWhatTheBoxLacks(t *testing.T) {
	testenv.Tool(t, "ruby")
	stub := `class Any
  def method_missing(name, *args, **kw, &blk)
    $uploads << File.basename(kw[:source]) if name == :provision && kw[:type] == "file"
    blk.call(Any.new) if blk
    Any.new
  end
  def respond_to_missing?(*) = true
end
module Vagrant; def self.configure(v) = yield(Any.new); end
$uploads = []
load ARGV[0]
print $uploads.sort.join(" ")`
	vf, err := filepath.Abs(filepath.Join("..", "Vagrantfile"))
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	os.MkdirAll(filepath.Join(cache, "containers"), 0o755)
	os.WriteFile(filepath.Join(cache, "containers", "busybox.tar"), []byte("tar"), 0o644)
	os.WriteFile(filepath.Join(cache, "containers", "nginx.tar"), []byte("tar"), 0o644)
	home := t.TempDir()
	box := func(name, version, list string) {
		d := filepath.Join(home, "boxes", strings.ReplaceAll(name, "/", "-VAGRANTSLASH-"), version)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, PreloadedFile), []byte(list), 0o644)
	}
	box("labctl/debian-12-docker", "0/amd64/libvirt", string(preloadedList("busybox:latest nginx:latest")))
	box("labctl/half", "0/libvirt", string(preloadedList("nginx:latest")))
	box("labctl/none", "0/libvirt", string(preloadedList("")))
	for _, c := range []struct {
		box, cache, want string
	}{
		{"labctl/debian-12-docker", cache, ""},
		{"labctl/half", cache, "busybox.tar"},
		{"labctl/none", cache, "busybox.tar nginx.tar"},
		{"debian/bookworm64", cache, "busybox.tar nginx.tar"},
		{"debian/bookworm64", t.TempDir(), ""},
		{"x/[*]{a,b}", cache, "busybox.tar nginx.tar"},
	} {
		cmd := exec.Command("ruby", "-e", stub, vf)
		cmd.Env = append(os.Environ(), "VAGRANT_HOME="+home, "LABCTL_VAGRANT_BOX="+c.box, "LABCTL_CACHE_DIR="+c.cache)
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != c.want {
			t.Errorf("box %s: uploads %q (%v), want %q", c.box, out, err, c.want)
		}
	}
}
