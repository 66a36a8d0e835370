package hypervisor

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/internal/testlab"
	"github.com/labctl/labctl/plan"
	"golang.org/x/crypto/ssh"
)

// newKey writes a private key file for ssh and returns its public line.
func newKey(t *testing.T, file string) string {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(pub)
	return string(ssh.MarshalAuthorizedKey(sp))
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// A key is taken from its file as the key alone: options and comments
// there (a hostile seat directory, a hand-edited file) do not reach the
// jump host; each seat's line permits only its own nodes.
func TestJumpHostAuthorizedKeys(t *testing.T) {
	dir := t.TempDir()
	k1 := newKey(t, filepath.Join(dir, "k1"))
	k2 := newKey(t, filepath.Join(dir, "k2"))
	hostile := `command="/bin/sh",permitopen="*:*" ` + strings.TrimSpace(k2) + " x\npermitopen=\"*:*\" " + k1
	d := JumpHost{Workshop: "ws", Listen: ap("198.51.100.1:2222"), Seats: []JumpSeat{
		{Seat: 1, Key: k1, Nodes: []netip.AddrPort{ap("10.200.1.11:22"), ap("10.200.1.12:22")}},
		{Seat: 2, Key: hostile, Nodes: []netip.AddrPort{ap("10.200.3.11:22")}},
	}}
	got, err := d.AuthorizedKeys()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), got)
	}
	want1 := `restrict,port-forwarding,permitopen="10.200.1.11:22",permitopen="10.200.1.12:22" ` + strings.TrimSpace(k1) + " seat-01"
	want2 := `restrict,port-forwarding,permitopen="10.200.3.11:22" ` + strings.TrimSpace(k2) + " seat-02"
	if lines[0] != want1 || lines[1] != want2 {
		t.Errorf("authorized_keys:\n%s\nwant:\n%s\n%s", got, want1, want2)
	}
	for _, bad := range []JumpHost{
		{Workshop: "ws", Seats: []JumpSeat{{Seat: 1, Key: k1, Nodes: []netip.AddrPort{ap("10.0.0.1:22")}}, {Seat: 2, Key: k1, Nodes: []netip.AddrPort{ap("10.0.0.2:22")}}}},
		{Workshop: "ws", Seats: []JumpSeat{{Seat: 1, Key: "ssh-ed25519 not-base64", Nodes: []netip.AddrPort{ap("10.0.0.1:22")}}}},
		{Workshop: "ws", Seats: []JumpSeat{{Seat: 1, Key: k1}}},
		{Workshop: "ws", Seats: []JumpSeat{{Seat: 1, Key: k1, Nodes: []netip.AddrPort{ap("[fd00::1]:22")}}}},
	} {
		if _, err := bad.AuthorizedKeys(); err == nil {
			t.Errorf("accepted %+v", bad.Seats)
		}
	}
	for _, name := range []string{"", "WS", "a/../b", "x y", "ws\nListenAddress 0.0.0.0"} {
		if _, err := (JumpHost{Workshop: name, Listen: ap("198.51.100.1:2222")}).SSHDConfig(); err == nil {
			t.Errorf("workshop name %q accepted", name)
		}
	}
	if _, err := (JumpHost{Workshop: "ws", Listen: ap("[::1]:2222")}).SSHDConfig(); err == nil {
		t.Error("an IPv6 jump host address accepted")
	}
}

// The jump host for real, in network namespaces: a "hypervisor" with the
// jump host's address on the room's LAN and two seats' "nodes" behind it (TCP
// listeners that say who they are), a "laptop" on the LAN with no route to
// the nodes. With plain OpenSSH and a seat's key, the laptop reaches its
// own nodes' SSH port and nothing else; a key the jump host does not know is
// refused; closing the jump host removes it and its account.
func TestJumpHostForwardsEachSeatToItsOwnNodesOnly(t *testing.T) {
	testenv.Integration(t, "ssh", "ssh-keygen", "/usr/sbin/sshd", "ss", "useradd")
	pid := os.Getpid()
	hv, laptop := fmt.Sprintf("lcdoor-hv-%d", pid), fmt.Sprintf("lcdoor-lt-%d", pid)
	for _, n := range []string{hv, laptop} {
		run(t, "ip", "netns", "add", n)
		defer exec.Command("ip", "netns", "delete", n).Run()
	}
	in := func(ns string, args ...string) {
		t.Helper()
		run(t, append([]string{"ip", "netns", "exec", ns}, args...)...)
	}
	run(t, "ip", "-n", hv, "link", "add", "lan", "type", "veth", "peer", "name", "lan", "netns", laptop)
	in(hv, "ip", "addr", "add", "198.51.100.1/24", "dev", "lan")
	in(laptop, "ip", "addr", "add", "198.51.100.50/24", "dev", "lan")
	for _, a := range []string{"10.200.1.11/32", "10.200.3.11/32"} {
		in(hv, "ip", "addr", "add", a, "dev", "lo")
	}
	for _, ns := range []string{hv, laptop} {
		in(ns, "ip", "link", "set", "lo", "up")
		in(ns, "ip", "link", "set", "lan", "up")
	}
	// The nodes, and two services a forward must not reach: another port
	// of seat 1's node, and a port on the hypervisor's LAN address.
	for addr, says := range map[string]string{"10.200.1.11:22": "seat-1-node1", "10.200.3.11:22": "seat-2-node1", "10.200.1.11:2375": "seat-1-docker", "198.51.100.1:22": "hypervisor-sshd"} {
		var ln net.Listener
		if err := testlab.InNetns(hv, func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func(ln net.Listener, says string) {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintln(c, says)
				c.Close()
			}
		}(ln, says)
	}

	dir := t.TempDir()
	k1, k2 := newKey(t, filepath.Join(dir, "seat1")), newKey(t, filepath.Join(dir, "seat2"))
	newKey(t, filepath.Join(dir, "stranger"))
	workshop := fmt.Sprintf("itdoor%d", pid)
	d := JumpHost{Workshop: workshop, Listen: ap("198.51.100.1:2222"), Seats: []JumpSeat{
		{Seat: 1, Key: k1, Nodes: []netip.AddrPort{ap("10.200.1.11:22")}},
		{Seat: 2, Key: k2, Nodes: []netip.AddrPort{ap("10.200.3.11:22")}},
	}}
	h := &Host{HV: plan.Hypervisor{URI: "qemu:///system"}, wrap: []string{"ip", "netns", "exec", hv}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	defer h.CloseJump(context.Background(), workshop)
	key, err := h.OpenJump(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	// Opening it again (seats added, or up run again) keeps the same host
	// key and a jump host that still answers.
	if again, err := h.OpenJump(ctx, d); err != nil || string(again.Marshal()) != string(key.Marshal()) {
		t.Fatalf("the jump host opened again: %v (host key kept: %v)", err, err == nil && string(again.Marshal()) == string(key.Marshal()))
	}
	kh := "[198.51.100.1]:2222 " + string(ssh.MarshalAuthorizedKey(key))
	os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(kh), 0o600)

	ssh := func(keyFile string, args ...string) (string, int) {
		t.Helper()
		argv := append([]string{"netns", "exec", laptop, "ssh", "-F", "none", "-p", "2222", "-i", keyFile, "-o", "IdentitiesOnly=yes",
			"-o", "UserKnownHostsFile=" + filepath.Join(dir, "known_hosts"), "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
			"-o", "ConnectTimeout=10", "-l", JumpUser}, args...)
		out, code, err := testlab.Exit(exec.CommandContext(ctx, "ip", argv...))
		if err != nil {
			t.Fatal(err)
		}
		return out, code
	}
	seat1, seat2 := filepath.Join(dir, "seat1"), filepath.Join(dir, "seat2")
	for _, c := range []struct {
		what, key string
		args      []string
		code      int
		says      string
	}{
		{"seat 1 to its node's SSH", seat1, []string{"-W", "10.200.1.11:22", "198.51.100.1"}, 0, "seat-1-node1"},
		{"seat 2 to its node's SSH", seat2, []string{"-W", "10.200.3.11:22", "198.51.100.1"}, 0, "seat-2-node1"},
		{"seat 1 to seat 2's node", seat1, []string{"-W", "10.200.3.11:22", "198.51.100.1"}, 255, "administratively prohibited"},
		{"seat 1 to another port of its node", seat1, []string{"-W", "10.200.1.11:2375", "198.51.100.1"}, 255, "administratively prohibited"},
		{"seat 1 to the hypervisor's sshd", seat1, []string{"-W", "198.51.100.1:22", "198.51.100.1"}, 255, "administratively prohibited"},
		{"seat 1 asking for a shell", seat1, []string{"198.51.100.1"}, 1, "This account is currently not available"},
		{"seat 1 running a command", seat1, []string{"198.51.100.1", "id"}, 1, "This account is currently not available"},
		{"seat 1 with a remote forward", seat1, []string{"-N", "-o", "ExitOnForwardFailure=yes", "-R", "8022:10.200.3.11:22", "198.51.100.1"}, 255, "remote port forwarding failed"},
		{"a key the jump host does not know", filepath.Join(dir, "stranger"), []string{"-W", "10.200.1.11:22", "198.51.100.1"}, 255, "Permission denied (publickey)"},
	} {
		out, code := ssh(c.key, c.args...)
		if code != c.code || !strings.Contains(out, c.says) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", c.what, code, c.code, c.says, out)
		}
		if c.code != 0 && strings.Contains(out, "seat-") {
			t.Errorf("%s: reached a node:\n%s", c.what, out)
		}
	}
	// Without the jump host, the laptop reaches no node: it has no route.
	if out, err := exec.Command("ip", "netns", "exec", laptop, "ssh", "-F", "none", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "10.200.1.11").CombinedOutput(); err == nil || !strings.Contains(string(out), "unreachable") {
		t.Errorf("the laptop reached a node directly: %v\n%s", err, out)
	}

	if said, err := h.CloseJump(ctx, workshop); err != nil || !strings.HasPrefix(said, "stopped its sshd (pid ") {
		t.Fatalf("closing: %q, %v", said, err)
	}
	if said, err := h.CloseJump(ctx, workshop); err != nil || said != "" {
		t.Errorf("closing again: %q, %v (want nothing found)", said, err)
	}
	if _, err := os.Stat(JumpRoot + "/" + workshop); !os.IsNotExist(err) {
		t.Errorf("the jump host's directory is still there: %v", err)
	}
	if out, _ := exec.Command("ip", "netns", "exec", hv, "ss", "-Hltn", "src 198.51.100.1:2222").Output(); len(out) > 0 {
		t.Errorf("the jump host still listens:\n%s", out)
	}
	if _, err := os.Stat(JumpRoot); os.IsNotExist(err) {
		if exec.Command("id", "-u", JumpUser).Run() == nil {
			t.Errorf("the last jump host closed and %s is still there", JumpUser)
		}
	}
}
