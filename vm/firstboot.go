package vm

import (
	"fmt"
	"sort"
	"strings"

	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/transport"
)

// SeedScript is the name of the first-boot script on the seed disk.
const SeedScript = "labctl-seed.sh"

// firstBootScript is the seed as one shell script, which labctl's images
// run once, early in the first boot (labctl-seed.service, before the
// network and sshd), instead of cloud-init, whose Python stages cost
// some 30 s of CPU per node under emulation (local ~19 s, final ~11 s)
// for what these few commands do. The cloud-init files stay on the seed for images that
// have cloud-init (built by an older labctl, or a user's own).
//
// It does what the cloud-config does: hostname, /etc/hosts, resolv.conf,
// daemon.json, the pinned host key as the only host key, the lab user
// (groups, passwordless sudo, locked password, the authorized key), the
// network as systemd-networkd files (NICs renamed by MAC now, since udev
// has named them already), and the root file system grown to the disk.
func firstBootScript(in SeedInput, files []map[string]any, groups []string) (string, error) {
	n, user := in.Node, in.Plan.User
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# labctl: node " + n.Name + " of lab " + in.Plan.Lab + ", applied once at first boot by labctl-seed.service\nset -eu\numask 022\n")
	// Each command is a program started cold under emulation: a directory
	// is made once, and the public files (0644) get their mode in one
	// chmod at the end, before sshd or any user; a secret gets its mode
	// right after it is written.
	made := map[string]bool{}
	var public []string
	put := func(path, mode, content string) error {
		const eof = "LABCTL_SEED_EOF"
		if strings.Contains(content, eof) {
			return fmt.Errorf("seed file %s contains %s", path, eof)
		}
		if !strings.HasSuffix(content, "\n") {
			content += "\n"
		}
		if d := dirOf(path); !made[d] {
			made[d] = true
			fmt.Fprintf(&b, "mkdir -p %s\n", transport.Quote(d))
		}
		fmt.Fprintf(&b, "cat > %s <<'%s'\n%s%s\n", transport.Quote(path), eof, content, eof)
		if mode == "0644" {
			public = append(public, transport.Quote(path))
		} else {
			fmt.Fprintf(&b, "chmod %s %s\n", mode, transport.Quote(path))
		}
		return nil
	}
	fmt.Fprintf(&b, "hostname %s\n", transport.Quote(n.Hostname))
	if err := put("/etc/hostname", "0644", n.Hostname); err != nil {
		return "", err
	}
	for _, f := range files {
		if err := put(f["path"].(string), f["permissions"].(string), f["content"].(string)); err != nil {
			return "", err
		}
	}
	b.WriteString("rm -f /etc/ssh/ssh_host_*\n")
	if err := put("/etc/ssh/ssh_host_ed25519_key", "0600", string(in.HostKey.PrivatePEM)); err != nil {
		return "", err
	}
	if err := put("/etc/ssh/ssh_host_ed25519_key.pub", "0644", in.HostKey.AuthorizedKey()+" root@"+n.Hostname); err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "id -u %[1]s >/dev/null 2>&1 || useradd -m -s /bin/bash -c 'labctl lab user' %[1]s\nusermod -a -G %[2]s %[1]s\npasswd -q -l %[1]s\n", transport.Quote(user), transport.Quote(strings.Join(groups, ",")))
	if err := put("/etc/sudoers.d/90-labctl-"+user, "0440", user+" ALL=(ALL) NOPASSWD:ALL"); err != nil {
		return "", err
	}
	home := "/home/" + user
	if err := put(home+"/.ssh/authorized_keys", "0600", in.UserKey); err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "chmod 0700 %[1]s\nchown -R %[2]s: %[1]s\n", transport.Quote(home+"/.ssh"), transport.Quote(user))
	// NICs: named by udev before this runs; renamed here, by MAC, as
	// cloud-init would; the .link files name them on later boots.
	nics := append([]plan.NIC(nil), n.NICs...)
	sort.Slice(nics, func(i, j int) bool { return nics[i].Guest < nics[j].Guest })
	// udev's own naming of the NICs (coldplug) must be over first, or it
	// could rename a NIC again after this did.
	b.WriteString("udevadm settle --timeout=30 || true\n")
	b.WriteString(`rename() { # mac name: waits up to 60 s for the NIC
	i=0
	while :; do
		for d in /sys/class/net/*; do
			if [ "$(cat "$d/address" 2>/dev/null)" = "$1" ]; then
				cur=${d##*/}
				if [ "$cur" != "$2" ]; then ip link set dev "$cur" down; ip link set dev "$cur" name "$2"; fi
				return 0
			fi
		done
		i=$((i+1)); [ $i -lt 600 ] || { echo "labctl-seed: no NIC with MAC $1" >&2; return 1; }
		sleep 0.1
	done
}
`)
	for _, nic := range nics {
		fmt.Fprintf(&b, "rename %s %s\n", transport.Quote(nic.MAC), transport.Quote(nic.Guest))
	}
	// The network as systemd-networkd files (what netplan would render
	// from the network-config, without netplan).
	nf, err := networkdFiles(n)
	if err != nil {
		return "", err
	}
	for _, f := range nf {
		if err := put(f.Path, "0644", f.Content); err != nil {
			return "", err
		}
	}
	b.WriteString("chmod 0644 " + strings.Join(public, " ") + "\n")
	b.WriteString("resize2fs \"$(findmnt -n -o SOURCE /)\" >/dev/null 2>&1 || echo 'labctl-seed: could not grow the root file system' >&2\n")
	fmt.Fprintf(&b, "echo 'labctl-seed: applied the seed of %s'\n", n.Name)
	return b.String(), nil
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "/"
}

// shq quotes s for a POSIX shell.
