package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testlab"
	"github.com/labctl/labctl/vagrant"
)

// TestVagrantfileForReal is what a Vagrant user does with the
// repository's Vagrantfile, offline: labctl makes a box of its
// Docker-ready image, `vagrant up node1` brings the node up with the
// lab's networks (node1 is what the bridge lab needs; the other two are
// the same machine with other addresses, and each costs minutes under
// emulation), `labctl hosts import --vagrant node1` writes the inventory,
// the bridge lab passes on that host, and `vagrant destroy` leaves nothing
// of the machine behind. The lab's "outside" is the harness's upstream
// host, as in the other tests.
func TestVagrantfileForReal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	h := testlab.Start(t, ctx, testlab.Setup{Lab: "itest-vagrant", Topology: "outside:\n  address: " + testlab.UpstreamAddr + "\n",
		Upstream: true, Tools: []string{"vagrant", "ssh"}, Images: []string{"debian-12-docker", "busybox", "nginx"}})
	env, c, work := h.Env, h.CLI, h.Work
	src, err := os.ReadFile(filepath.Join("..", "Vagrantfile"))
	if err != nil {
		t.Fatal(err)
	}
	proj, home := filepath.Join(work, "vagrant"), filepath.Join(work, "vagrant-home")
	for _, d := range []string{proj, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(proj, "Vagrantfile"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	const box = "labctl-itest/debian-12-docker"
	vagrantEnv := []string{"VAGRANT_HOME=" + home, "VAGRANT_CHECKPOINT_DISABLE=1", "VAGRANT_DEFAULT_PROVIDER=libvirt",
		"LABCTL_VAGRANT_BOX=" + box, "LABCTL_CACHE_DIR=" + c.Cache}
	c.ExtraEnv = append(c.ExtraEnv, vagrantEnv...)
	// vagrant in the harness's namespace, in the project, with its
	// environment.
	vagrantCmd := func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := env.Command(ctx, "env", append(append(append([]string(nil), vagrantEnv...), "vagrant"), args...)...)
		cmd.Dir = proj
		return cmd
	}
	run := func(limit time.Duration, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		out, err := vagrantCmd(ctx, args...).CombinedOutput()
		t.Logf("vagrant %s (err=%v):\n%s", strings.Join(args, " "), err, testlab.LastLines(string(out), 30))
		return string(out), err
	}
	// Its own context: the clean-up runs after the test's is cancelled.
	virsh := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, _ := env.Command(ctx, "virsh", append([]string{"-c", "qemu:///system", "-q"}, args...)...).Output()
		return strings.TrimSpace(string(out))
	}
	hadDefaultPool := virsh("pool-info", "default") != ""

	// Everything Vagrant made goes, whatever happened: the machines, their
	// networks, the box, its volume in vagrant-libvirt's pool (and the
	// pool, when this test's Vagrant made it), the box's kernel.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if out, err := vagrantCmd(ctx, "destroy", "-f").CombinedOutput(); err != nil {
			t.Errorf("vagrant destroy: %v\n%s", err, out)
		}
		var left []string
		for _, d := range strings.Fields(virsh("list", "--all", "--name")) {
			if strings.HasPrefix(d, "vagrant_node") {
				left = append(left, "domain "+d)
			}
		}
		for _, n := range strings.Fields(virsh("net-list", "--all", "--name")) {
			if strings.HasPrefix(n, "labctl-vagrant-") || n == "vagrant-libvirt" {
				// vagrant-libvirt keeps its management network while any
				// domain may use it; none of this test's may.
				if n != "vagrant-libvirt" {
					left = append(left, "network "+n)
				}
				virsh("net-destroy", n)
				virsh("net-undefine", n)
			}
		}
		if len(left) > 0 {
			t.Errorf("vagrant destroy left %s", strings.Join(left, ", "))
		}
		volPrefix := strings.ReplaceAll(box, "/", "-VAGRANTSLASH-")
		vols := func() (names []string) {
			for _, l := range strings.Split(virsh("vol-list", "default"), "\n") {
				if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], volPrefix) {
					names = append(names, f[0])
				}
			}
			return names
		}
		for _, v := range vols() {
			virsh("vol-delete", "--pool", "default", v)
		}
		if left := vols(); len(left) > 0 {
			t.Errorf("the box's volumes are still in the default pool: %v", left)
		}
		if !hadDefaultPool {
			virsh("pool-destroy", "default")
			virsh("pool-undefine", "default")
			if virsh("pool-info", "default") != "" {
				t.Error("the default pool vagrant-libvirt made is still defined")
			}
		}
		os.RemoveAll(vagrant.DefaultBootDir(box))
		os.Remove(vagrant.BootRoot) // when empty
	})

	start := time.Now()
	if _, stderr, err := c.Run(ctx, "image", "vagrant-box", "--name", box); err != nil || !strings.Contains(stderr, "added to Vagrant as "+box) {
		t.Fatalf("image vagrant-box: %v\n%s", err, stderr)
	}
	t.Logf("TIMING image vagrant-box: %s", time.Since(start).Round(time.Second))
	if out, err := run(time.Minute, "box", "list"); err != nil || !strings.Contains(out, box+" (libvirt") {
		t.Fatalf("the box is not in Vagrant's list (err=%v):\n%s", err, out)
	}

	start = time.Now()
	upOut, err := run(20*time.Minute, "up", "node1", "--provider=libvirt")
	if err != nil {
		t.Fatalf("vagrant up of the repository's Vagrantfile: %v", err)
	}
	// The box's Docker store has both images: the shell provisioner runs,
	// no image is uploaded.
	if !strings.Contains(upOut, "Running provisioner: labctl") || strings.Contains(upOut, "Running provisioner: image") {
		t.Errorf("vagrant up uploaded images the box has:\n%s", upOut)
	}
	t.Logf("TIMING vagrant up node1 (box of the Docker-ready image, its upload into the pool included): %s", time.Since(start).Round(time.Second))
	out, err := run(2*time.Minute, "ssh", "node1", "-c", "ip -br addr; docker image ls --format '{{.Repository}}'")
	if err != nil || !regexp.MustCompile(`(?m)^ens33\.20@ens33\s+UP`).MatchString(out) || !strings.Contains(out, "192.168.242.11/24") || !strings.Contains(out, "nginx") || !strings.Contains(out, "busybox") {
		t.Errorf("node1 lacks the lab's NICs or images (err=%v):\n%s", err, out)
	}

	inv := filepath.Join(work, "hosts.yaml")
	if _, stderr, err := c.Run(ctx, "hosts", "import", "--vagrant", "node1", "--dir", proj, "--to", inv); err != nil || !strings.Contains(stderr, "(1 host)") {
		t.Fatalf("hosts import --vagrant: %v\n%s", err, stderr)
	}
	if out, stderr, err := c.Run(ctx, "--inventory", inv, "hosts", "check"); err != nil || strings.Count(out, "20.10") != 1 {
		t.Errorf("hosts check on Vagrant's machines: %v\n%s%s", err, out, stderr)
	}
	start = time.Now()
	out, stderr, err := c.Run(ctx, "--inventory", inv, "lab", "run", "bridge")
	if err != nil || !regexp.MustCompile(`(?m)^\s*\d+ passed, 0 failed`).MatchString(out) || strings.Contains(out, "FAIL") {
		t.Errorf("lab run bridge on Vagrant's machines: %v\n%s\n%s", err, out, stderr)
	}
	t.Logf("TIMING lab run bridge on Vagrant's machines: %s\n%s", time.Since(start).Round(time.Second), testlab.LastLines(out, 20))
}
