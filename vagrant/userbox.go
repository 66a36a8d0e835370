package vagrant

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/labctl/labctl/images"
)

// UserBox is a box for people's own Vagrantfiles (the repository's among
// them), made from a cached VM image: BuildBox's box, authorizing
// Vagrant's insecure public key as public boxes do (Vagrant swaps in a key
// of its own at the first up), with a box Vagrantfile that boots the
// image's kernel and initrd, copied to BootDir: labctl's images have no
// boot loader. The box is for this host, where BootDir is.
type UserBox struct {
	Image   string // a cached VM image booted by direct kernel boot
	Name    string // the box's name in Vagrant, e.g. labctl/debian-12-docker
	BootDir string // where the kernel and initrd go; default DefaultBootDir(Name)
	Key     string // the public key file to authorize; default InsecureKey()
	Out     string // write the box to this file; "" adds it with 'vagrant box add'
	Log     io.Writer
}

// BootRoot holds the kernels and initrds of the boxes UserBox made, one
// directory per box, readable by QEMU (which libvirt runs as its own user).
const BootRoot = "/var/lib/labctl/vagrant"

var boxName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$`)

// CheckBoxName refuses what Vagrant would not take as a box name, or what
// would not make one directory under BootRoot.
func CheckBoxName(name string) error {
	if !boxName.MatchString(name) || len(name) > 100 || strings.Contains(name, "..") {
		return fmt.Errorf("%q is not a box name: give letters, digits, '.', '_' and '-', with at most one '/' (e.g. labctl/debian-12-docker)", name)
	}
	return nil
}

// DefaultBootDir is where a box's kernel and initrd go by default.
func DefaultBootDir(name string) string {
	return filepath.Join(BootRoot, strings.ReplaceAll(name, "/", "_"))
}

// insecureKeys are where Vagrant's installs keep its insecure public key:
// Debian's package, HashiCorp's package.
var insecureKeys = []string{
	"/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub",
	"/opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub",
	"/opt/vagrant/embedded/gems/vagrant-*/keys/vagrant.pub",
}

// InsecureKey finds the insecure public key of the installed Vagrant.
func InsecureKey() (string, error) {
	for _, g := range insecureKeys {
		if m, _ := filepath.Glob(g); len(m) > 0 {
			return m[len(m)-1], nil
		}
	}
	return "", fmt.Errorf("no insecure public key of Vagrant (keys/vagrant.pub of the vagrant gem) in %s: is vagrant installed? Give the key with --key", strings.Join(insecureKeys, ", "))
}

// PreloadedFile, in a box UserBox made, lists the container images in the
// image's Docker store, one per line: the repository's Vagrantfile reads it
// (under VAGRANT_HOME) and uploads only the images the box lacks.
const PreloadedFile = "labctl-images"

// preloadedList is PreloadedFile's content for an image's "images" meta
// (tags separated by spaces).
func preloadedList(tags string) []byte {
	var b bytes.Buffer
	for _, t := range strings.Fields(tags) {
		b.WriteString(t + "\n")
	}
	return b.Bytes()
}

// boxVagrantfile is loaded by Vagrant before the project's Vagrantfile,
// which may override any of it.
// Every value is a Ruby literal (rubyQuote), none is in a comment.
var boxVagrantfile = template.Must(template.New("box").Funcs(template.FuncMap{"q": rubyQuote}).Parse(`# Written by labctl image vagrant-box. labctl's images have no boot
# loader: the machines boot the image's kernel and initrd, kept on this
# host (LABCTL_IMAGE is the image the box was made of).
LABCTL_IMAGE = {{q .Image}}
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.kernel = {{q .Kernel}}
    lv.initrd = {{q .Initrd}}
    lv.cmd_line = {{q .Cmdline}}
    lv.disk_bus = "virtio"
  end
end
`))

// boxVagrantfileFor is the box Vagrantfile booting the kernel and initrd
// in bootDir with cmdline.
func boxVagrantfileFor(image, bootDir, cmdline string) ([]byte, error) {
	var vf bytes.Buffer
	err := boxVagrantfile.Execute(&vf, map[string]string{
		"Image": image, "BootDir": bootDir, "Cmdline": cmdline,
		"Kernel": filepath.Join(bootDir, "vmlinuz"), "Initrd": filepath.Join(bootDir, "initrd.img"),
	})
	return vf.Bytes(), err
}

// Make builds the box, copies the kernel and initrd and, without Out,
// adds the box to Vagrant (replacing one of the same name).
func (b UserBox) Make(ctx context.Context, c *images.Cache) error {
	if err := CheckBoxName(b.Name); err != nil {
		return err
	}
	log := b.Log
	if log == nil {
		log = io.Discard
	}
	e, err := vmImage(c, b.Image)
	if err != nil {
		return err
	}
	if e.Meta["boot"] != "kernel" {
		return fmt.Errorf("vagrant box: image %s does not boot by direct kernel boot; labctl makes boxes of its own images (debian-12, debian-12-docker)", b.Image)
	}
	if b.BootDir == "" {
		b.BootDir = DefaultBootDir(b.Name)
	}
	if !filepath.IsAbs(b.BootDir) {
		return fmt.Errorf("--boot-dir %q: give an absolute path (QEMU reads the kernel from it)", b.BootDir)
	}
	if b.Key == "" {
		if b.Key, err = InsecureKey(); err != nil {
			return err
		}
	}
	pub, err := os.ReadFile(b.Key)
	if err != nil {
		return fmt.Errorf("vagrant box: the public key: %w", err)
	}
	if f := strings.Fields(string(pub)); len(f) < 2 || !strings.HasPrefix(f[0], "ssh-") && !strings.HasPrefix(f[0], "ecdsa-") {
		return fmt.Errorf("vagrant box: %s is not an OpenSSH public key", b.Key)
	}
	// The kernel and initrd first: a box whose Vagrantfile names files
	// that are not there would fail at the first up instead of here.
	if err := os.MkdirAll(b.BootDir, 0o755); err != nil {
		return err
	}
	for role, name := range map[string]string{"kernel": "vmlinuz", "initrd": "initrd.img"} {
		f, ok := e.File(role)
		if !ok {
			return fmt.Errorf("vagrant box: image %s has no %s", b.Image, role)
		}
		if err := copyFile(c.Abs(f.Path), filepath.Join(b.BootDir, name)); err != nil {
			return err
		}
	}
	vf, err := boxVagrantfileFor(b.Image, b.BootDir, e.Meta["cmdline"])
	if err != nil {
		return err
	}
	out := b.Out
	if out == "" {
		dir, err := c.TempDir("vagrant-box-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		out = filepath.Join(dir, "box.tar")
	}
	fmt.Fprintf(log, "vagrant box %s: from %s, kernel and initrd in %s\n", b.Name, b.Image, b.BootDir)
	extra := map[string][]byte{"Vagrantfile": vf, PreloadedFile: preloadedList(e.Meta["images"])}
	if err := buildBox(ctx, c, e, strings.TrimSpace(string(pub)), extra, out, log); err != nil {
		return err
	}
	if b.Out != "" {
		return nil
	}
	cmd := exec.CommandContext(ctx, "vagrant", "box", "add", "--force", "--name", b.Name, out)
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &lines{w: io.MultiWriter(log, &msg)}, &lines{w: io.MultiWriter(log, &msg)}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("vagrant box add %s: %w\n%s", b.Name, err, tail(msg.String(), 2000))
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := to + ".part"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, to)
}
