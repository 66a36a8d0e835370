package testlab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labctl/labctl/plan"
)

// HypervisorTools are what a simulated hypervisor needs beside the
// harness's own tools.
var HypervisorTools = []string{"unshare", "nsenter", "ssh-keygen", "/usr/sbin/sshd", "bridge", "ss"}

// Underlay is the "LAN" between the simulated hypervisors: a bridge in
// the harness's namespace (which is hypervisor 1, with UnderlayAddr(1))
// and one veth per further hypervisor. TEST-NET-2 exists nowhere else.
const underlayBridge = "lcul"

// UnderlayAddr is the address of hypervisor i (1-based) on the underlay.
func UnderlayAddr(i int) string { return fmt.Sprintf("198.51.100.%d", i) }

// Hypervisor is a simulated hypervisor: a network namespace with a mount
// namespace of its own (tmpfs over libvirt's run, state, cache and log
// directories and labctl's /var/lib/labctl, an empty /etc/libvirt), running virtlogd, libvirtd and an
// sshd that serves qemu+ssh://root@ADDR/system with its own host key and
// one authorized key (Identity). libvirtd runs under a supervisor loop
// that restarts it after KillLibvirtd once StartLibvirtd allows it.
type Hypervisor struct {
	Name     string
	NS       string // network namespace
	Addr     string // underlay address
	URI      string
	Identity string // private key file labctl logs in with
	Veth     string // its veth in the harness's namespace (capture here)
	dir      string
	holder   *exec.Cmd // tini in the namespaces; nsenter -t its pid
}

// AddHypervisor starts simulated hypervisor number i (2, 3, ...) called
// name, joined to the harness's namespace by the underlay.
func (e *Env) AddHypervisor(name string, i int, dir string) (*Hypervisor, error) {
	h := &Hypervisor{
		Name: name, NS: fmt.Sprintf("%s-hv%d", e.NS, i), Addr: UnderlayAddr(i),
		Veth: fmt.Sprintf("lcul%d", i), dir: dir,
	}
	h.URI = "qemu+ssh://root@" + h.Addr + "/system"
	h.Identity = filepath.Join(dir, "id_ed25519")
	if err := os.MkdirAll(filepath.Join(dir, "etc-libvirt"), 0o700); err != nil {
		return nil, err
	}
	cmds := [][]string{
		{"ip", "netns", "add", h.NS},
		{"ip", "-n", h.NS, "link", "set", "lo", "up"},
		{"ip", "-n", e.NS, "link", "add", h.Veth, "type", "veth", "peer", "name", "ul0", "netns", h.NS},
		{"ip", "-n", e.NS, "link", "set", h.Veth, "master", underlayBridge, "up"},
		{"ip", "-n", h.NS, "addr", "add", h.Addr + "/24", "dev", "ul0"},
		{"ip", "-n", h.NS, "link", "set", "ul0", "up"},
		// The room's way out: through hypervisor 1, which holds the
		// upstream host (a lab whose gateway is here reaches it so).
		{"ip", "-n", h.NS, "route", "add", upstreamNet, "via", UnderlayAddr(1)},
		{"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labctl-test", "-f", h.Identity},
		{"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", filepath.Join(dir, "ssh_host_ed25519_key")},
	}
	if err := e.underlay(); err != nil {
		return nil, err
	}
	if err := holdSharedDir(); err != nil {
		return nil, err
	}
	e.hypervisors = append(e.hypervisors, h)
	for _, c := range cmds {
		if err := run(c[0], c[1:]...); err != nil {
			return nil, err
		}
	}
	pub, err := os.ReadFile(h.Identity + ".pub")
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		"authorized_keys": string(pub),
		"sshd_config": strings.Join([]string{
			"Port 22", "ListenAddress " + h.Addr,
			"HostKey " + filepath.Join(dir, "ssh_host_ed25519_key"),
			"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
			"PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
			"UsePAM no", "StrictModes no", "PidFile " + filepath.Join(dir, "sshd.pid"),
			"AllowStreamLocalForwarding yes", "AllowTcpForwarding yes", "Subsystem sftp internal-sftp", "",
		}, "\n"),
		// The namespaces' first process: private mounts, then the daemons.
		// libvirtd runs in a loop so that a killed one comes back once the
		// hold file is gone (KillLibvirtd, StartLibvirtd).
		"start.sh": fmt.Sprintf(`set -eu
for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /var/lib/labctl; do mkdir -p $d; mount -t tmpfs -o mode=0755 tmpfs $d; done
mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/images /run/sshd
mount --bind %[1]s/etc-libvirt /etc/libvirt
virtlogd -d -p %[1]s/virtlogd.pid
(
  while [ ! -e %[1]s/stop ]; do
    while [ -e %[1]s/hold ]; do sleep 0.2; done
    libvirtd -p %[1]s/libvirtd.pid >>%[1]s/libvirtd.log 2>&1 || true
    sleep 0.2
  done
) &
exec /usr/sbin/sshd -D -f %[1]s/sshd_config -E %[1]s/sshd.log
`, dir),
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600); err != nil {
			return nil, err
		}
	}
	logf, err := os.OpenFile(filepath.Join(dir, "holder.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", "netns", "exec", h.NS, "unshare", "-m", "--propagation", "private", "tini", "-s", "-g", "--", "sh", filepath.Join(dir, "start.sh"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	h.holder = cmd
	go func() { cmd.Wait(); logf.Close() }()
	if err := h.waitLibvirt(60 * time.Second); err != nil {
		return h, err
	}
	if err := h.waitSSH(e, 30*time.Second); err != nil {
		return h, err
	}
	return h, nil
}

// LaptopAddr is the address of student laptop i (1-based) on the underlay.
func LaptopAddr(i int) string { return fmt.Sprintf("198.51.100.%d", 200+i) }

// AddLaptop makes student laptop number i: a network namespace on the
// underlay (the room's LAN) with LaptopAddr(i) and no other route, so it
// reaches the hypervisors' underlay addresses and no lab network. It
// returns the namespace, for ip netns exec.
func (e *Env) AddLaptop(i int) (string, error) {
	if err := e.underlay(); err != nil {
		return "", err
	}
	ns, veth := fmt.Sprintf("%s-lt%d", e.NS, i), fmt.Sprintf("lclt%d", i)
	e.laptops = append(e.laptops, ns)
	for _, c := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", e.NS, "link", "add", veth, "type", "veth", "peer", "name", "wlan0", "netns", ns},
		{"ip", "-n", e.NS, "link", "set", veth, "master", underlayBridge, "up"},
		{"ip", "-n", ns, "addr", "add", LaptopAddr(i) + "/24", "dev", "wlan0"},
		{"ip", "-n", ns, "link", "set", "wlan0", "up"},
	} {
		if err := run(c[0], c[1:]...); err != nil {
			return ns, err
		}
	}
	return ns, nil
}

// sharedDirMarker keeps /var/lib/labctl from being removed on this
// machine while simulated hypervisors run. Each mounts a tmpfs of its own
// there (a machine of its own), but the directory under the mounts is this
// machine's: a workshop's down here removes /var/lib/labctl once empty,
// and a directory removed in one mount namespace takes the mounts on it
// in the others away - a simulated hypervisor's jump host would lose its
// files before its own down reached it. Real hypervisors share no disk.
const sharedDirMarker = "/var/lib/labctl/.simulated-hypervisors"

func holdSharedDir() error {
	if err := os.MkdirAll(filepath.Dir(sharedDirMarker), 0o755); err != nil {
		return err
	}
	return os.WriteFile(sharedDirMarker, []byte("labctl's tests run simulated hypervisors; removed when they end\n"), 0o644)
}

// releaseSharedDir undoes holdSharedDir (the directory goes if empty).
func releaseSharedDir() {
	if os.Remove(sharedDirMarker) == nil {
		os.Remove(filepath.Dir(sharedDirMarker))
	}
}

// underlay creates the underlay bridge with hypervisor 1's address, once.
func (e *Env) underlay() error {
	if e.underlayUp {
		return nil
	}
	for _, c := range [][]string{
		{"ip", "-n", e.NS, "link", "add", underlayBridge, "type", "bridge"},
		{"ip", "-n", e.NS, "addr", "add", UnderlayAddr(1) + "/24", "dev", underlayBridge},
		{"ip", "-n", e.NS, "link", "set", underlayBridge, "up"},
	} {
		if err := run(c[0], c[1:]...); err != nil {
			return err
		}
	}
	e.underlayUp = true
	return nil
}

// In runs a command inside the hypervisor's namespaces (network and
// mount) and returns its combined output.
func (h *Hypervisor) In(ctx context.Context, name string, args ...string) (string, error) {
	if h.holder == nil || h.holder.Process == nil {
		return "", fmt.Errorf("hypervisor %s is not running", h.Name)
	}
	argv := append([]string{"-t", strconv.Itoa(h.holder.Process.Pid), "-m", "-n", "--", name}, args...)
	out, err := exec.CommandContext(ctx, "nsenter", argv...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in hypervisor %s: %v: %s", name, strings.Join(args, " "), h.Name, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Virsh runs virsh against the hypervisor's libvirtd.
func (h *Hypervisor) Virsh(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return h.In(ctx, "virsh", append([]string{"-c", "qemu:///system"}, args...)...)
}

func (h *Hypervisor) waitLibvirt(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := h.Virsh("version"); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("libvirtd of hypervisor %s did not answer within %s: %v; see %s", h.Name, limit, err, filepath.Join(h.dir, "libvirtd.log"))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (h *Hypervisor) waitSSH(e *Env, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := e.Dial(ctx, "tcp", net.JoinHostPort(h.Addr, "22"))
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd of hypervisor %s did not listen within %s: %v; see %s", h.Name, limit, err, filepath.Join(h.dir, "sshd.log"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// KillLibvirtd kills the hypervisor's libvirtd with SIGKILL, as a crash
// would, and keeps it down until StartLibvirtd.
func (h *Hypervisor) KillLibvirtd() error {
	if err := os.WriteFile(filepath.Join(h.dir, "hold"), nil, 0o600); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(h.dir, "libvirtd.pid"))
	if err != nil {
		return fmt.Errorf("hypervisor %s: libvirtd pid: %w", h.Name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("hypervisor %s: kill libvirtd %d: %w", h.Name, pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("hypervisor %s: libvirtd (pid %d) still there 10 s after SIGKILL", h.Name, pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// StartLibvirtd lets the supervisor start libvirtd again and waits for it.
func (h *Hypervisor) StartLibvirtd() error {
	if err := os.Remove(filepath.Join(h.dir, "hold")); err != nil {
		return err
	}
	return h.waitLibvirt(60 * time.Second)
}

// Stop ends the hypervisor: its VMs, daemons and namespaces.
func (h *Hypervisor) Stop() {
	os.WriteFile(filepath.Join(h.dir, "stop"), nil, 0o600)
	var killed []int
	if pids, err := nsPids(h.NS); err == nil {
		for _, pid := range pids {
			if pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
				killed = append(killed, pid)
			}
		}
	}
	if h.holder != nil && h.holder.Process != nil {
		syscall.Kill(-h.holder.Process.Pid, syscall.SIGKILL)
	}
	waitGone(killed, 10*time.Second)
	run("ip", "netns", "delete", h.NS)
}

// Leftovers lists what of a lab is left on the hypervisor: libvirt
// objects and its VXLAN devices and bridges (by their derived names,
// passed in links).
func (h *Hypervisor) Leftovers(lab, pool string, links []string) ([]string, error) {
	left, err := leftovers(lab, pool, h.Virsh)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if out, err := h.In(context.Background(), "ip", "link", "show", "dev", l); err == nil && strings.Contains(out, l) {
			left = append(left, "link "+l)
		}
	}
	return left, nil
}

// LabLinks are the names of a lab's bridges and VXLAN devices, the same on
// every hypervisor.
func LabLinks(lab string) []string {
	var l []string
	for _, role := range []string{plan.RoleNAT, plan.RoleHostOnly} {
		l = append(l, plan.BridgeName(lab, role), plan.TunnelDevice(lab, role))
	}
	return l
}

// Pid is the process whose namespaces are the hypervisor's (for nsenter).
func (h *Hypervisor) Pid() int { return h.holder.Process.Pid }

// ListenUDP opens a UDP socket on port in the hypervisor's network
// namespace, held by the test process (a program holding the port).
func (h *Hypervisor) ListenUDP(port int) (c net.PacketConn, err error) {
	err = InNetns(h.NS, func() error {
		c, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		return err
	})
	return c, err
}
