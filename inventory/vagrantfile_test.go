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
