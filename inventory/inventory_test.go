package inventory

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/plan/plantest"
	"github.com/labctl/labctl/topology"
	"github.com/labctl/labctl/transport"
	"golang.org/x/crypto/ssh"
)

func testPlan(t testing.TB) *plan.Plan { return plantest.New(t, "inv", "") }

func writeKey(t *testing.T, dir string) (string, ssh.Signer) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "id")
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := ssh.NewSignerFromKey(priv)
	return path, s
}

func TestValidateNamesEveryProblemWithItsPath(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir)
	os.WriteFile(filepath.Join(dir, "notakey"), []byte("hello"), 0o600)
	src := `user: lab
key: id
hosts:
  - name: node1
    address: 192.168.242.11
  - name: node9
    address: 10.0.0.9:2222
    port: 22
  - name: node1
    address: ""
  - name: node2
    address: 192.168.242.12
    key: notakey
    nics: {nat: "bad name!", wan: eth9}
    addresses: {hostonly: 10.1.2.3/24, nat: 192.168.241.12/24}
`
	inv, err := Parse(filepath.Join(dir, "hosts.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ps := inv.Validate(testPlan(t))
	want := map[string]string{
		"hosts[1].name":               "not a node of the topology",
		"hosts[1].port":               "already has a port",
		"hosts[2].name":               "listed twice",
		"hosts[2].address":            "required",
		"hosts[3].key":                "not an unencrypted private key",
		"hosts[3].nics.nat":           "not an interface name",
		"hosts[3].nics.wan":           "unknown network role",
		"hosts[3].addresses.hostonly": "not in the topology's hostonly network",
	}
	got := map[string]string{}
	for _, p := range ps {
		got[p.Path] = p.Msg
		if p.Line == 0 {
			t.Errorf("%s: no line", p.Path)
		}
	}
	for path, msg := range want {
		if !strings.Contains(got[path], msg) {
			t.Errorf("%s: want %q, got %q", path, msg, got[path])
		}
	}
	if len(ps) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(ps), len(want), ps)
	}
}

// Addresses are host names or IP addresses (never something a tool could
// read as an option), keys are readable by their owner only, and an empty
// file points at commands that exist.
func TestValidateAddressesKeysAndEmptyFile(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir)
	loose := filepath.Join(dir, "loose")
	data, _ := os.ReadFile(filepath.Join(dir, "id"))
	os.WriteFile(loose, data, 0o644)
	os.Chmod(loose, 0o644)
	src := `user: lab
key: id
hosts:
  - {name: node1, address: "-oProxyCommand=id"}
  - {name: node2, address: "node2.lab.example:2222"}
  - {name: node3, address: "[fd00::3]:22", key: loose}
`
	inv, err := Parse(filepath.Join(dir, "hosts.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ps := inv.Validate(testPlan(t))
	want := map[string]string{
		"hosts[0].address": `"-oProxyCommand=id": want host or host:port, the host a name or an IP address`,
		"hosts[2].key":     "can be read by others (mode 0644); ssh would refuse it too: chmod 600",
	}
	got := map[string]string{}
	for _, p := range ps {
		got[p.Path] = p.Msg
	}
	for path, msg := range want {
		if !strings.Contains(got[path], msg) {
			t.Errorf("%s: want %q, got %q", path, msg, got[path])
		}
	}
	if len(ps) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(ps), len(want), ps)
	}
	for _, a := range []string{"-x", "a b", "host/path", "a..b", "[::1", "ho$t"} {
		if validHost(a) {
			t.Errorf("validHost(%q) = true", a)
		}
	}
	for _, a := range []string{"node1", "192.168.242.11", "fd00::3", "vm-1.lab.example", "host_1"} {
		if !validHost(a) {
			t.Errorf("validHost(%q) = false", a)
		}
	}
	_, err = Parse("empty.yaml", []byte("# nothing yet\n"))
	if err == nil || !strings.Contains(err.Error(), "labctl hosts import --vagrant") || strings.Contains(err.Error(), "labctl inventory default") {
		t.Errorf("empty inventory: %v", err)
	}
}

func TestUnknownFieldIsReportedWithItsLine(t *testing.T) {
	_, err := Parse("h.yaml", []byte("hosts:\n  - name: node1\n    adress: 1.2.3.4\n"))
	if err == nil || !strings.Contains(err.Error(), "h.yaml:3") || !strings.Contains(err.Error(), "address") {
		t.Errorf("got %v", err)
	}
}

func TestApplyRenamesNICsAndTheirVLANs(t *testing.T) {
	p := testPlan(t)
	inv := &Inventory{Hosts: []Host{
		{Name: "node2", Address: "h2", NICs: map[string]string{"nat": "eth1"}, Addresses: map[string]string{"hostonly": "192.168.242.52/24"}},
		{Name: "node1", Address: "h1"},
	}}
	q := inv.Apply(p)
	if len(q.Nodes) != 2 || q.Nodes[0].Name != "node1" || q.Nodes[1].Name != "node2" {
		t.Fatalf("nodes: %+v", q.Nodes)
	}
	n2 := q.Nodes[1]
	if n2.NIC(plan.RoleNAT).Guest != "eth1" || n2.NIC(plan.RoleHostOnly).Address != "192.168.242.52/24" {
		t.Errorf("node2 NICs: %+v", n2.NICs)
	}
	for _, v := range n2.VLANs {
		if v.Parent != "eth1" || !strings.HasPrefix(v.Name, "eth1.") {
			t.Errorf("VLAN %+v not moved to eth1", v)
		}
	}
	if q.Nodes[0].NIC(plan.RoleNAT).Guest != p.Nodes[0].NIC(plan.RoleNAT).Guest {
		t.Error("node1 changed")
	}
	if p.Nodes[1].NIC(plan.RoleNAT).Guest == "eth1" || len(p.Nodes) != 3 {
		t.Error("Apply changed the original plan")
	}
}

func TestFromVagrantSSHConfig(t *testing.T) {
	out := `Host node1
  HostName 192.168.121.10
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /home/u/lab/.vagrant/machines/node1/libvirt/private_key
  IdentityFile /home/u/.vagrant.d/insecure_private_key
  IdentitiesOnly yes
  LogLevel FATAL

Host node2
  HostName 127.0.0.1
  User vagrant
  Port 2200
  IdentityFile "/home/u/lab/.vagrant/machines/node2/libvirt/private_key"
`
	inv, err := FromSSHConfig(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Hosts) != 2 {
		t.Fatalf("%+v", inv.Hosts)
	}
	h1, h2 := inv.Hosts[0], inv.Hosts[1]
	if h1.Name != "node1" || h1.Address != "192.168.121.10" || h1.Port != 0 || h1.User != "vagrant" || !strings.HasSuffix(h1.Key, "node1/libvirt/private_key") {
		t.Errorf("node1: %+v", h1)
	}
	if h2.Addr() != "127.0.0.1:2200" || !strings.HasSuffix(h2.Key, "node2/libvirt/private_key") {
		t.Errorf("node2: %+v (%s)", h2, h2.Addr())
	}
	var b bytes.Buffer
	if err := inv.Marshal(&b, "from vagrant"); err != nil {
		t.Fatal(err)
	}
	back, err := Parse("x.yaml", b.Bytes())
	if err != nil || len(back.Hosts) != 2 || back.Hosts[1].Port != 2200 {
		t.Errorf("round trip: %v\n%s", err, b.String())
	}
	if _, err := FromSSHConfig(strings.NewReader("")); err == nil {
		t.Error("empty ssh-config accepted")
	}
}

// sshServer accepts SSH handshakes from userKey with hostKey until the
// test ends, on a loopback port.
func sshServer(t *testing.T, hostKey ssh.Signer, userKey ssh.PublicKey) string {
	t.Helper()
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), userKey.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("unknown key")
	}}
	cfg.AddHostKey(hostKey)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					c.Close()
					return
				}
				go ssh.DiscardRequests(reqs)
				for ch := range chans {
					ch.Reject(ssh.Prohibited, "no channels here")
				}
				sc.Close()
			}()
		}
	}()
	return l.Addr().String()
}

func hostKey(t *testing.T) ssh.Signer {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTrustOnFirstUseThenPinned(t *testing.T) {
	dir := t.TempDir()
	keyFile, user := writeKey(t, dir)
	hk := hostKey(t)
	addr := sshServer(t, hk, user.PublicKey())
	inv := &Inventory{User: "lab", Key: keyFile, Hosts: []Host{{Name: "node1", Address: addr}}}
	kh := &transport.KnownHosts{Path: filepath.Join(dir, "known")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() error {
		var announced []string
		tg, err := inv.Target(inv.Hosts[0], kh, func(n, fp string) { announced = append(announced, n+" "+fp) })
		if err != nil {
			return err
		}
		c, err := transport.Dial(ctx, tg, transport.DialOptions{Timeout: 5 * time.Second})
		if err != nil {
			return err
		}
		c.Close()
		if len(announced) > 0 && announced[0] != "node1 "+ssh.FingerprintSHA256(hk.PublicKey()) {
			t.Errorf("announced %v", announced)
		}
		return nil
	}
	// First contact: accepted, pinned.
	if err := dial(); err != nil {
		t.Fatal(err)
	}
	pinned, err := kh.Get("node1")
	if err != nil || pinned == nil || !bytes.Equal(pinned.Marshal(), hk.PublicKey().Marshal()) {
		t.Fatalf("not pinned: %v %v", pinned, err)
	}
	if fi, _ := os.Stat(kh.Path); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("known hosts file mode: %v", fi)
	}
	// Same key again: fine, nothing new pinned.
	if err := dial(); err != nil {
		t.Fatal(err)
	}
	// The host now offers another key: refused, and the pin stays.
	other := sshServer(t, hostKey(t), user.PublicKey())
	inv.Hosts[0].Address = other
	err = dial()
	var hke *transport.HostKeyError
	if !errors.As(err, &hke) || !strings.Contains(err.Error(), kh.Path) {
		t.Fatalf("a changed host key was not refused: %v", err)
	}
	again, _ := kh.Get("node1")
	if !bytes.Equal(again.Marshal(), hk.PublicKey().Marshal()) {
		t.Error("the pin changed")
	}
	if err := kh.Pin("node1", hostKey(t).PublicKey()); err == nil {
		t.Error("Pin replaced a pinned key")
	}
}

// TestFixtures loads every file in testdata: the valid ones validate
// against the default topology; each invalid one produces exactly the
// problems its "# want:" lines list. The files name keys beside them:
// id (a private key, 0600), id.pub (its public key, 0644), loose (the
// same private key, 0644), notakey.
func TestFixtures(t *testing.T) {
	dir := t.TempDir()
	_, signer := writeKey(t, dir)
	key, _ := os.ReadFile(filepath.Join(dir, "id"))
	os.WriteFile(filepath.Join(dir, "id.pub"), ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644)
	os.WriteFile(filepath.Join(dir, "loose"), key, 0o644)
	os.Chmod(filepath.Join(dir, "loose"), 0o644)
	os.WriteFile(filepath.Join(dir, "notakey"), []byte("hello"), 0o600)
	check := func(f string) (string, topology.Problems, error) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.Base(f))
		os.WriteFile(dst, src, 0o644)
		inv, err := Load(dst)
		if err != nil {
			var ps topology.Problems
			if errors.As(err, &ps) {
				return string(src), ps, nil
			}
			return string(src), nil, err
		}
		return string(src), inv.Validate(testPlan(t)), nil
	}
	valid, _ := filepath.Glob("testdata/valid/*.yaml")
	for _, f := range valid {
		if _, ps, err := check(f); err != nil || len(ps) > 0 {
			t.Errorf("%s: %v %v", f, err, ps)
		}
	}
	invalid, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(invalid) < 15 {
		t.Errorf("%d invalid fixtures, want at least 15", len(invalid))
	}
	for _, f := range invalid {
		t.Run(f, func(t *testing.T) {
			src, ps, err := check(f)
			var wants []string
			for _, l := range strings.Split(src, "\n") {
				if w, ok := strings.CutPrefix(l, "# want: "); ok {
					wants = append(wants, w)
				}
			}
			if len(wants) == 0 {
				t.Fatal("fixture has no '# want:' lines")
			}
			msg := ""
			if err != nil {
				msg = err.Error()
			} else {
				msg = ps.Error()
				if len(ps) != len(wants) {
					t.Errorf("got %d problems, fixture lists %d:\n%s", len(ps), len(wants), msg)
				}
				for _, p := range ps {
					if p.Line == 0 {
						t.Errorf("%s has no line", p)
					}
				}
			}
			if msg == "" {
				t.Fatal("no error")
			}
			for _, w := range wants {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
		})
	}
}
