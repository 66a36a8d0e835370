// Package testlab is the integration-test harness: a private network
// namespace with its own libvirtd (and virtlogd) inside, so that the
// bridges, the VMs and every packet of the tests live in a namespace the
// test run created, and nothing reaches any other network.
//
// The daemons run under `tini -s`, a subreaper: on machines whose PID 1
// does not reap orphans (containers, CI sandboxes) libvirtd's short-lived
// QEMU probes would otherwise stay zombies and libvirtd would wait on them
// forever.
package testlab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Tools the harness needs on the machine.
var Tools = []string{"ip", "libvirtd", "virtlogd", "virsh", "tini", "dnsmasq", "qemu-system-x86_64", "qemu-img"}

// Env is a running harness.
type Env struct {
	NS       string // network namespace name
	procs    []*exec.Cmd
	logDir   string
	upstream string
	// simulated hypervisors beyond this namespace (AddHypervisor)
	hypervisors []*Hypervisor
	underlayUp  bool
	laptops     []string
}

// Socket is the libvirt socket (the daemon's default path).
const Socket = "/var/run/libvirt/libvirt-sock"

// StartEnv creates the namespace and starts virtlogd and libvirtd inside it.
// A libvirtd already running on the machine is an error: it would own the
// same socket and state.
func StartEnv(logDir string) (*Env, error) {
	// The daemons of a harness stopped a moment ago (an earlier test in
	// this process) may still be on their way out: wait for them a while.
	var running []int
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if running = livePids("libvirtd"); len(running) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(running) > 0 {
		return nil, fmt.Errorf("a libvirtd is already running (pid %v); the tests run their own inside a network namespace: stop it first (systemctl stop libvirtd libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket, or kill it)", running)
	}
	e := &Env{NS: fmt.Sprintf("labctl-test-%d", os.Getpid()), logDir: logDir}
	if err := run("ip", "netns", "add", e.NS); err != nil {
		return nil, err
	}
	if err := run("ip", "-n", e.NS, "link", "set", "lo", "up"); err != nil {
		e.Stop()
		return nil, err
	}
	for _, d := range []string{"virtlogd", "libvirtd"} {
		if err := e.startDaemon(d); err != nil {
			e.Stop()
			return nil, err
		}
	}
	if err := e.waitSocket(); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// startDaemon starts d under tini inside the namespace, its output
// appended to d.log in the log directory.
func (e *Env) startDaemon(d string) error {
	os.Remove("/run/" + d + ".pid")
	logf, err := os.OpenFile(filepath.Join(e.logDir, d+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("ip", "netns", "exec", e.NS, "tini", "-s", "-g", "--", d)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", d, err)
	}
	e.procs = append(e.procs, cmd)
	go func() { cmd.Wait(); logf.Close() }()
	return nil
}

// waitSocket waits for libvirtd to accept connections.
func (e *Env) waitSocket() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unix", Socket); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("libvirtd did not open %s within 30s; see %s", Socket, filepath.Join(e.logDir, "libvirtd.log"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// KillLibvirtd kills libvirtd with SIGKILL, as a crash would: the VMs it
// started go on running, its socket stops answering.
func (e *Env) KillLibvirtd() error {
	// By its pid file: a simulated hypervisor's libvirtd is another one.
	data, err := os.ReadFile("/run/libvirtd.pid")
	if err != nil {
		return fmt.Errorf("no libvirtd to kill: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range pids {
		for syscall.Kill(p, 0) == nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("libvirtd (pid %d) still there 10 s after SIGKILL", p)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// StartLibvirtd starts libvirtd again (after KillLibvirtd) and waits for
// its socket; it takes the running VMs back.
func (e *Env) StartLibvirtd() error {
	if err := e.startDaemon("libvirtd"); err != nil {
		return err
	}
	return e.waitSocket()
}

// Stop ends the daemons (and the VMs they still run) and removes the
// namespace.
func (e *Env) Stop() {
	for _, h := range e.hypervisors {
		h.Stop()
	}
	if len(e.hypervisors) > 0 {
		releaseSharedDir()
	}
	for i := len(e.procs) - 1; i >= 0; i-- {
		p := e.procs[i]
		if p.Process != nil {
			syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range e.procs {
		for p.ProcessState == nil && time.Now().Before(deadline) {
			if p.Process == nil || syscall.Kill(p.Process.Pid, 0) != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if p.Process != nil {
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		}
	}
	// QEMU processes started by libvirtd live in their own process groups.
	if pids, err := nsPids(e.NS); err == nil {
		for _, pid := range pids {
			if pid == os.Getpid() {
				continue
			}
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	run("ip", "netns", "delete", e.NS)
	for _, l := range e.laptops {
		run("ip", "netns", "delete", l)
	}
	if e.upstream != "" {
		run("ip", "netns", "delete", e.upstream)
	}
}

// nsPids lists processes in the namespace.
// livePids are the processes named name that are not zombies.
func livePids(name string) []int {
	out, err := exec.Command("pgrep", "-x", name).Output()
	if err != nil {
		return nil
	}
	var live []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone meanwhile
		}
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue
		}
		live = append(live, pid)
	}
	return live
}

// waitGone waits up to d for the processes to end (or become zombies).
func waitGone(pids []int, d time.Duration) {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		alive := false
		for _, pid := range pids {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err == nil {
				if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z' {
					alive = true
				}
			}
		}
		if !alive {
			return
		}
	}
}

func nsPids(ns string) ([]int, error) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// Dial connects from inside the namespace.
func (e *Env) Dial(ctx context.Context, network, addr string) (c net.Conn, err error) {
	err = InNetns(e.NS, func() error {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// InNetns runs fn on an OS thread that has joined network namespace ns:
// sockets fn opens belong to ns. The thread goes back before it is handed
// to other goroutines; if it cannot, it stays locked and is discarded.
func InNetns(ns string, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer unix.Close(orig)
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		err = fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- err
	}()
	return <-ch
}

// Command returns a command that runs inside the namespace.
func (e *Env) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", e.NS, name}, args...)...)
}

// Exit runs cmd with empty input and returns its combined output and exit
// status; an error is only one that kept it from running.
func Exit(cmd *exec.Cmd) (string, int, error) {
	if cmd.Stdin == nil {
		cmd.Stdin = strings.NewReader("")
	}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode(), nil
	}
	return string(out), 0, err
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Virsh runs virsh against the harness's libvirtd and returns its output.
func Virsh(args ...string) (string, error) {
	out, err := exec.Command("virsh", append([]string{"-c", "qemu:///system"}, args...)...).CombinedOutput()
	return string(out), err
}

// Leftovers lists the libvirt objects of a lab that still exist: domains
// and networks whose name contains the lab's prefix, and its volumes.
func Leftovers(lab, pool string) ([]string, error) {
	return leftovers(lab, pool, Virsh)
}

func leftovers(lab, pool string, virsh func(...string) (string, error)) ([]string, error) {
	var left []string
	doms, err := virsh("list", "--all", "--name")
	if err != nil {
		return nil, fmt.Errorf("virsh list: %v: %s", err, doms)
	}
	for _, d := range strings.Fields(doms) {
		if strings.HasPrefix(d, "labctl-"+lab+"-") {
			left = append(left, "domain "+d)
		}
	}
	nets, err := virsh("net-list", "--all", "--name")
	if err != nil {
		return nil, fmt.Errorf("virsh net-list: %v: %s", err, nets)
	}
	for _, n := range strings.Fields(nets) {
		if strings.HasPrefix(n, "labctl-"+lab+"-") {
			left = append(left, "network "+n)
		}
	}
	vols, err := virsh("vol-list", pool)
	if err == nil { // no pool, no volumes
		for _, l := range strings.Split(vols, "\n") {
			f := strings.Fields(l)
			if len(f) > 0 && strings.HasPrefix(f[0], "labctl_"+lab+"_") {
				left = append(left, "volume "+f[0])
			}
		}
	}
	return left, nil
}

// Upstream is the "outside" the labs ping: a host in a namespace of its own,
// behind a veth link from the harness's namespace, with an address from
// TEST-NET-3 (203.0.113.0/24) that exists nowhere but here. The NAT
// network's masquerading carries the nodes' traffic to it.
const (
	UpstreamAddr    = "203.0.113.10"
	upstreamGateway = "203.0.113.1"
	upstreamNet     = "203.0.113.0/24"
)

// AddUpstream creates the upstream host. Stop removes it.
func (e *Env) AddUpstream() error {
	up := e.NS + "-up"
	cmds := [][]string{
		{"ip", "netns", "add", up},
		{"ip", "-n", up, "link", "set", "lo", "up"},
		{"ip", "-n", e.NS, "link", "add", "lcup0", "type", "veth", "peer", "name", "lcup1", "netns", up},
		{"ip", "-n", e.NS, "addr", "add", upstreamGateway + "/24", "dev", "lcup0"},
		{"ip", "-n", e.NS, "link", "set", "lcup0", "up"},
		{"ip", "-n", up, "addr", "add", UpstreamAddr + "/24", "dev", "lcup1"},
		{"ip", "-n", up, "link", "set", "lcup1", "up"},
		{"ip", "-n", up, "route", "add", "default", "via", upstreamGateway},
		{"ip", "netns", "exec", e.NS, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
	}
	for _, c := range cmds {
		if err := run(c[0], c[1:]...); err != nil {
			return err
		}
	}
	e.upstream = up
	return nil
}
