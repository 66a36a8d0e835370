package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/internal/testlab"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/plan/plantest"
	"github.com/labctl/labctl/vm"
	"golang.org/x/crypto/ssh"
)

const vmLab = "itest-vm"

// twoNodes is the lab the test brings up: the default networks, two nodes,
// the plain image (Docker installed by up, from the offline bundle).
const twoNodes = `image: debian-12
nodes:
  - name: node1
  - name: node2
`

const itLab2 = "itest-vm2"

// otherLab is a second lab brought up beside the first: one node, its own
// subnets.
const otherLab = `image: debian-12
networks:
  nat:
    subnet: 192.168.243.0/24
  hostonly:
    subnet: 192.168.244.0/24
vlans: []
nodes:
  - name: solo
    memory: 768MiB
`

// TestVMLifecycleForReal boots a two-node lab from the built image inside
// the harness's network namespace: interrupted and resumed `up` beside a
// second lab, libvirtd killed, the lab's lock; the resumed `up` provisions
// Docker from the offline bundle with sshd stopped on a node mid-install
// (provisionChecks then checks what provisioning promises); status, the
// domains' XML, SSH with pinned host keys, then `down` without a state
// file, and checks with virsh that nothing of the lab is left.
func TestVMLifecycleForReal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	h := testlab.Start(t, ctx, testlab.Setup{Lab: vmLab, Topology: twoNodes, Tools: []string{"ssh"},
		Images: []string{"debian-12", "docker.io-debian-12", "busybox", "nginx"}})
	env, c, work := h.Env, h.CLI, h.Work
	// labctl adds the lab's ssh config to ~/.ssh/config: the test's own.
	home := filepath.Join(work, "home")
	os.MkdirAll(home, 0o700)
	c.ExtraEnv = []string{"HOME=" + home}
	lp := plantest.New(t, vmLab, twoNodes)
	k := keys.Lab{Dir: c.LabDir(), Lab: vmLab}

	// 1. Faults while labs come up, on a fresh pool: `up` of this lab
	// and of a second lab (other subnets) at once; this lab's `up` is
	// killed (as by a crash) once its nodes are being created, then
	// libvirtd is killed (as by a crash) while the second lab's `up` runs.
	other := filepath.Join(work, "other.yaml")
	os.WriteFile(other, []byte(otherLab), 0o644)
	c2 := *c
	c2.Lab, c2.File = itLab2, other
	if _, _, err := c2.Run(ctx, "down"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Down(t) })
	start := time.Now()
	up := c.Cmd(ctx, "up", "-v", "--no-provision")
	var upErr testenv.Buffer
	up.Stderr = &upErr
	up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	up2 := c2.Cmd(ctx, "up", "-v", "--no-provision")
	var up2Err testenv.Buffer
	up2.Stderr = &up2Err
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	if err := up2.Start(); err != nil {
		t.Fatal(err)
	}
	up2Done := make(chan error, 1)
	go func() { up2Done <- up2.Wait() }()
	for !strings.Contains(upErr.String(), "starting") && time.Since(start) < 5*time.Minute {
		time.Sleep(200 * time.Millisecond)
	}
	syscall.Kill(-up.Process.Pid, syscall.SIGKILL)
	up.Wait()
	t.Logf("killed the first `up` after %s; its log ended:\n%s", time.Since(start).Round(time.Second), testlab.LastLines(upErr.String(), 8))
	for !strings.Contains(up2Err.String(), "starting") && time.Since(start) < 5*time.Minute {
		time.Sleep(200 * time.Millisecond)
	}
	if err := env.KillLibvirtd(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	select {
	case err := <-up2Done:
		t.Logf("FAULT libvirtd killed %s into lab %s's `up`: it ended %s later (err=%v):\n%s", killed.Sub(start).Round(time.Second), itLab2,
			time.Since(killed).Round(time.Second), err, testlab.LastLines(up2Err.String(), 6))
		if err == nil || !strings.Contains(up2Err.String(), "libvirtd at qemu:///system closed the connection") {
			t.Errorf("`up` with libvirtd killed: err=%v, and no error naming libvirtd", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("`up` went on for 2 minutes after libvirtd was killed:\n%s", testlab.LastLines(up2Err.String(), 10))
	}
	if err := env.StartLibvirtd(); err != nil {
		t.Fatal(err)
	}

	// 2. `up` of both labs again, at once: both converge, and `down`
	// of a lab while its `up` runs is refused by the lab's lock.
	start = time.Now()
	up2 = c2.Cmd(ctx, "up", "--no-provision")
	var again testenv.Buffer
	up2.Stderr = &again
	if err := up2.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { up2Done <- up2.Wait() }()
	lockChecked := make(chan struct{})
	go func() {
		defer close(lockChecked)
		time.Sleep(3 * time.Second)
		_, stderr, err := c2.Run(ctx, "down")
		if err == nil || !strings.Contains(stderr, "lab "+itLab2+" is in use by pid") {
			t.Errorf("`down` during `up` was not refused by the lock: %v\n%s", err, stderr)
		}
	}()
	// 2. `up` again converges, and provisions the nodes: Docker from the
	// offline bundle, with sshd stopped for 20 s on node2 mid-install.
	out := upWithSSHDFault(t, ctx, env, c, lp, k)
	t.Logf("TIMING second up (resumed beside another lab's, provisioning, sshd stopped for 20 s on %s): %s", lp.Nodes[1].Name, time.Since(start).Round(time.Second))
	if err := <-up2Done; err != nil {
		t.Fatalf("lab %s's `up` beside this one's: %v\n%s", itLab2, err, testlab.LastLines(again.String(), 20))
	}
	<-lockChecked
	t.Logf("FAULT both labs up after libvirtd came back in %s", time.Since(start).Round(time.Second))
	if out, _, err := c2.Run(ctx, "status"); err != nil || !strings.Contains(out, "running") {
		t.Errorf("status of lab %s: %v\n%s", itLab2, err, out)
	}
	if _, _, err := c2.Run(ctx, "down"); err != nil {
		t.Error(err)
	}
	var st struct {
		Phases []struct {
			Name     string
			Node     string
			Duration time.Duration `json:"duration_ns"`
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines[:len(lines)-1] {
		var ev struct{ Type, Message string }
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Type != "event" {
			t.Errorf("up --output json: not an event line: %q", l)
		}
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &st); err != nil {
		t.Fatalf("up --output json: %v\n%s", err, out)
	}
	for _, p := range st.Phases {
		t.Logf("TIMING phase %-16s %-6s %6.1fs", p.Name, p.Node, p.Duration.Seconds())
	}

	// 3. status shows both nodes running with the planned MACs and addresses.
	out, _, err := c.Run(ctx, "status", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var status struct {
		Nodes []vm.NodeStatus
	}
	if err := json.Unmarshal([]byte(out), &status); err != nil {
		t.Fatal(err)
	}
	planOut, _, _ := c.Run(ctx, "plan", "--output", "json")
	var plan struct {
		Nodes []struct {
			Name    string
			Domain  string
			DiskGiB uint64 `json:"disk_gib"`
			NICs    []struct{ MAC, Address, Network string }
		}
	}
	json.Unmarshal([]byte(planOut), &plan)
	if len(status.Nodes) != 2 || len(plan.Nodes) != 2 {
		t.Fatalf("status %+v / plan %+v", status, plan)
	}
	for i, n := range status.Nodes {
		if n.State != "running" {
			t.Errorf("%s is %s", n.Name, n.State)
		}
		for j, nic := range n.NICs {
			want := plan.Nodes[i].NICs[j]
			if !nic.Defined || nic.MAC != want.MAC || nic.Address != want.Address {
				t.Errorf("%s %s: status %+v, plan %+v", n.Name, nic.Role, nic, want)
			}
		}
		// 4. virsh shows the NICs on the planned networks, with the
		// planned MACs, and labctl's metadata.
		x, err := testlab.Virsh("dumpxml", plan.Nodes[i].Domain)
		if err != nil {
			t.Fatalf("virsh dumpxml: %v", err)
		}
		for _, nic := range plan.Nodes[i].NICs {
			if !strings.Contains(x, "<mac address='"+nic.MAC+"'/>") || !strings.Contains(x, "<source network='"+nic.Network+"'") {
				t.Errorf("%s: dumpxml lacks NIC %s on %s", n.Name, nic.MAC, nic.Network)
			}
		}
		if !strings.Contains(x, vm.Namespace) || !strings.Contains(x, `lab="`+vmLab+`"`) || !strings.Contains(x, `node="`+n.Name+`"`) {
			t.Errorf("%s: dumpxml lacks labctl metadata:\n%s", n.Name, x)
		}
	}

	// 5. SSH with the lab key, the host key pinned (a wrong key would fail).
	labDir := c.LabDir()
	user, err := k.User()
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := user.Signer()
	for _, n := range plan.Nodes {
		host, err := k.Host(n.Name)
		if err != nil {
			t.Fatal(err)
		}
		addr := strings.Split(n.NICs[1].Address, "/")[0] + ":22"
		conn, err := env.Dial(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		cc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
			User: "lab", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.FixedHostKey(host.Public), Timeout: 30 * time.Second,
		})
		if err != nil {
			t.Fatalf("%s: ssh: %v", n.Name, err)
		}
		client := ssh.NewClient(cc, chans, reqs)
		sess, _ := client.NewSession()
		got, err := sess.CombinedOutput("hostname; ip -br link show ens33.20; ip -br link show ens33.30; echo seed: $(systemctl is-active labctl-seed.service); test -e /var/lib/labctl/seeded && echo SEEDED; echo rootfs: $(findmnt -bno SIZE /); id; sudo -n true && echo SUDO-OK; sudo passwd -S lab; sudo sshd -T | grep -E '^(passwordauthentication|kbdinteractiveauthentication) '; echo kvm-modules: $(grep -cE '^kvm' /proc/modules)")
		client.Close()
		if err != nil {
			t.Fatalf("%s: %v: %s", n.Name, err, got)
		}
		t.Logf("%s:\n%s", n.Name, got)
		// The first boot applied the seed (labctl-seed.service, no
		// cloud-init): hostname, VLANs, the user (sudo, locked password),
		// and the root file system grown to the node's disk.
		// No KVM modules autoloaded at boot (the image blacklists them).
		for _, want := range []string{n.Name + "\n", "ens33.20@ens33", "ens33.30@ens33", "seed: active\n", "SEEDED", "(sudo)", "SUDO-OK", "lab L ", "passwordauthentication no", "kbdinteractiveauthentication no", "kvm-modules: 0\n"} {
			if !strings.Contains(string(got), want) {
				t.Errorf("%s: output lacks %q", n.Name, want)
			}
		}
		var rootfs uint64
		for _, l := range strings.Split(string(got), "\n") {
			if v, ok := strings.CutPrefix(l, "rootfs: "); ok {
				rootfs, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			}
		}
		if rootfs < (n.DiskGiB<<30)*9/10 {
			t.Errorf("%s: root file system is %d bytes: not grown to the %d GiB disk", n.Name, rootfs, n.DiskGiB)
		}
		// A different key for the same address is refused.
		other, _ := keys.Generate("impostor")
		conn2, err := env.Dial(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, err = ssh.NewClientConn(conn2, addr, &ssh.ClientConfig{
			User: "lab", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.FixedHostKey(other.Public), Timeout: 30 * time.Second,
		})
		if err == nil {
			t.Errorf("%s: a wrong pinned host key was accepted", n.Name)
		}
	}

	dnsChecks(t, ctx, env, lp)
	// exec passes several COMMAND words to the node's program as they are.
	words := []string{"a b", "$HOME", "it's", "`id`"}
	if out, stderr, err := c.Run(ctx, append([]string{"exec", lp.Nodes[0].Name, "--", "printf", "[%s]"}, words...)...); err != nil || out != "[a b][$HOME][it's][`id`]" {
		t.Errorf("exec with several words: %q, %v\n%s", out, err, stderr)
	}
	provisionChecks(t, ctx, env, c, lp, k, work)

	// 6. `down` without the state file leaves nothing of the lab.
	if err := os.Remove(filepath.Join(labDir, "state.json")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Run(ctx, "down"); err != nil {
		t.Fatal(err)
	}
	left, err := testlab.Leftovers(vmLab, "labctl")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Fatalf("after down: %v", left)
	}
}

// dnsChecks asks the lab's NAT network's DNS (libvirt's dnsmasq, which the
// nodes' resolv.conf names) what the nodes ask it. It must answer the node
// names itself: each node's host-only address for its name, no IPv6
// address (an answer, not silence), and "no such host" for an unknown
// plain name. A question it forwarded upstream would time out here (the
// harness's namespace has no upstream), so a timeout is the failure this
// tells apart from an answer; no deadline of the test's own decides it.
func dnsChecks(t *testing.T, ctx context.Context, env *testlab.Env, lp *plan.Plan) {
	t.Helper()
	server := net.JoinHostPort(strings.Split(lp.Net(plan.RoleNAT).Host, "/")[0], "53")
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return env.Dial(ctx, network, server)
	}}
	for _, n := range lp.Nodes {
		want := n.Addr(plan.RoleHostOnly)
		got, err := r.LookupIP(ctx, "ip4", n.Hostname)
		if err != nil || len(got) != 1 || got[0].String() != want {
			t.Errorf("DNS at %s: A %s = %v, %v; want %s", server, n.Hostname, got, err, want)
		}
		got, err = r.LookupIP(ctx, "ip6", n.Hostname)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Errorf("DNS at %s: AAAA %s = %v, %v; want an answer of no address, not a timeout", server, n.Hostname, got, err)
		}
	}
	got, err := r.LookupHost(ctx, "puer")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("DNS at %s: puer (no such node) = %v, %v; want no such host at once, not a timeout", server, got, err)
	}
}
