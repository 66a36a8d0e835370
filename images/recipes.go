package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Packages of the VM base image. Each is there for a reason:
//   - kernel, init, udev, initramfs: boot by direct kernel boot;
//   - openssh-server, sudo: labctl logs in as the lab user;
//   - systemd-networkd (in systemd): the NICs and VLANs, from the files
//     the seed writes (no netplan, whose generator ran at every boot, and
//     whose Python the image need not carry);
//   - iproute2, iputils-ping, curl, iptables: what the labs run on the node;
//   - tcpdump: 'labctl capture' and the packets in the labs' evidence;
//   - apparmor: without it no Docker container starts;
//   - e2fsprogs: the first boot grows the root file system to the node's disk.
//
// No cloud-init: labctl-seed.service applies the seed (see baseHook).
var basePackages = []string{
	"linux-image-cloud-amd64", "systemd-sysv", "udev", "initramfs-tools", "dbus",
	"openssh-server", "sudo", "iproute2", "iputils-ping",
	"curl", "iptables", "apparmor", "ca-certificates", "e2fsprogs", "tcpdump",
}

// dockerPackages are what the Docker-ready layer and the offline bundle
// add: the engine from Debian, with what it needs to start containers.
var dockerPackages = []string{"docker.io", "apparmor", "iptables"}

// KernelCmdline boots the built images (their root file system is the
// whole virtio disk, no partition table).
const KernelCmdline = "root=/dev/vda rw console=ttyS0,115200n8 loglevel=4 net.ifnames=1"

// baseHook prepares the root file system for cloning: no identity, no host
// keys, the first-boot seed service, no background apt runs that would
// hold the dpkg lock while labctl installs Docker.
const baseHook = `set -e
root="$1"
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
echo 'LANG=C.UTF-8' > "$root/etc/default/locale"
# The first boot applies the node's seed (labctl-seed.sh on the disk
# labelled cidata, made by labctl) before the network and sshd start:
# hostname, hosts, host key, user, network, disk. It does what cloud-init
# did with the same seed, without cloud-init's Python stages (some 30 s of
# CPU per node under emulation).
mkdir -p "$root/usr/local/sbin" "$root/etc/systemd/system"
cat > "$root/usr/local/sbin/labctl-seed" <<'EOF'
#!/bin/sh
# Applies this node's labctl seed, once (labctl-seed.service).
set -u
done=/var/lib/labctl/seeded
[ -e "$done" ] && exit 0
dev= i=0
while [ $i -lt 300 ]; do
	dev=$(blkid -L cidata 2>/dev/null) && break
	i=$((i+1)); sleep 0.1
done
if [ -z "$dev" ]; then echo "labctl-seed: no seed disk (a disk labelled cidata)" >&2; exit 1; fi
mnt=/run/labctl-seed
mkdir -p "$mnt"
mount -t iso9660 -o ro "$dev" "$mnt" || exit 1
if [ -f "$mnt/labctl-seed.sh" ]; then
	sh -e "$mnt/labctl-seed.sh"; rc=$?
else
	echo "labctl-seed: $dev has no labctl-seed.sh (a seed from an older labctl?)" >&2; rc=1
fi
umount "$mnt"
if [ $rc -eq 0 ]; then mkdir -p /var/lib/labctl && : > "$done"; fi
exit $rc
EOF
chmod 0755 "$root/usr/local/sbin/labctl-seed"
cat > "$root/etc/systemd/system/labctl-seed.service" <<'EOF'
[Unit]
Description=labctl: apply this node's seed (first boot)
DefaultDependencies=no
Wants=network-pre.target
After=systemd-remount-fs.service systemd-udevd.service systemd-udev-trigger.service
Before=network-pre.target systemd-networkd.service ssh.service sysinit.target shutdown.target
Conflicts=shutdown.target
ConditionPathExists=!/var/lib/labctl/seeded

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/labctl-seed
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=sysinit.target
EOF
chroot "$root" systemctl enable labctl-seed.service
# password logins off here rather than by the seed (see above)
mkdir -p "$root/etc/ssh/sshd_config.d"
printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\n' > "$root/etc/ssh/sshd_config.d/10-labctl.conf"
# AppArmor profiles compiled at every first boot (a clone has no compiled
# cache): those of programs a node never runs (dhclient: networkd manages
# the NICs; lsb_release, nvidia_modprobe) took 17 s, and tcpdump's, the
# last one, 7 s; tcpdump runs unconfined in a node whose users are root
# anyway. Docker loads its own profile when it starts.
mkdir -p "$root/etc/apparmor.d/disable"
for p in sbin.dhclient lsb_release nvidia_modprobe usr.bin.tcpdump; do
	if [ -e "$root/etc/apparmor.d/$p" ]; then ln -sf "/etc/apparmor.d/$p" "$root/etc/apparmor.d/disable/$p"; fi
done
# No fsck of the root at boot (pass 0): the initrd's e2fsck of a clean,
# journalled file system took about 0.8 s of every emulated boot, and a
# lab node is a throwaway machine whose journal replays an unclean stop.
echo 'LABEL=root / ext4 defaults 0 0' > "$root/etc/fstab"
echo labctl > "$root/etc/hostname"
# the build host's resolver means nothing on a node; the seed writes the lab's
rm -f "$root/etc/resolv.conf"
echo '# labctl: written at first boot from the seed' > "$root/etc/resolv.conf"
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer
# Boot-time work a lab node has no use for, each a program started cold
# under emulation (about 1 s each): kernel modules for device mapper, FUSE,
# loop devices, graphics and EFI (loaded on demand should anything need
# them), and e2scrub's clean-up of LVM snapshots there are none of.
chroot "$root" systemctl mask modprobe@dm_mod.service modprobe@fuse.service modprobe@loop.service \
	modprobe@drm.service modprobe@efi_pstore.service e2scrub_reap.service
# Modules udev loads at coldplug that a lab node has no use for, while the
# seed waits for udev to settle (loading kvm and kvm_amd took about 1 s of
# the seed's 5 s under emulation): KVM (the emulated CPU advertises svm or
# vmx; no lab runs VMs in a node) and CPU frequency drivers (a virtual CPU
# has no frequency to scale). 'modprobe kvm' still loads them by hand.
mkdir -p "$root/etc/modprobe.d"
printf 'blacklist %s\n' kvm_amd kvm_intel kvm powernow_k8 acpi_cpufreq > "$root/etc/modprobe.d/labctl-no-autoload.conf"
chroot "$root" systemctl enable systemd-networkd.service
# Nodes boot the kernel and initrd the host hands them (direct kernel boot),
# so an initrd rebuilt inside a node is never used. Yet dmsetup, which
# docker.io pulls in, triggers update-initramfs: CPU wasted on every node
# that installs Docker from the offline bundle.
# The initrd nodes boot: only the modules that find a virtio disk (ext4 is
# in the kernel), not Debian's "most" (51 MiB unpacked, 15 MiB packed:
# 0.8 s to unpack under emulation, and about 40 MiB of each idle node's
# memory as QEMU's copy and the guest pages the unpacking touched).
mkdir -p "$root/etc/initramfs-tools/conf.d"
printf '# labctl: the nodes boot from a virtio disk\nMODULES=list\nCOMPRESS=gzip\n' > "$root/etc/initramfs-tools/conf.d/labctl.conf"
printf 'virtio_pci\nvirtio_blk\n' >> "$root/etc/initramfs-tools/modules"
chroot "$root" update-initramfs -u -k all
chroot "$root" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs
ln -s /bin/true "$root/usr/sbin/update-initramfs"
rm -rf "$root"/var/lib/apt/lists/*_Packages "$root"/var/cache/apt/*.bin
`

// preloaded are the container images the Docker-ready image has in its
// Docker store already (the labs' images), so that no node uploads and
// loads them at up.
func preloaded() []Recipe { return []Recipe{busyboxImage(), nginxImage()} }

// preloadScript loads docker archives into the Docker store of a root file
// system ($1; the archives follow), with that root's own dockerd run in a
// chroot. It runs under unshare (mount, network and PID namespaces), so
// that its mounts, its dockerd and the containerd that dockerd starts
// end with it and touch nothing of the build host: no bridge, no
// iptables rules, no AppArmor profile (a fresh sysfs has no securityfs).
// What a first start leaves that is not the images is removed, so every
// node's dockerd starts as a new one (its own key.json, its own networks).
const preloadScript = `set -eu
root="$1"; shift
for d in proc sys dev run tmp; do mkdir -p "$root/$d"; done
# the root a mount point: docker load unpacks in a chroot of its own,
# which remounts /
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
# dockerd refuses to start without the host's cgroups (v1 or v2), though
# loading images makes none
mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
mount --bind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
sock=unix:///run/labctl-preload.sock
chroot "$root" /usr/sbin/dockerd --storage-driver=overlay2 --iptables=false --ip-masq=false --bridge=none \
	--host="$sock" --exec-root=/run/docker --pidfile=/run/docker.pid &
pid=$!
i=0
until chroot "$root" docker -H "$sock" version >/dev/null 2>&1; do
	kill -0 "$pid" 2>/dev/null || { echo "labctl preload: dockerd stopped (its output is above)" >&2; exit 1; }
	i=$((i+1)); [ "$i" -lt 600 ] || { echo "labctl preload: dockerd did not answer within 60 s" >&2; exit 1; }
	sleep 0.1
done
for a in "$@"; do
	cp "$a" "$root/tmp/image.tar"
	chroot "$root" docker -H "$sock" load -i /tmp/image.tar
	rm -f "$root/tmp/image.tar"
done
chroot "$root" docker -H "$sock" images
kill -TERM "$pid"
wait "$pid" || true
rm -rf "$root/var/lib/docker/network" "$root/var/lib/docker/containerd" "$root/var/lib/docker/runtimes" \
	"$root/var/lib/docker/tmp" "$root/var/lib/docker/swarm" "$root/var/lib/docker/buildkit" "$root/etc/docker/key.json"
`

// preload puts the needed container images into the Docker store of the
// root file system. It returns the tags loaded.
func (b *builder) preload(ctx context.Context, root string) (string, error) {
	var archives, tags []string
	for _, r := range b.recipe.needs {
		e := b.deps[r.Name]
		f, ok := e.File("archive")
		if !ok {
			return "", fmt.Errorf("container image %s has no archive", r.Name)
		}
		archives = append(archives, b.cache.Abs(f.Path))
		tags = append(tags, e.Meta["tag"])
	}
	fmt.Fprintf(b.opts.Log, "%s: loading %s into its Docker store\n", b.recipe.Name, strings.Join(tags, ", "))
	args := append([]string{"--mount", "--net", "--pid", "--fork", "--kill-child", "sh", "-c", preloadScript, "sh", root}, archives...)
	if err := b.run(ctx, "unshare", args...); err != nil {
		return "", err
	}
	for _, d := range []string{"image/overlay2/repositories.json", "overlay2"} {
		if _, err := os.Stat(filepath.Join(root, "var/lib/docker", d)); err != nil {
			return "", fmt.Errorf("no Docker store after the preload: %w", err)
		}
	}
	return strings.Join(tags, " "), nil
}

// debianBase builds the VM base image, or with docker the Docker-ready
// layer (the same plus the Docker engine installed, and the labs'
// container images in its Docker store).
func debianBase(docker bool) Recipe {
	name, desc := "debian-12", "Debian 12 VM base image (mmdebstrap, direct kernel boot)"
	pkgs := append([]string(nil), basePackages...)
	tools := []string{"mmdebstrap", "mkfs.ext4", "qemu-img"}
	inputs := ""
	var needs []Recipe
	if docker {
		name, desc = "debian-12-docker", "Debian 12 VM image with the Docker engine installed and the labs' container images loaded (Docker-ready layer)"
		pkgs = append(pkgs, dockerPackages...)
		tools = append(tools, "unshare", "chroot")
		inputs = "\x00" + preloadScript
		needs = preloaded()
	}
	return Recipe{
		Name: name, Kind: KindVMImage, Description: desc,
		Tools:  tools,
		inputs: sortedJoin(pkgs) + "\x00" + baseHook + "\x00" + KernelCmdline + inputs,
		needs:  needs,
		build: func(ctx context.Context, b *builder) ([]File, map[string]string, error) {
			root := filepath.Join(b.dir, "rootfs")
			hook := filepath.Join(b.dir, "customize.sh")
			if err := os.WriteFile(hook, []byte(baseHook), 0o755); err != nil {
				return nil, nil, err
			}
			fmt.Fprintf(b.opts.Log, "%s: installing %d packages with mmdebstrap\n", name, len(pkgs))
			if err := b.mmdebstrap(ctx, root,
				"--variant=apt", "--format=directory",
				"--include="+strings.Join(pkgs, ","),
				"--customize-hook=sh "+hook+` "$1"`,
			); err != nil {
				return nil, nil, err
			}
			if err := checkRootfs(root); err != nil {
				return nil, nil, err
			}
			var tags string // of the images preloaded
			if docker {
				var err error
				if tags, err = b.preload(ctx, root); err != nil {
					return nil, nil, fmt.Errorf("load the container images into the image: %w", err)
				}
			}
			pkgList := filepath.Join(b.dir, "packages.txt")
			if err := b.run(ctx, "sh", "-c", `dpkg-query --admindir="$1/var/lib/dpkg" -W -f '${Package} ${Version}\n' > "$2"`, "sh", root, pkgList); err != nil {
				return nil, nil, err
			}
			kernel, initrd, err := bootFiles(root)
			if err != nil {
				return nil, nil, err
			}
			used, err := dirSize(root)
			if err != nil {
				return nil, nil, err
			}
			sizeGiB := (used*3/2)>>30 + 2 // room for Docker images before the first boot grows it
			raw := filepath.Join(b.dir, "root.raw")
			fmt.Fprintf(b.opts.Log, "%s: making the %d GiB disk\n", name, sizeGiB)
			if err := b.run(ctx, "mkfs.ext4", "-q", "-F", "-L", "root", "-m", "1", "-d", root, raw, fmt.Sprintf("%dG", sizeGiB)); err != nil {
				return nil, nil, err
			}
			qcow := filepath.Join(b.dir, "disk.qcow2")
			if err := b.run(ctx, "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, qcow); err != nil {
				return nil, nil, err
			}
			var files []File
			for _, f := range []struct{ src, dst, role string }{
				{qcow, "disk.qcow2", "disk"},
				{kernel, "vmlinuz", "kernel"},
				{initrd, "initrd.img", "initrd"},
				{pkgList, "packages.txt", "packages"},
			} {
				cf, err := b.store(f.src, filepath.Join("vm", name, f.dst), f.role)
				if err != nil {
					return files, nil, err
				}
				files = append(files, cf)
			}
			meta := map[string]string{"boot": "kernel", "cmdline": KernelCmdline, "os": "debian-12"}
			if docker {
				meta["docker"] = "installed"
				meta["images"] = tags
			}
			return files, meta, nil
		},
	}
}

// checkRootfs refuses a root file system that would not work as a VM.
func checkRootfs(root string) error {
	// A build stopped half-way can leave policy-rc.d behind: then no
	// service would ever start on package install (dockerd included).
	if _, err := os.Lstat(filepath.Join(root, "usr/sbin/policy-rc.d")); err == nil {
		return fmt.Errorf("the root file system still has /usr/sbin/policy-rc.d, which stops services from starting")
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/machine-id")); err != nil || fi.Size() != 0 {
		return fmt.Errorf("/etc/machine-id must exist and be empty so that every clone gets its own identity")
	}
	if t, err := os.Readlink(filepath.Join(root, "usr/sbin/update-initramfs")); err != nil || t != "/bin/true" {
		return fmt.Errorf("/usr/sbin/update-initramfs must be diverted to /bin/true: nodes boot the host's initrd, and rebuilding theirs is wasted work")
	}
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
	if len(keys) > 0 {
		return fmt.Errorf("host keys are baked into the image (%s); every node must get its own", filepath.Base(keys[0]))
	}
	return nil
}

// bootFiles finds the kernel and initrd in a root file system.
func bootFiles(root string) (kernel, initrd string, err error) {
	ks, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	is, _ := filepath.Glob(filepath.Join(root, "boot", "initrd.img-*"))
	if len(ks) != 1 || len(is) != 1 {
		return "", "", fmt.Errorf("expected one kernel and one initrd in /boot, found %d and %d", len(ks), len(is))
	}
	// Copy: the originals stay inside the image too.
	for _, p := range []struct{ src, dst string }{{ks[0], root + ".vmlinuz"}, {is[0], root + ".initrd"}} {
		data, err := os.ReadFile(p.src)
		if err != nil {
			return "", "", err
		}
		if err := os.WriteFile(p.dst, data, 0o644); err != nil {
			return "", "", err
		}
	}
	return root + ".vmlinuz", root + ".initrd", nil
}

func dirSize(root string) (int64, error) {
	var n int64
	err := filepath.Walk(root, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// BundleDir is where a guest keeps the offline Docker bundle.
const BundleDir = "/var/lib/labctl/bundle"

// dockerBundle fetches docker.io and everything it needs beyond a minimal
// Debian 12 system, as .deb files with an apt index, so that a guest with
// no network installs Docker with plain apt from a file: repository.
func dockerBundle() Recipe {
	const name = "docker.io-debian-12"
	hook := `set -e
cd "$1/var/cache/apt/archives"
chroot "$1" sh -c 'cd /var/cache/apt/archives && apt-ftparchive packages . > Packages'
`
	return Recipe{
		Name: name, Kind: KindDockerBundle,
		Description: "offline Docker engine bundle for Debian 12 guests (docker.io and dependencies)",
		Tools:       []string{"mmdebstrap"},
		inputs:      sortedJoin(dockerPackages) + "\x00" + hook,
		build: func(ctx context.Context, b *builder) ([]File, map[string]string, error) {
			out := filepath.Join(b.dir, "debs")
			hookFile := filepath.Join(b.dir, "index.sh")
			if err := os.WriteFile(hookFile, []byte(hook), 0o755); err != nil {
				return nil, nil, err
			}
			fmt.Fprintf(b.opts.Log, "%s: resolving and downloading %s with dependencies\n", name, strings.Join(dockerPackages, ", "))
			if err := b.mmdebstrap(ctx, filepath.Join(b.dir, "chroot"),
				"--variant=apt", "--format=directory",
				"--include="+strings.Join(append(dockerPackages, "apt-utils"), ","),
				"--customize-hook=sh "+hookFile+` "$1"`,
				"--customize-hook=sync-out /var/cache/apt/archives "+out,
			); err != nil {
				return nil, nil, err
			}
			debs, _ := filepath.Glob(filepath.Join(out, "*.deb"))
			if len(debs) == 0 {
				return nil, nil, fmt.Errorf("no .deb files were downloaded")
			}
			var files []File
			for _, d := range debs {
				f, err := b.store(d, filepath.Join("bundles", name, filepath.Base(d)), "deb")
				if err != nil {
					return files, nil, err
				}
				files = append(files, f)
			}
			idx, err := b.store(filepath.Join(out, "Packages"), filepath.Join("bundles", name, "Packages"), "index")
			if err != nil {
				return files, nil, err
			}
			files = append(files, idx)
			return files, map[string]string{"packages": strings.Join(dockerPackages, " "), "debs": fmt.Sprint(len(debs))}, nil
		},
	}
}
