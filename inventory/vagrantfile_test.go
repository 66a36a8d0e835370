package inventory

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/testenv"
)

// TestVagrantfileValidates runs `vagrant validate` (with vagrant-libvirt)
// on the project's Vagrantfile, and on a copy with a misspelt provider
// setting, which it must reject: the alternative for Vagrant users stays
// loadable as the project changes.
func TestVagrantfileValidates(t *testing.T) {
	testenv.Integration(t, "vagrant")
	src, err := os.ReadFile(filepath.Join("..", "Vagrantfile"))
	if err != nil {
		t.Fatal(err)
	}
	validate := func(content string) (string, error) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "Vagrantfile"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		c := exec.Command("vagrant", "validate")
		c.Dir = dir
		c.Env = append(os.Environ(), "VAGRANT_DEFAULT_PROVIDER=libvirt", "VAGRANT_CHECKPOINT_DISABLE=1", "HOME="+dir)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if plugins, err := exec.Command("vagrant", "plugin", "list").CombinedOutput(); err != nil || !strings.Contains(string(plugins), "vagrant-libvirt") {
		t.Fatalf("vagrant-libvirt is not installed (apt-get install vagrant-libvirt): %v\n%s", err, plugins)
	}
	if out, err := validate(string(src)); err != nil || !strings.Contains(out, "Vagrantfile validated successfully") {
		t.Errorf("vagrant validate: %v\n%s", err, out)
	}
	bad := strings.Replace(string(src), "lv.memory = 1024", "lv.memroy = 1024", 1)
	if bad == string(src) {
		t.Fatal("the Vagrantfile no longer sets lv.memory; update this test")
	}
	if out, err := validate(bad); err == nil || !strings.Contains(out, "memroy") {
		t.Errorf("a misspelt provider setting passed validation: %v\n%s", err, out)
	}
}

// The Vagrantfile's provisioner is valid shell, and it sets up what the
// labs need whatever the box: the NICs renamed by MAC with their
// addresses and VLANs by systemd-networkd, Docker unless the box has it,
// the images the file provisioners uploaded.
func TestVagrantfileProvisioner(t *testing.T) {
	testenv.Tool(t, "ruby")
	stub := `module Vagrant; def self.configure(v); end; end
load ARGV[0]
print PROVISION`
	out, err := exec.Command("ruby", "-e", stub, filepath.Join("..", "Vagrantfile")).CombinedOutput()
	if err != nil {
		t.Fatalf("ruby: %v\n%s", err, out)
	}
	sc := string(out)
	if o, err := exec.Command("sh", "-n", "-c", sc).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s", err, o)
	}
	for _, w := range []string{"Name=ens33", "Name=ens34", "VLAN=ens33.20", "VLAN=ens33.30", "Id=%s", "networkctl reload",
		"command -v dockerd", "Type=ether", "usermod -aG docker vagrant", "/tmp/labctl-images/*.tar"} {
		if !strings.Contains(sc, w) {
			t.Errorf("the provisioner lacks %q", w)
		}
	}
}
