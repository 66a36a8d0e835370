// Package vagrant runs vagrant-libvirt as the yardstick for `labctl bench
// --vagrant`: a box made from labctl's own VM image (so both boot the same
// kernel, packages and disk), a Vagrantfile with the lab's node count,
// CPUs and memory, the same offline Docker packages and container images
// installed by a shell provisioner, and the timing of `vagrant up`. It
// also makes the box people's own Vagrantfiles boot offline (`labctl image
// vagrant-box`, UserBox).
//
// It is a package of its own because it is the only code that knows
// Vagrant: the box format, the Vagrantfile and the vagrant command. bench
// and the command line drive it.
package vagrant

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/labctl/labctl/images"
)

// boxHook turns a copy of labctl's root file system into a Vagrant box:
// what a Vagrant box is expected to have, and nothing that would waste
// time on either side.
//   - the vagrant user, passwordless sudo, the bench's public key;
//   - DHCP on every NIC by systemd-networkd (Vagrant's management network;
//     the bench gives its nodes no other network, so nothing fights
//     Vagrant's own network configuration);
//   - no first-boot seed service (nor cloud-init): a box has no seed,
//     Vagrant does the rest;
//   - host keys made once for the box, as boxes ship them (Vagrant does
//     not check them);
//   - update-initramfs diverted: the node boots the kernel and initrd the
//     host gives it, so a dpkg trigger rebuilding the initrd would be
//     wasted work (labctl's images have the same diversion).
const boxHook = `set -e
root="$1"; key="$2"
chroot "$root" useradd -m -s /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > "$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"
mkdir -p "$root/home/vagrant/.ssh"
cp "$key" "$root/home/vagrant/.ssh/authorized_keys"
chmod 700 "$root/home/vagrant/.ssh"; chmod 600 "$root/home/vagrant/.ssh/authorized_keys"
chroot "$root" chown -R vagrant:vagrant /home/vagrant/.ssh
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' > "$root/etc/systemd/network/50-vagrant.network"
# labctl's first-boot service has no seed to apply in a box
chroot "$root" systemctl disable --quiet labctl-seed.service 2>/dev/null || true
if [ -d "$root/etc/cloud" ]; then touch "$root/etc/cloud/cloud-init.disabled"; fi
chroot "$root" ssh-keygen -A
if [ ! -L "$root/usr/sbin/update-initramfs" ]; then
	chroot "$root" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs
	ln -s /bin/true "$root/usr/sbin/update-initramfs"
fi
grep -q ' labctl$' "$root/etc/hosts" || echo '127.0.1.1 labctl' >> "$root/etc/hosts"
`

// BuildBox writes a Vagrant box for the libvirt provider (a tar of
// box.img and metadata.json) made from the cached VM image: the image's
// disk, changed by boxHook. authorizedKey is the public key Vagrant logs
// in with. It mounts the disk through a loop device, so it needs root.
func BuildBox(ctx context.Context, c *images.Cache, image string, authorizedKey string, out string, log io.Writer) error {
	e, err := vmImage(c, image)
	if err != nil {
		return err
	}
	return buildBox(ctx, c, e, authorizedKey, nil, out, log)
}

// vmImage is the cached VM image a box is made of, verified.
func vmImage(c *images.Cache, image string) (images.Entry, error) {
	e, err := c.Get(image)
	if err != nil {
		return e, fmt.Errorf("vagrant box: %w (run 'sudo labctl image build %s')", err, image)
	}
	if e.Kind != images.KindVMImage {
		return e, fmt.Errorf("vagrant box: %s is a %s, not a VM image", image, e.Kind)
	}
	return e, nil
}

// buildBox is BuildBox of the verified entry e, with more files in the
// box (name: content), e.g. a box Vagrantfile.
func buildBox(ctx context.Context, c *images.Cache, e images.Entry, authorizedKey string, extra map[string][]byte, out string, log io.Writer) error {
	image := e.Name
	disk, ok := e.File("disk")
	if !ok {
		return fmt.Errorf("vagrant box: image %s has no disk", image)
	}
	dir, err := c.TempDir("vagrant-box-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	run := func(name string, args ...string) error {
		return images.ExecRunner{}.Run(ctx, log, name, args...)
	}
	raw, mnt, key := filepath.Join(dir, "root.raw"), filepath.Join(dir, "mnt"), filepath.Join(dir, "key.pub")
	if err := os.WriteFile(key, []byte(authorizedKey+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(log, "vagrant box: from %s (%d MiB)\n", image, disk.Size>>20)
	if err := run("qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", c.Abs(disk.Path), raw); err != nil {
		return err
	}
	if err := run("mount", "-o", "loop", raw, mnt); err != nil {
		return err
	}
	hookErr := run("sh", "-c", boxHook, "sh", mnt, key)
	if err := run("umount", mnt); err != nil {
		return err
	}
	if hookErr != nil {
		return hookErr
	}
	img := filepath.Join(dir, "box.img")
	if err := run("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, img); err != nil {
		return err
	}
	fi, err := os.Stat(raw)
	if err != nil {
		return err
	}
	meta, _ := json.Marshal(map[string]any{"provider": "libvirt", "format": "qcow2", "virtual_size": (fi.Size() + 1<<30 - 1) >> 30})
	if err := os.WriteFile(filepath.Join(dir, "metadata.json"), meta, 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	members := []string{"metadata.json", "box.img"}
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		if err := os.WriteFile(filepath.Join(dir, name), extra[name], 0o644); err != nil {
			return err
		}
		members = append(members, name)
	}
	tmp := out + ".part"
	if err := run("tar", append([]string{"-C", dir, "-cf", tmp}, members...)...); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}

// BundleTar writes one tar holding the offline Docker bundle (its .deb
// files and apt index) and the container images' archives (NAME.tar, as
// labctl uploads them), which the provisioner uploads with one file
// provisioner (labctl sends the same files over SFTP). It returns the
// archives' names inside the tar and the packages the bundle installs.
func BundleTar(ctx context.Context, c *images.Cache, bundle string, imgs []string, out string, log io.Writer) (archives, packages []string, err error) {
	b, err := c.Get(bundle)
	if err != nil {
		return nil, nil, fmt.Errorf("offline Docker bundle: %w (run 'sudo labctl image build %s')", err, bundle)
	}
	dir, err := c.TempDir("vagrant-bundle-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	// The tar's members are links to the cache's files, under the names
	// the provisioner uses; tar follows them (-h).
	args := []string{"-h", "-C", dir, "-cf", out + ".part"}
	add := func(f images.File, name string) error {
		args = append(args, name)
		return os.Symlink(c.Abs(f.Path), filepath.Join(dir, name))
	}
	for _, f := range b.Files {
		if err := add(f, filepath.Base(f.Path)); err != nil {
			return nil, nil, err
		}
	}
	for _, name := range imgs {
		e, err := c.Get(name)
		if err != nil {
			return nil, nil, fmt.Errorf("container image %s: %w (run 'sudo labctl image build %s')", name, err, name)
		}
		f, ok := e.File("archive")
		if !ok {
			return nil, nil, fmt.Errorf("container image %s has no archive", name)
		}
		a := name + ".tar"
		if err := add(f, a); err != nil {
			return nil, nil, err
		}
		archives = append(archives, a)
	}
	if err := (images.ExecRunner{}).Run(ctx, log, "tar", args...); err != nil {
		os.Remove(out + ".part")
		return nil, nil, err
	}
	return archives, strings.Fields(b.Meta["packages"]), os.Rename(out+".part", out)
}
