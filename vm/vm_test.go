package vm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/internal/golden"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/plan/plantest"
	"github.com/labctl/labctl/topology"
	"github.com/labctl/labctl/vm/vmtest"
	"golang.org/x/crypto/ssh"
	"libvirt.org/go/libvirtxml"
)

func testPlan(t *testing.T, lab string) *plan.Plan { return plantest.New(t, lab, "") }

func TestNetworkXMLGolden(t *testing.T) {
	p := testPlan(t, "default")
	for _, n := range p.Networks {
		x, err := NetworkXML(p, n)
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, filepath.Join("testdata", "network-"+n.Role+".xml"), []byte(x+"\n"))
		o, ok := ParseOwner(x)
		if !ok || o.Lab != "default" || o.Role != n.Role {
			t.Errorf("owner of %s: %+v %v", n.Name, o, ok)
		}
		var back libvirtxml.Network
		if err := back.Unmarshal(x); err != nil {
			t.Fatal(err)
		}
		// The network's DNS answers every node's name with its
		// host-only address and forwards no plain name upstream.
		if back.DNS == nil || back.DNS.ForwardPlainNames != "no" || len(back.DNS.Host) != len(p.Nodes) {
			t.Fatalf("%s: DNS %+v: want the %d node names, plain names not forwarded", n.Name, back.DNS, len(p.Nodes))
		}
		for i, h := range back.DNS.Host {
			o := p.Nodes[i]
			if h.IP != o.Addr(plan.RoleHostOnly) || len(h.Hostnames) != 1 || h.Hostnames[0].Hostname != o.Hostname {
				t.Errorf("%s: DNS host %d = %+v; want %s at %s", n.Name, i, h, o.Hostname, o.Addr(plan.RoleHostOnly))
			}
		}
		if n.Role == plan.RoleHostOnly && back.Forward != nil {
			t.Error("host-only network must have no forward element (isolated)")
		}
		if n.Role == plan.RoleNAT && (back.Forward == nil || back.Forward.Mode != "nat" || len(back.IPs[0].DHCP.Hosts) != 3) {
			t.Errorf("NAT network: %+v", back)
		}
	}
}

func TestDomainXMLGolden(t *testing.T) {
	p := testPlan(t, "default")
	spec := DomainSpec{
		Lab: "default", Node: p.Nodes[0], Type: "qemu", Pool: "labctl",
		DiskVolume: diskVolume("default", "node1"), SeedVolume: seedVolume("default", "node1"),
		Boot:       Boot{Kernel: "/pool/k", Initrd: "/pool/i", Cmdline: images.KernelCmdline},
		ConsoleLog: "/state/console/node1.log", TBCacheMiB: DefaultTBCacheMiB,
	}
	x, err := DomainXML(spec)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "domain-node1-kernel.xml"), []byte(x+"\n"))
	if !strings.Contains(x, `<memballoon model="none">`) {
		t.Error("an emulated domain got a balloon")
	}
	spec.Type, spec.Boot, spec.FreePageReporting = "kvm", Boot{}, true
	x, err = DomainXML(spec)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "domain-node1-kvm-disk.xml"), []byte(x+"\n"))
	if strings.Contains(x, "tb-cache") {
		t.Error("a KVM domain got a TCG translation cache")
	}
	o, ok := ParseOwner(x)
	if !ok || o.Lab != "default" || o.Node != "node1" {
		t.Errorf("owner %+v %v", o, ok)
	}
	if _, ok := ParseOwner("<domain><name>x</name></domain>"); ok {
		t.Error("object without metadata claimed")
	}
	if _, ok := ParseOwner(`<domain><metadata><other:owner xmlns:other="urn:x" lab="default"/></metadata></domain>`); ok {
		t.Error("foreign metadata claimed")
	}
}

func fixedHostKey(t *testing.T) *keys.Pair {
	// A fixed public key, and a stand-in private key whose body the test
	// can look for: the golden files must be stable and must not show it.
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	pub, _ := ssh.NewPublicKey(priv.Public())
	pem := "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0IGtleSBtYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----\n"
	return &keys.Pair{PrivatePEM: []byte(pem), Public: pub}
}

func TestSeedGolden(t *testing.T) {
	p := testPlan(t, "default")
	hk := fixedHostKey(t)
	s, err := MakeSeed(SeedInput{Plan: p, Node: p.Nodes[0], UserKey: "ssh-ed25519 AAAAtestkey labctl-default", HostKey: hk})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(s.UserData, []byte("c2VjcmV0IGtleSBtYXRlcmlhbA==")) {
		t.Fatal("user-data lacks the host private key")
	}
	red := redact(s.UserData)
	if bytes.Contains(red, []byte("c2VjcmV0IGtleSBtYXRlcmlhbA==")) || bytes.Contains(red, []byte("PRIVATE KEY")) {
		t.Fatalf("redact leaks the private key:\n%s", red)
	}
	golden.Check(t, filepath.Join("testdata", "seed-node1-user-data.yaml"), red)
	if rs := redact(s.Script); bytes.Contains(rs, []byte("c2VjcmV0IGtleSBtYXRlcmlhbA==")) || bytes.Contains(rs, []byte("PRIVATE KEY")) || !bytes.Contains(s.Script, []byte("c2VjcmV0IGtleSBtYXRlcmlhbA==")) {
		t.Fatalf("the script lacks the host key, or redact leaks it:\n%s", rs)
	}
	golden.Check(t, filepath.Join("testdata", "seed-node1-labctl-seed.sh"), redact(s.Script))
	if out, err := exec.Command("sh", "-n", "-c", string(s.Script)).CombinedOutput(); err != nil {
		t.Errorf("the first-boot script is not valid shell: %v\n%s", err, out)
	}
	golden.Check(t, filepath.Join("testdata", "seed-node1-meta-data.yaml"), s.MetaData)
	golden.Check(t, filepath.Join("testdata", "seed-node1-network-config.yaml"), s.NetworkConfig)
	var iso bytes.Buffer
	if err := s.ISO(&iso); err != nil {
		t.Fatal(err)
	}
	// Volume label at offset 0x8028 of the primary volume descriptor.
	if iso.Len() < 0x8028+6 || !strings.EqualFold(string(iso.Bytes()[0x8028:0x8028+6]), "cidata") {
		t.Error("ISO is not labelled cidata")
	}
	for _, name := range []string{"labctl-seed.sh", "user-data", "meta-data", "network-config"} {
		if !bytes.Contains(iso.Bytes(), []byte(name)) {
			t.Errorf("ISO lacks %s", name)
		}
	}
}

var _ API = (*vmtest.Libvirt)(nil)

var fakeSSH = vmtest.SSHGreeting

// testCache holds the plain image under its own name and the default
// image's (the tests' plans name none): the same fake files.
func testCache(t *testing.T) *images.Cache {
	return vmtest.Cache(t, nil, topology.PlainImage, topology.DefaultImage)
}

func testManager(t *testing.T, f *vmtest.Libvirt, lab string) *Manager {
	dir := t.TempDir()
	return NewManager(NewConn(f, nil), testPlan(t, lab).Parts()[0], Options{
		StateDir: dir, Keys: keys.Lab{Dir: dir, Lab: lab}, Cache: testCache(t), Dial: fakeSSH,
	})
}

// Every seed writes the lab's daemon.json (so dockerd starts configured,
// whether installed already or later); only an image with Docker installed
// gets the docker group from the seed: elsewhere it does not exist yet.
func TestSeedConfiguresDocker(t *testing.T) {
	daemon := []byte(`{"bip": "172.31.255.1/24"}` + "\n")
	for _, tc := range []struct {
		meta map[string]string
		want bool
	}{{nil, false}, {map[string]string{"docker": "installed"}, true}} {
		f := vmtest.New()
		dir := t.TempDir()
		m := NewManager(NewConn(f, nil), testPlan(t, "lab1").Parts()[0], Options{
			StateDir: dir, Keys: keys.Lab{Dir: dir, Lab: "lab1"}, Cache: vmtest.Cache(t, tc.meta, topology.PlainImage, topology.DefaultImage), Dial: fakeSSH,
			DockerConfig: daemon,
		})
		if err := m.Up(context.Background()); err != nil {
			t.Fatal(err)
		}
		iso := f.Pools["labctl"][seedVolume("lab1", "node2")]
		if len(iso) == 0 {
			t.Fatalf("no seed volume for node2 (pools: %v)", f.Pools)
		}
		gotFile := bytes.Contains(iso, []byte("path: /etc/docker/daemon.json")) && bytes.Contains(iso, daemon[:10])
		gotGroup := bytes.Contains(iso, []byte("- docker\n"))
		if !gotFile || gotGroup != tc.want {
			t.Errorf("image meta %v: daemon.json in seed %v (want true), docker group %v (want %v)", tc.meta, gotFile, gotGroup, tc.want)
		}
	}
}

func count(calls []string, prefix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func TestUpIsIdempotentAndDownRemovesEverything(t *testing.T) {
	f := vmtest.New()
	m := testManager(t, f, "lab1")
	ctx := context.Background()
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.Doms) != 3 || len(f.Nets) != 2 {
		t.Fatalf("after up: %d domains, %d networks", len(f.Doms), len(f.Nets))
	}
	for name, d := range f.Doms {
		if d.State != 1 {
			t.Errorf("%s not running", name)
		}
	}
	if n := count(f.Calls, "upload labctl-base_"); n != 3 {
		t.Errorf("%d base uploads, want 3 (disk, kernel, initrd)", n)
	}
	before := len(f.Calls)
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Calls[before:] {
		if strings.HasPrefix(c, "define") || strings.HasPrefix(c, "create") || strings.HasPrefix(c, "upload") || strings.HasPrefix(c, "start") {
			t.Errorf("second up changed something: %s", c)
		}
	}
	// A stopped node is started again; a missing one is recreated.
	f.Doms["labctl-lab1-node2"].State = 5
	delete(f.Doms, "labctl-lab1-node3")
	before = len(f.Calls)
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(f.Calls[before:], "\n")
	for _, want := range []string{"start domain labctl-lab1-node2", "define domain labctl-lab1-node3", "start domain labctl-lab1-node3"} {
		if !strings.Contains(got, want) {
			t.Errorf("third up did not %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "labctl-lab1-node1") {
		t.Errorf("third up touched node1:\n%s", got)
	}

	// Another lab's objects and a foreign domain on our network survive.
	other := testManager(t, f, "lab2")
	other.part.Networks[0].Subnet, other.part.Networks[1].Subnet = "10.1.0.0/24", "10.2.0.0/24"
	if err := other.Up(ctx); err != nil {
		t.Fatal(err)
	}
	f.Doms["someone-else"] = &vmtest.Dom{XML: `<domain type="kvm"><name>someone-else</name><devices><interface type="network"><source network="labctl-lab1-hostonly"/></interface></devices></domain>`}
	r, err := Down(ctx, m.c, "lab1", "labctl")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Domains) != 3 || len(r.Volumes) != 6 || len(r.Networks) != 1 || len(r.Kept) != 1 {
		t.Errorf("down: %+v", r)
	}
	if _, ok := f.Nets["labctl-lab1-hostonly"]; !ok {
		t.Error("a network still used by another domain was removed")
	}
	for name := range f.Doms {
		if strings.HasPrefix(name, "labctl-lab1-") {
			t.Errorf("domain %s left", name)
		}
	}
	for v := range f.Pools["labctl"] {
		if strings.HasPrefix(v, "labctl_lab1_") {
			t.Errorf("volume %s left", v)
		}
	}
	if len(f.Doms) != 4 { // lab2's three and someone-else
		t.Errorf("down removed other labs' domains: %d left", len(f.Doms))
	}

	// Base names the pool's copy of an image (what bench --vagrant boots);
	// DeleteVolumes removes by prefix and nothing else.
	disk, _, err := other.Base(ctx, "debian-12")
	if err != nil || !strings.Contains(disk, "base") {
		t.Errorf("Base: %q, %v", disk, err)
	}
	total := len(f.Pools["labctl"])
	gone, err := other.DeleteVolumes(ctx, "labctl_lab2_")
	if err != nil || len(gone) == 0 || len(f.Pools["labctl"]) != total-len(gone) {
		t.Errorf("DeleteVolumes: %v, %v; %d of %d volumes left", gone, err, len(f.Pools["labctl"]), total)
	}
	for v := range f.Pools["labctl"] {
		if strings.HasPrefix(v, "labctl_lab2_") {
			t.Errorf("volume %s left", v)
		}
	}
	if gone, err := other.DeleteVolumes(ctx, "no-such-prefix"); err != nil || len(gone) != 0 {
		t.Errorf("DeleteVolumes of nothing: %v, %v", gone, err)
	}
}

func TestUpRefusesForeignObjects(t *testing.T) {
	f := vmtest.New()
	f.Nets["labctl-lab1-nat"] = &vmtest.Net{XML: `<network><name>labctl-lab1-nat</name></network>`}
	err := testManager(t, f, "lab1").Up(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not belong to lab lab1") {
		t.Fatalf("err = %v", err)
	}
	f2 := vmtest.New()
	f2.Doms["labctl-lab1-node1"] = &vmtest.Dom{XML: `<domain><name>labctl-lab1-node1</name></domain>`}
	err = testManager(t, f2, "lab1").Up(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is not node node1 of lab lab1") {
		t.Fatalf("err = %v", err)
	}
}

func TestHungLibvirtCallIsBounded(t *testing.T) {
	f := vmtest.New()
	f.Hang = make(chan struct{})
	defer close(f.Hang)
	m := testManager(t, f, "lab1")
	m.c.timeout = 300 * time.Millisecond
	start := time.Now()
	err := m.Up(context.Background())
	if !errors.Is(err, ErrLost) {
		t.Fatalf("err = %v, want ErrLost", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("up took %s with a hung libvirt", time.Since(start))
	}
	// Every later call fails at once instead of hanging too.
	if err := m.c.Do(context.Background(), "anything", func(API) error { return nil }); !errors.Is(err, ErrLost) {
		t.Errorf("call after loss: %v", err)
	}
}

// An interrupted up's start request can complete in libvirtd after the
// next up read the domain's (network's) state: "already running" (active)
// is then success.
// A create that an interrupted up requested can complete in libvirtd after
// the next up looked: that up's own create then fails as a duplicate, and
// the object (this lab's) is adopted, for networks, volumes and domains;
// one of another lab is not.
func TestCreateCompletedByAnInterruptedUpIsAdopted(t *testing.T) {
	f := vmtest.New()
	m := testManager(t, f, "lab1")
	n := m.part.Nodes[0]
	f.DefineInFlight = map[string]bool{
		m.part.Networks[0].Name: true, n.Domain: true, diskVolume("lab1", n.Name): true,
	}
	if err := m.Up(context.Background()); err != nil {
		t.Fatalf("up while creates were in flight: %v", err)
	}
	if len(f.DefineInFlight) != 0 {
		t.Fatalf("the test did not exercise %v", f.DefineInFlight)
	}
	if f.Doms[n.Domain].State != libvirt.DomainRunning || !f.Nets[m.part.Networks[0].Name].Active {
		t.Error("the adopted domain or network was not started")
	}
	// Another lab's domain appearing under the name is not adopted.
	f2 := vmtest.New()
	m2 := testManager(t, f2, "lab1")
	n2 := m2.part.Nodes[0]
	other, err := DomainXML(DomainSpec{Lab: "lab2", Node: n2, Type: "qemu", Pool: "labctl", DiskVolume: "d", SeedVolume: "s", Boot: Boot{Kernel: "k", Initrd: "i"}})
	if err != nil {
		t.Fatal(err)
	}
	f2.HookDefine = func(name string) {
		if name == n2.Domain {
			f2.Doms[name] = &vmtest.Dom{XML: other, State: libvirt.DomainShutoff}
		}
	}
	if err := m2.Up(context.Background()); err == nil || !strings.Contains(err.Error(), "define domain "+n2.Domain) {
		t.Errorf("another lab's domain was adopted: %v", err)
	}
}

func TestStartCompletedByAnInterruptedUpIsAdopted(t *testing.T) {
	f := vmtest.New()
	m := testManager(t, f, "lab1")
	ctx := context.Background()
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	dom := m.part.Nodes[0].Domain
	f.Mu.Lock()
	f.Doms[dom].State = libvirt.DomainShutoff
	f.StartInFlight = map[string]bool{dom: true}
	f.Mu.Unlock()
	if err := m.Up(ctx); err != nil {
		t.Fatalf("second up: %v", err)
	}
	if f.Doms[dom].State != libvirt.DomainRunning {
		t.Errorf("%s not running", dom)
	}
	// The same for a network.
	net := m.part.Networks[0].Name
	f.Mu.Lock()
	f.Nets[net].Active = false
	f.StartInFlight = map[string]bool{net: true}
	f.Mu.Unlock()
	if err := m.Up(ctx); err != nil {
		t.Fatalf("up while network %s's start was in flight: %v", net, err)
	}
	if !f.Nets[net].Active {
		t.Errorf("%s not active", net)
	}
}

func TestCancelledUpStopsPromptly(t *testing.T) {
	f := vmtest.New()
	f.Hang = make(chan struct{})
	defer close(f.Hang)
	m := testManager(t, f, "lab1")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := m.Up(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("cancel took %s", time.Since(start))
	}
}

func TestWaitSSHEndsEarlyWhenTheVMStops(t *testing.T) {
	f := vmtest.New()
	m := testManager(t, f, "lab1")
	m.o.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, errors.New("connection refused")
	}
	n := m.part.Nodes[0]
	f.Doms[n.Domain] = &vmtest.Dom{XML: "<domain/>", State: 5}
	os.MkdirAll(filepath.Join(m.o.StateDir, "console"), 0o700)
	os.WriteFile(ConsoleLog(m.o.StateDir, n.Name), []byte("line1\nKernel panic - not syncing\n"), 0o600)
	start := time.Now()
	err := m.WaitSSHPort(context.Background(), n)
	if !errors.Is(err, ErrDomainStopped) || !strings.Contains(err.Error(), "Kernel panic") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

func TestSSHRetryDelay(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	unreachable := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}
	for _, tc := range []struct {
		err  error
		want time.Duration
	}{
		{refused, 200 * time.Millisecond},
		{fmt.Errorf("wrapped: %w", refused), 200 * time.Millisecond},
		{unreachable, 2 * time.Second},
		{context.DeadlineExceeded, 2 * time.Second},
		{errors.New("connection refused"), 2 * time.Second}, // a message is not the errno
	} {
		if got := sshRetryDelay(2*time.Second, tc.err); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.err, got, tc.want)
		}
	}
}

// TestWaitSSHAfterRefusals: a node that refuses three times and then
// greets is seen within a second, where the backoff alone (0.5 + 1 + 2 s)
// would have taken 3.5 s.
func TestWaitSSHAfterRefusals(t *testing.T) {
	f := vmtest.New()
	m := testManager(t, f, "lab1")
	n := m.part.Nodes[0]
	f.Doms[n.Domain] = &vmtest.Dom{XML: "<domain/>", State: 1}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-test\r\n"))
			c.Close()
		}
	}()
	attempts := 0
	m.o.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		attempts++
		if attempts <= 3 {
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
		}
		return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
	}
	start := time.Now()
	if err := m.WaitSSHPort(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if attempts != 4 {
		t.Errorf("%d attempts, want 4", attempts)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s after three refusals: the backoff, not the 200 ms retry", d)
	}
}

func TestAcceleration(t *testing.T) {
	f := vmtest.New()
	m := testManager(t, f, "lab1")
	if a, err := m.Acceleration(context.Background()); err != nil || a != "qemu" {
		t.Errorf("no vmx: %s %v", a, err)
	}
	m.part.Plan.Libvirt.Acceleration = "kvm"
	if _, err := m.Acceleration(context.Background()); err == nil {
		t.Error("kvm forced on a host without vmx/svm accepted")
	}
	f.KVMCaps = true
	if a, err := m.Acceleration(context.Background()); err != nil || a != "kvm" {
		t.Errorf("vmx: %s %v", a, err)
	}
	m.part.Plan.Libvirt.Acceleration = "qemu"
	if a, _ := m.Acceleration(context.Background()); a != "qemu" {
		t.Errorf("forced qemu: %s", a)
	}
}

func TestKVMModeWarning(t *testing.T) {
	for _, tc := range []struct {
		mode fs.FileMode
		warn bool
	}{{0o600, true}, {0o640, true}, {0o660, false}, {0o666, false}, {0o606, false}} {
		got := kvmModeWarning("/dev/kvm", tc.mode)
		if (got != "") != tc.warn {
			t.Errorf("mode %04o: warning %q, want one: %v", tc.mode, got, tc.warn)
		}
		if tc.warn && !strings.Contains(got, "chmod 0660 /dev/kvm") {
			t.Errorf("mode %04o: warning does not say what to do: %q", tc.mode, got)
		}
	}
	if w := KVMDeviceWarning(filepath.Join(t.TempDir(), "absent")); w != "" {
		t.Errorf("absent device: %q", w)
	}
	plain := filepath.Join(t.TempDir(), "kvm")
	os.WriteFile(plain, nil, 0o600)
	if w := KVMDeviceWarning(plain); w != "" {
		t.Errorf("a regular file is not a KVM device: %q", w)
	}
}

// Connect never reaches another daemon than the URI names: a remote
// qemu:// URI used to fall back to the local socket.
func TestConnectRefusesURIsItCannotHonour(t *testing.T) {
	t.Setenv("LABCTL_LIBVIRT_SOCKET", filepath.Join(t.TempDir(), "no-daemon-here"))
	for _, uri := range []string{"qemu://192.0.2.1/system", "qemu+tcp://192.0.2.1/system", "xen:///system", "qemu:///sytem", "", "qemu+ssh://root@192.0.2.1/system"} {
		_, err := Connect(context.Background(), uri)
		if err == nil || !strings.Contains(err.Error(), "libvirt URI") || strings.Contains(err.Error(), "no-daemon-here") {
			t.Errorf("Connect(%q): %v; want a URI error before any dial", uri, err)
		}
	}
}

// A libvirtd that accepts the connection and never answers (hung) costs
// ConnectTimeout, not the three minutes of an ordinary call, and the error
// says what to check.
func TestConnectToAHungDaemonIsBounded(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "libvirt-sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never answered
		}
	}()
	t.Setenv("LABCTL_LIBVIRT_SOCKET", sock)
	old := ConnectTimeout
	ConnectTimeout = 500 * time.Millisecond
	defer func() { ConnectTimeout = old }()
	start := time.Now()
	_, err = Connect(context.Background(), "qemu:///system")
	if err == nil || !strings.Contains(err.Error(), "did not answer within 500ms: it is hung or still starting") {
		t.Fatalf("Connect: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
}

// A call that fails because libvirtd ended the connection (killed,
// restarted) says so, names libvirt and what to do, and every later call
// fails the same way at once; the same failure on a live connection is an
// ordinary error.
func TestLibvirtdGoneIsErrLost(t *testing.T) {
	f := vmtest.New()
	gone := make(chan struct{})
	c := NewConn(f, nil)
	c.URI = "qemu:///system"
	c.gone = gone
	ctx := context.Background()
	// An answer from libvirt (no such domain) is quick and not a loss.
	lookup := func(a API) error { _, err := a.DomainLookupByName("nope"); return err }
	start := time.Now()
	if err := c.Do(ctx, "look up domain nope", lookup); !IsNoObject(err) || errors.Is(err, ErrLost) || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("live connection: %v after %s", err, time.Since(start))
	}
	// A failed write or read on the socket is what a call sees when
	// libvirtd goes.
	broken := func(API) error { return syscall.EPIPE }
	if err := c.Do(ctx, "define domain x", broken); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("live connection, socket error: %v", err)
	}
	close(gone)
	err := c.Do(ctx, "define domain x", broken)
	if !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "libvirtd at qemu:///system closed the connection during define domain x") {
		t.Fatalf("after libvirtd went: %v", err)
	}
	start = time.Now()
	if err := c.Do(ctx, "list domains", func(API) error { return nil }); !errors.Is(err, ErrLost) || time.Since(start) > time.Second {
		t.Errorf("a later call: %v after %s", err, time.Since(start))
	}
}

// Labs finds every lab that owns a domain or network, without any state.
func TestLabsFoundByMetadata(t *testing.T) {
	f := vmtest.New()
	for _, lab := range []string{"ws-s01", "ws-s02"} {
		if err := testManager(t, f, lab).Up(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Labs(context.Background(), NewConn(f, nil))
	if err != nil || strings.Join(got, " ") != "ws-s01 ws-s02" {
		t.Errorf("Labs: %v %v", got, err)
	}
}

// A snapshot is taken once per node (memory in, the read-only seed left
// out), and reverting brings a stopped node back running; a node without
// the snapshot says what is missing.
func TestSnapshotAndRevert(t *testing.T) {
	f := vmtest.New()
	m := testManager(t, f, "ws-s01")
	if err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := NewConn(f, nil)
	if n, err := Snapshot(context.Background(), c, m.part, ReadySnapshot); err != nil || n != len(m.part.Nodes) {
		t.Fatalf("first snapshot: %d, %v", n, err)
	}
	if n, err := Snapshot(context.Background(), c, m.part, ReadySnapshot); err != nil || n != 0 {
		t.Errorf("a second snapshot was taken: %d, %v", n, err)
	}
	x := f.Doms[m.part.Nodes[0].Domain].Snaps[ReadySnapshot]
	if !strings.Contains(x, `<memory snapshot="internal"/>`) || !strings.Contains(x, `<disk name="vdb" snapshot="no"/>`) {
		t.Errorf("snapshot XML: %s", x)
	}
	// Running nodes: loadvm in their own QEMU, not libvirt's revert (which
	// starts a new QEMU).
	calls := func() (monitor, revert int) {
		for _, c := range f.Calls {
			monitor += strings.Count(c, ": loadvm "+ReadySnapshot+" (flags 1)")
			revert += strings.Count(c, "revert domain ")
		}
		f.Calls = nil
		return monitor, revert
	}
	calls()
	if err := Revert(context.Background(), c, m.part, ReadySnapshot); err != nil {
		t.Fatal(err)
	}
	if mon, rev := calls(); mon != len(m.part.Nodes) || rev != 0 {
		t.Errorf("running nodes: %d loadvm, %d libvirt reverts; want %d and 0", mon, rev, len(m.part.Nodes))
	}
	// A stopped node: libvirt's revert, which starts it.
	f.Doms[m.part.Nodes[0].Domain].State = libvirt.DomainShutoff
	if err := Revert(context.Background(), c, m.part, ReadySnapshot); err != nil {
		t.Fatal(err)
	}
	if st := f.Doms[m.part.Nodes[0].Domain].State; st != libvirt.DomainRunning {
		t.Errorf("after revert: state %d", st)
	}
	if mon, rev := calls(); mon != len(m.part.Nodes)-1 || rev != 1 {
		t.Errorf("one stopped node: %d loadvm, %d libvirt reverts", mon, rev)
	}
	// QEMU reporting an error (the node left paused): libvirt's revert
	// after it, and every node runs.
	f.MonitorReply = "Error: Device 'drive-virtio-disk0' does not have the requested snapshot\r\n"
	if err := Revert(context.Background(), c, m.part, ReadySnapshot); err != nil {
		t.Fatal(err)
	}
	if mon, rev := calls(); mon != len(m.part.Nodes) || rev != len(m.part.Nodes) {
		t.Errorf("QEMU's error: %d loadvm, %d libvirt reverts", mon, rev)
	}
	for _, n := range m.part.Nodes {
		if st := f.Doms[n.Domain].State; st != libvirt.DomainRunning {
			t.Errorf("%s after a failed loadvm and libvirt's revert: state %d", n.Name, st)
		}
	}
	f.MonitorReply = ""
	if err := Revert(context.Background(), c, m.part, "other"); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("revert to a snapshot never taken: %v", err)
	}
}

// A stage's snapshot is taken anew each time (the old one deleted first),
// and only names that are safe in the snapshot's XML are stages.
func TestStageSnapshotIsRetaken(t *testing.T) {
	f := vmtest.New()
	m := testManager(t, f, "ws-s01")
	if err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := NewConn(f, nil)
	name := StageSnapshot("after-bridge")
	for i := range 2 {
		if n, err := Retake(context.Background(), c, m.part, name); err != nil || n != len(m.part.Nodes) {
			t.Fatalf("retake %d: %d, %v", i+1, n, err)
		}
	}
	if got := strings.Count(strings.Join(f.Calls, "\n"), "delete snapshot "+name); got != len(m.part.Nodes) {
		t.Errorf("the second retake deleted %d snapshots, want %d:\n%s", got, len(m.part.Nodes), strings.Join(f.Calls, "\n"))
	}
	if x := f.Doms[m.part.Nodes[0].Domain].Snaps[name]; !strings.Contains(x, "workshop stage") {
		t.Errorf("stage snapshot XML: %s", x)
	}
	for _, bad := range []string{"", "A", "-x", "a b", "x</name><name>y", strings.Repeat("a", 33), "é"} {
		if ValidStage(bad) == nil {
			t.Errorf("stage %q accepted", bad)
		}
	}
	if err := ValidStage("stage-2"); err != nil {
		t.Error(err)
	}
}

// The translation cache of emulated nodes: labctl's default, or
// LABCTL_TCG_CACHE_MIB (0: QEMU's own), refused when it is no size.
func TestTBCacheMiB(t *testing.T) {
	t.Setenv("LABCTL_TCG_CACHE_MIB", "128")
	if n, err := TBCacheMiB(); n != 128 || err != nil {
		t.Errorf("128: %d %v", n, err)
	}
	for _, bad := range []string{"-1", "lots", "5000", ""} {
		t.Setenv("LABCTL_TCG_CACHE_MIB", bad)
		if _, err := TBCacheMiB(); err == nil || !strings.Contains(err.Error(), "LABCTL_TCG_CACHE_MIB") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	os.Unsetenv("LABCTL_TCG_CACHE_MIB")
	if n, _ := TBCacheMiB(); n != DefaultTBCacheMiB {
		t.Errorf("default: %d", n)
	}
}

// An emulated node boots without randomised mappings (so QEMU reuses its
// translations from one run of a program to the next); a KVM node, a node
// booting from its disk, and LABCTL_GUEST_ASLR=1 keep the image's command
// line as it is.
func TestKernelCmdline(t *testing.T) {
	img := images.KernelCmdline
	for _, c := range []struct {
		image, typ string
		aslr       bool
		want       string
	}{
		{img, "qemu", false, img + " norandmaps"},
		{img, "qemu", true, img},
		{img, "kvm", false, img},
		{"", "qemu", false, ""},
	} {
		if got := KernelCmdline(c.image, c.typ, c.aslr); got != c.want {
			t.Errorf("KernelCmdline(%q, %s, %v) = %q, want %q", c.image, c.typ, c.aslr, got, c.want)
		}
	}
	p := testPlan(t, "default")
	spec := DomainSpec{Lab: "default", Node: p.Nodes[0], Type: "qemu", Pool: "labctl", DiskVolume: "d", SeedVolume: "s",
		Boot: Boot{Kernel: "/pool/k", Initrd: "/pool/i", Cmdline: img}, GuestASLR: true}
	x, err := DomainXML(spec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(x, "norandmaps") || !strings.Contains(x, "<cmdline>"+img+"</cmdline>") {
		t.Errorf("a domain keeping ASLR:\n%s", x)
	}
	t.Setenv("LABCTL_GUEST_ASLR", "1")
	if on, err := GuestASLR(); !on || err != nil {
		t.Errorf("LABCTL_GUEST_ASLR=1: %v %v", on, err)
	}
	t.Setenv("LABCTL_GUEST_ASLR", "yes")
	if _, err := GuestASLR(); err == nil || !strings.Contains(err.Error(), "LABCTL_GUEST_ASLR") {
		t.Errorf("LABCTL_GUEST_ASLR=yes: %v", err)
	}
	os.Unsetenv("LABCTL_GUEST_ASLR")
	if on, err := GuestASLR(); on || err != nil {
		t.Errorf("default: %v %v", on, err)
	}
}

// redact replaces a seed's private key, for golden files.
func redact(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	out := lines[:0]
	skipping := false
	for _, l := range lines {
		if strings.Contains(l, "-----BEGIN OPENSSH PRIVATE KEY-----") {
			out = append(out, strings.Replace(l, "-----BEGIN OPENSSH PRIVATE KEY-----", "(private key redacted)", 1))
			skipping = true
			continue
		}
		if skipping {
			if strings.Contains(l, "-----END OPENSSH PRIVATE KEY-----") {
				skipping = false
			}
			continue
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}

// The pool's directory removed by hand (the pool still defined, not
// running): down has no volumes to remove and says nothing is wrong; up
// makes the directory again and carries on.
func TestPoolWhoseDirectoryIsGone(t *testing.T) {
	f := vmtest.New()
	m := testManager(t, f, "lab1")
	if err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.PoolInactive, f.PoolDirGone = true, true
	if _, err := m.Down(context.Background()); err != nil {
		t.Fatalf("down with the pool's directory gone: %v", err)
	}
	f.PoolInactive, f.PoolDirGone = true, true
	if err := m.Up(context.Background()); err != nil {
		t.Fatalf("up with the pool's directory gone: %v", err)
	}
	if f.PoolInactive || f.PoolDirGone {
		t.Error("up did not build and start the pool")
	}
}

func TestConnectErrorSaysWhatToDo(t *testing.T) {
	denied := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}
	if err := connectError("qemu:///system", "/var/run/libvirt/libvirt-sock", denied); !strings.Contains(err.Error(), "permission denied on /var/run/libvirt/libvirt-sock: run labctl with sudo, or join the libvirt group") {
		t.Errorf("%v", err)
	}
	gone := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ENOENT)}
	if err := connectError("qemu:///system", "/x", gone); !strings.Contains(err.Error(), "is libvirtd running?") {
		t.Errorf("%v", err)
	}
}

// KVM nodes hand their free pages back; emulated ones do not, unless
// LABCTL_FREE_PAGE_REPORTING says otherwise; a wrong value is refused.
func TestFreePageReporting(t *testing.T) {
	for _, c := range []struct {
		env, typ string
		want     bool
	}{{"", "kvm", true}, {"", "qemu", false}, {"1", "qemu", true}, {"0", "kvm", false}} {
		t.Setenv("LABCTL_FREE_PAGE_REPORTING", c.env)
		if got, err := FreePageReporting(c.typ); err != nil || got != c.want {
			t.Errorf("%q %s: %v (%v), want %v", c.env, c.typ, got, err, c.want)
		}
	}
	t.Setenv("LABCTL_FREE_PAGE_REPORTING", "yes")
	if _, err := FreePageReporting("kvm"); err == nil || !strings.Contains(err.Error(), `LABCTL_FREE_PAGE_REPORTING="yes"`) {
		t.Errorf("a wrong value: %v", err)
	}
}

// TestNetworkdFilesRefuseWhatAddsLines: a value that would add a line (or
// a name that would leave the directory) to a systemd-networkd file makes
// the seed fail instead of being written.
func TestNetworkdFilesRefuseWhatAddsLines(t *testing.T) {
	p := testPlan(t, "default")
	hk := fixedHostKey(t)
	for _, tc := range []struct {
		what string
		edit func(n *plan.Node)
	}{
		{"NIC name with a line break", func(n *plan.Node) { n.NICs[0].Guest = "ens33\nDNS=203.0.113.1" }},
		{"NIC name with a slash", func(n *plan.Node) { n.NICs[0].Guest = "../../x" }},
		{"address with a line break", func(n *plan.Node) { n.NICs[1].Address = "192.168.242.11/24\n[Network]" }},
		{"MAC with a space", func(n *plan.Node) { n.NICs[0].MAC = "52:06:47:32:b3:2f Name=x" }},
		{"VLAN name with a carriage return", func(n *plan.Node) { n.VLANs[0].Name = "ens33.20\rx" }},
	} {
		n := p.Nodes[0]
		n.NICs = append([]plan.NIC(nil), n.NICs...)
		n.VLANs = append([]plan.SubIf(nil), n.VLANs...)
		tc.edit(&n)
		s, err := MakeSeed(SeedInput{Plan: p, Node: n, UserKey: "ssh-ed25519 AAAAtestkey labctl-default", HostKey: hk})
		if err == nil || !strings.Contains(err.Error(), "cannot go into a systemd-networkd file") {
			t.Errorf("%s: err = %v, want a refusal", tc.what, err)
			if s != nil {
				t.Logf("script:\n%s", redact(s.Script))
			}
		}
	}
}
