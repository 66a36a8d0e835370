#!/bin/sh
# labctl: node node1 of lab default, applied once at first boot by labctl-seed.service
set -eu
umask 022
hostname 'node1'
mkdir -p '/etc'
cat > '/etc/hostname' <<'LABCTL_SEED_EOF'
node1
LABCTL_SEED_EOF
cat > '/etc/hosts' <<'LABCTL_SEED_EOF'
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
192.168.242.11 node1
192.168.242.12 node2
192.168.242.13 node3
LABCTL_SEED_EOF
cat > '/etc/resolv.conf' <<'LABCTL_SEED_EOF'
# written by labctl's seed: the lab's NAT network answers DNS
nameserver 192.168.241.2
LABCTL_SEED_EOF
rm -f /etc/ssh/ssh_host_*
mkdir -p '/etc/ssh'
cat > '/etc/ssh/ssh_host_ed25519_key' <<'LABCTL_SEED_EOF'
(private key redacted)
LABCTL_SEED_EOF
chmod 0600 '/etc/ssh/ssh_host_ed25519_key'
cat > '/etc/ssh/ssh_host_ed25519_key.pub' <<'LABCTL_SEED_EOF'
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs root@node1
LABCTL_SEED_EOF
id -u 'lab' >/dev/null 2>&1 || useradd -m -s /bin/bash -c 'labctl lab user' 'lab'
usermod -a -G 'sudo' 'lab'
passwd -q -l 'lab'
mkdir -p '/etc/sudoers.d'
cat > '/etc/sudoers.d/90-labctl-lab' <<'LABCTL_SEED_EOF'
lab ALL=(ALL) NOPASSWD:ALL
LABCTL_SEED_EOF
chmod 0440 '/etc/sudoers.d/90-labctl-lab'
mkdir -p '/home/lab/.ssh'
cat > '/home/lab/.ssh/authorized_keys' <<'LABCTL_SEED_EOF'
ssh-ed25519 AAAAtestkey labctl-default
LABCTL_SEED_EOF
chmod 0600 '/home/lab/.ssh/authorized_keys'
chmod 0700 '/home/lab/.ssh'
chown -R 'lab': '/home/lab/.ssh'
udevadm settle --timeout=30 || true
rename() { # mac name: waits up to 60 s for the NIC
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
rename '52:06:47:32:b3:2f' 'ens33'
rename '52:4e:e0:19:c7:a5' 'ens34'
mkdir -p '/etc/systemd/network'
cat > '/etc/systemd/network/10-labctl-ens33.link' <<'LABCTL_SEED_EOF'
[Match]
PermanentMACAddress=52:06:47:32:b3:2f

[Link]
Name=ens33
WakeOnLan=off
LABCTL_SEED_EOF
cat > '/etc/systemd/network/10-labctl-ens33.network' <<'LABCTL_SEED_EOF'
[Match]
PermanentMACAddress=52:06:47:32:b3:2f
Name=ens33

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no
VLAN=ens33.20
VLAN=ens33.30

[DHCP]
RouteMetric=100
UseMTU=true
UseHostname=false
LABCTL_SEED_EOF
cat > '/etc/systemd/network/10-labctl-ens34.link' <<'LABCTL_SEED_EOF'
[Match]
PermanentMACAddress=52:4e:e0:19:c7:a5

[Link]
Name=ens34
WakeOnLan=off
LABCTL_SEED_EOF
cat > '/etc/systemd/network/10-labctl-ens34.network' <<'LABCTL_SEED_EOF'
[Match]
PermanentMACAddress=52:4e:e0:19:c7:a5
Name=ens34

[Network]
Address=192.168.242.11/24
LinkLocalAddressing=no
IPv6AcceptRA=no
LABCTL_SEED_EOF
cat > '/etc/systemd/network/10-labctl-ens33.20.netdev' <<'LABCTL_SEED_EOF'
[NetDev]
Name=ens33.20
Kind=vlan

[VLAN]
Id=20
LABCTL_SEED_EOF
cat > '/etc/systemd/network/10-labctl-ens33.20.network' <<'LABCTL_SEED_EOF'
[Match]
Name=ens33.20

[Network]
LinkLocalAddressing=no
IPv6AcceptRA=no
ConfigureWithoutCarrier=yes
LABCTL_SEED_EOF
cat > '/etc/systemd/network/10-labctl-ens33.30.netdev' <<'LABCTL_SEED_EOF'
[NetDev]
Name=ens33.30
Kind=vlan

[VLAN]
Id=30
LABCTL_SEED_EOF
cat > '/etc/systemd/network/10-labctl-ens33.30.network' <<'LABCTL_SEED_EOF'
[Match]
Name=ens33.30

[Network]
LinkLocalAddressing=no
IPv6AcceptRA=no
ConfigureWithoutCarrier=yes
LABCTL_SEED_EOF
chmod 0644 '/etc/hostname' '/etc/hosts' '/etc/resolv.conf' '/etc/ssh/ssh_host_ed25519_key.pub' '/etc/systemd/network/10-labctl-ens33.link' '/etc/systemd/network/10-labctl-ens33.network' '/etc/systemd/network/10-labctl-ens34.link' '/etc/systemd/network/10-labctl-ens34.network' '/etc/systemd/network/10-labctl-ens33.20.netdev' '/etc/systemd/network/10-labctl-ens33.20.network' '/etc/systemd/network/10-labctl-ens33.30.netdev' '/etc/systemd/network/10-labctl-ens33.30.network'
resize2fs "$(findmnt -n -o SOURCE /)" >/dev/null 2>&1 || echo 'labctl-seed: could not grow the root file system' >&2
echo 'labctl-seed: applied the seed of node1'
