package vagrant

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/testenv"
)

func spec(t *testing.T) Spec {
	dir := t.TempDir()
	return Spec{
		Dir: dir, Box: "labctl-bench-debian-12", BoxFile: filepath.Join(dir, "box.tar"), PrivateKey: filepath.Join(dir, "id_ed25519"),
		Nodes:  []Node{{Name: "node1", CPUs: 1, MemoryMiB: 1024}, {Name: "node2", CPUs: 2, MemoryMiB: 768}},
		Driver: "qemu", Pool: "labctl", Prefix: "vagrant-bench-", Network: "vagrant-bench", Subnet: "192.168.121.0/24",
		Kernel: "/var/lib/libvirt/images/labctl/base.vmlinuz", Initrd: "/var/lib/libvirt/images/labctl/base.initrd",
		Cmdline: "root=/dev/vda rw console=ttyS0,115200n8", Bundle: filepath.Join(dir, "bundle.tar"),
		Packages: []string{"docker.io", "apparmor", "iptables"}, Archives: []string{"busybox.tar", "nginx.tar"},
		DaemonJSON: "{\n  \"bip\": \"172.17.0.1/16\"\n}\n",
	}
}

// The provisioner does what labctl's offline install does, in the same
// order: daemon.json before the packages (dockerd starts once), the same
// packages from a file: repository with the same dpkg options, Docker
// answering, every image loaded, the user in the docker group. And it is
// valid shell.
func TestProvisionerScript(t *testing.T) {
	s := spec(t)
	sc := s.script()
	order := []string{"tar -xf /tmp/labctl-bundle.tar", "/etc/docker/daemon.json", `"bip": "172.17.0.1/16"`, " update\n",
		"-o Dpkg::Options::=--force-unsafe-io -o DPkg::Lock::Timeout=600 install -y --no-install-recommends docker.io apparmor iptables", "enable --now docker", "docker info",
		"docker load -q -i /var/lib/labctl/bundle/busybox.tar", "docker load -q -i /var/lib/labctl/bundle/nginx.tar", "usermod -aG docker vagrant"}
	at := 0
	for _, w := range order {
		i := strings.Index(sc[at:], w)
		if i < 0 {
			t.Fatalf("script lacks %q after byte %d:\n%s", w, at, sc)
		}
		at += i
	}
	if out, err := exec.Command("sh", "-n", "-c", sc).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s", err, out)
	}
}

// On a box of the Docker-ready image the provisioner installs and loads
// nothing, writes nothing and uploads no bundle: it waits for Docker.
func TestDockerReadyProvisionerOnlyWaits(t *testing.T) {
	s := spec(t)
	s.DockerReady = true
	sc := s.script()
	for _, not := range []string{"tar ", "apt-get", "daemon.json", "docker load", "usermod", "systemctl"} {
		if strings.Contains(sc, not) {
			t.Errorf("the Docker-ready provisioner runs %q:\n%s", not, sc)
		}
	}
	if !strings.Contains(sc, "docker info") {
		t.Errorf("the Docker-ready provisioner does not wait for Docker:\n%s", sc)
	}
	if err := s.Write(); err != nil {
		t.Fatal(err)
	}
	vf, _ := os.ReadFile(filepath.Join(s.Dir, "Vagrantfile"))
	if strings.Contains(string(vf), "labctl-bundle.tar") {
		t.Errorf("the Docker-ready Vagrantfile uploads the bundle:\n%s", vf)
	}
}

// Strings reach the Vagrantfile as Ruby literals that Ruby reads back
// exactly: quotes, backslashes, newlines, and #{...}, which Ruby would
// otherwise interpolate.
func TestRubyQuote(t *testing.T) {
	testenv.Tool(t, "ruby")
	for _, s := range []string{`plain`, "two\nlines", `say "hi" \ there`, `#{system("false")} and #@x`, "ünïcode\ttab", "$(seq 60); $HOME"} {
		out, err := exec.Command("ruby", "-e", "print("+rubyQuote(s)+")").CombinedOutput()
		if err != nil || string(out) != s {
			t.Errorf("%q: ruby printed %q (%v)", s, out, err)
		}
	}
}

// vagrant itself (with vagrant-libvirt) accepts the written Vagrantfile,
// and the machines it defines are the spec's nodes.
func TestVagrantfileValidates(t *testing.T) {
	testenv.Integration(t, "vagrant")
	s := spec(t)
	for _, f := range []string{s.PrivateKey, s.Bundle, s.BoxFile} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Write(); err != nil {
		t.Fatal(err)
	}
	out, err := s.output(context.Background(), false, "validate")
	if err != nil || !strings.Contains(string(out), "validated successfully") {
		t.Fatalf("vagrant validate: %v\n%s", err, out)
	}
	out, err = s.output(context.Background(), false, "status")
	if err != nil {
		t.Fatalf("vagrant status: %v\n%s", err, out)
	}
	for _, n := range s.Nodes {
		if !strings.Contains(string(out), n.Name+"  ") || !strings.Contains(string(out), "not created (libvirt)") {
			t.Errorf("vagrant status does not list %s as a libvirt machine not created:\n%s", n.Name, out)
		}
	}
	vf, _ := os.ReadFile(filepath.Join(s.Dir, "Vagrantfile"))
	for _, w := range []string{`lv.memory = 768`, `lv.cpus = 2`, `lv.kernel = "/var/lib/libvirt/images/labctl/base.vmlinuz"`, `lv.driver = "qemu"`, `lv.graphics_type = "none"`} {
		if !strings.Contains(string(vf), w) {
			t.Errorf("Vagrantfile lacks %s", w)
		}
	}
}

// Vagrant's progress meters are dropped, its lines kept whole.
func TestLinesDropsProgress(t *testing.T) {
	var b strings.Builder
	l := &lines{w: &b}
	for _, chunk := range []string{
		"==> node1: Uploading base box image\n\x1b[KProgress: 0%\r\x1b[KProgress: 1",
		"7%\r\x1b[K==> node1: Creating image",
		" (snapshot of base box volume).\n",
		"(Reading database ... 5%\r(Reading database ... 100%\r(Reading database ... 13064 files installed.)\n",
		"    node1: Loaded image: busybox:latest\r\n",
	} {
		l.Write([]byte(chunk))
	}
	want := "==> node1: Uploading base box image\n==> node1: Creating image (snapshot of base box volume).\n(Reading database ... 13064 files installed.)\n    node1: Loaded image: busybox:latest\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
