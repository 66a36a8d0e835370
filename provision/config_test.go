package provision

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/golden"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/plan/plantest"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"golang.org/x/crypto/ssh/knownhosts"
)

func testPlan(t *testing.T) *plan.Plan { return plantest.New(t, "default", "") }

func TestSSHConfigGolden(t *testing.T) {
	got, err := SSHConfig(testPlan(t), "/home/u/.local/state/labctl/labs/default", nil)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "ssh_config"), got)
	for _, must := range []string{"StrictHostKeyChecking yes", "IdentitiesOnly yes", "ForwardAgent no", "ForwardX11 no", "HostName 192.168.242.12"} {
		if !bytes.Contains(got, []byte(must)) {
			t.Errorf("lacks %q", must)
		}
	}
}

func TestKnownHostsPinsEveryNode(t *testing.T) {
	p := testPlan(t)
	k := keys.Lab{Dir: t.TempDir(), Lab: "default"}
	kh, err := KnownHosts(p, k)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(f, kh, 0o600)
	check, err := knownhosts.New(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range p.Nodes {
		hk, _ := k.Host(n.Name)
		for _, host := range []string{n.SSHAlias + ":22", HostOnlyAddr(n) + ":22"} {
			if err := check(host, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 22}, hk.Public); err != nil {
				t.Errorf("%s: %v", host, err)
			}
		}
		other, _ := keys.Generate("x")
		if err := check(n.SSHAlias+":22", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 22}, other.Public); err == nil {
			t.Errorf("%s: a different key is accepted", n.Name)
		}
	}
}

func TestInstallIncludeIdempotentWithBackup(t *testing.T) {
	dir := t.TempDir()
	user := filepath.Join(dir, ".ssh", "config")
	os.MkdirAll(filepath.Dir(user), 0o700)
	orig := "Host work\n  HostName work.example\n  User me\n"
	os.WriteFile(user, []byte(orig), 0o644)
	lab := "/state/labs/default/ssh_config"
	changed, err := InstallInclude(user, lab)
	if err != nil || !changed {
		t.Fatalf("install: %v %v", changed, err)
	}
	got, _ := os.ReadFile(user)
	if string(got) != "Include "+lab+"\n"+orig {
		t.Errorf("config after install:\n%s", got)
	}
	if b, _ := os.ReadFile(user + ".labctl-backup"); string(b) != orig {
		t.Errorf("backup: %q", b)
	}
	if fi, _ := os.Stat(user); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode changed to %v", fi.Mode().Perm())
	}
	if changed, _ := InstallInclude(user, lab); changed {
		t.Error("second install changed the file")
	}
	if changed, err := UninstallInclude(user, lab); err != nil || !changed {
		t.Fatalf("uninstall: %v %v", changed, err)
	}
	got, _ = os.ReadFile(user)
	if string(got) != orig {
		t.Errorf("config after uninstall:\n%q", got)
	}
	if changed, _ := UninstallInclude(user, lab); changed {
		t.Error("second uninstall changed the file")
	}
	// No config at all yet: created with 0600.
	fresh := filepath.Join(dir, "fresh", "config")
	if _, err := InstallInclude(fresh, lab); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o600 {
		t.Errorf("new config mode %v", fi.Mode().Perm())
	}
}

// fakeNode is a Runner that keeps the state InstallDocker reads and writes:
// whether docker.io is installed, the daemon.json, group membership,
// loaded images and uploaded files. Commands are recognised by their
// distinctive parts.
type fakeNode struct {
	installed bool
	daemon    string
	inGroup   bool
	imageIDs  map[string]string
	files     map[string][]byte
	log       []string
	// daemon.json written before the package was installed, and how
	// often dockerd was restarted for it
	daemonFirst bool
	restarts    int
}

func (f *fakeNode) Run(ctx context.Context, cmd string) ([]byte, error) {
	f.log = append(f.log, cmd)
	switch {
	case strings.Contains(cmd, "printf 'home %s\\n'"):
		status := ""
		if f.installed {
			status = "install ok installed"
		}
		groups := "lab sudo"
		if f.inGroup {
			groups += " docker"
		}
		return []byte(fmt.Sprintf("home /home/lab\ndocker %s\ndaemon %s\ngroups %s\n", status, base64.StdEncoding.EncodeToString([]byte(f.daemon)), groups)), nil
	case strings.Contains(cmd, "find . -maxdepth 1"):
		var b strings.Builder
		for p, data := range f.files {
			if strings.HasPrefix(p, "/home/lab/.labctl/bundle/") {
				sum := sha256.Sum256(data)
				fmt.Fprintf(&b, "%s  ./%s\n", hex.EncodeToString(sum[:]), filepath.Base(p))
			}
		}
		return []byte(b.String()), nil
	case strings.Contains(cmd, "apt-get") && strings.Contains(cmd, "install"):
		f.installed = true
		return nil, nil
	case strings.Contains(cmd, "install -D -m 0644 '/home/lab/.labctl/daemon.json' /etc/docker/daemon.json"):
		f.daemon = string(f.files["/home/lab/.labctl/daemon.json"])
		f.daemonFirst = f.daemonFirst || !f.installed
		if strings.Contains(cmd, "systemctl restart docker") {
			f.restarts++
		}
		return nil, nil
	case strings.Contains(cmd, "usermod"):
		f.inGroup = true
		return nil, nil
	case strings.Contains(cmd, "docker images --no-trunc"):
		var b strings.Builder
		for tag, id := range f.imageIDs {
			fmt.Fprintf(&b, "%s %s\n", tag, id)
		}
		return []byte(b.String()), nil
	case strings.Contains(cmd, "docker load"):
		for _, name := range []string{"busybox", "nginx"} {
			if strings.Contains(cmd, name+".tar") {
				f.imageIDs[name+":latest"] = "sha256:" + name + "-id"
			}
		}
		return nil, nil
	}
	return nil, nil
}

func (f *fakeNode) Upload(ctx context.Context, r io.Reader, size int64, dst string, perm os.FileMode) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.log = append(f.log, "upload "+dst)
	f.files[dst] = data
	return nil
}

func fakeCache(t *testing.T) *images.Cache {
	c, err := images.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	add := func(name, kind string, files map[string]string, meta map[string]string) {
		var fs []images.File
		for rel, content := range files {
			src := filepath.Join(t.TempDir(), "f")
			os.WriteFile(src, []byte(content), 0o644)
			role := "deb"
			if kind == images.KindContainerImage {
				role = "archive"
			}
			f, err := c.AddFile(src, rel, role)
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		}
		if err := c.Put(images.Entry{Name: name, Kind: kind, Files: fs, Meta: meta}); err != nil {
			t.Fatal(err)
		}
	}
	add("docker.io-debian-12", images.KindDockerBundle, map[string]string{"bundles/b/docker.io_1.deb": "deb1", "bundles/b/runc_1.deb": "deb2", "bundles/b/Packages": "index"}, map[string]string{"packages": "docker.io apparmor iptables"})
	add("busybox", images.KindContainerImage, map[string]string{"containers/busybox.tar": "bb"}, map[string]string{"tag": "busybox:latest", "image_id": "sha256:busybox-id"})
	add("nginx", images.KindContainerImage, map[string]string{"containers/nginx.tar": "ng"}, map[string]string{"tag": "nginx:latest", "image_id": "sha256:nginx-id"})
	return c
}

func TestInstallDockerOfflineThenNothingToDo(t *testing.T) {
	n := &fakeNode{imageIDs: map[string]string{}, files: map[string][]byte{}}
	o := DockerOptions{Plan: testPlan(t), Cache: fakeCache(t), Mode: InstallOffline, Bundle: "docker.io-debian-12", Images: []string{"busybox", "nginx"}}
	if err := InstallDocker(context.Background(), n, "lab", o); err != nil {
		t.Fatal(err)
	}
	if !n.installed || !n.inGroup || n.daemon != string(DaemonJSON(o.Plan)) || len(n.imageIDs) != 2 {
		t.Fatalf("after install: %+v", n)
	}
	// The package starts dockerd with the lab's daemon.json: no restart.
	if !n.daemonFirst || n.restarts != 0 {
		t.Errorf("daemon.json written before the install: %v; dockerd restarted %d times", n.daemonFirst, n.restarts)
	}
	if _, ok := n.files["/home/lab/.labctl/bundle/docker.io_1.deb"]; !ok {
		t.Error("bundle not uploaded")
	}
	if !strings.Contains(string(n.files["/home/lab/.labctl/bundle.list"]), "deb [trusted=yes] file:/home/lab/.labctl/bundle ./") {
		t.Errorf("sources list: %q", n.files["/home/lab/.labctl/bundle.list"])
	}
	before := len(n.log)
	if err := InstallDocker(context.Background(), n, "lab", o); err != nil {
		t.Fatal(err)
	}
	for _, c := range n.log[before:] {
		if strings.HasPrefix(c, "upload") || strings.Contains(c, "apt-get") || strings.Contains(c, "docker load") || strings.Contains(c, "restart docker") {
			t.Errorf("second run did: %s", c)
		}
	}
	// Half an earlier upload on the node: only what is missing is sent.
	n2 := &fakeNode{imageIDs: map[string]string{}, files: map[string][]byte{"/home/lab/.labctl/bundle/docker.io_1.deb": []byte("deb1")}}
	if err := InstallDocker(context.Background(), n2, "lab", o); err != nil {
		t.Fatal(err)
	}
	for _, c := range n2.log {
		if c == "upload /home/lab/.labctl/bundle/docker.io_1.deb" {
			t.Error("a file already on the node was sent again")
		}
	}
}

func TestDaemonJSONAvoidsLabSubnets(t *testing.T) {
	p := testPlan(t)
	got := string(DaemonJSON(p))
	for _, want := range []string{`"bip": "172.17.0.1/16"`, `"base": "172.18.0.0/15"`, `"max-size": "10m"`} {
		if !strings.Contains(got, want) {
			t.Errorf("daemon.json lacks %s:\n%s", want, got)
		}
	}
}

// A node from the Docker-ready image, seeded with the lab's daemon.json and
// the docker group: nothing is installed or restarted; only the images go
// over, in one load command; an image with another ID is loaded again.
func TestInstallDockerOnADockerReadyNode(t *testing.T) {
	o := DockerOptions{Plan: testPlan(t), Cache: fakeCache(t), Mode: InstallOffline, Bundle: "docker.io-debian-12", Images: []string{"busybox", "nginx"}}
	n := &fakeNode{installed: true, daemon: string(DaemonJSON(o.Plan)), inGroup: true,
		imageIDs: map[string]string{"nginx:latest": "sha256:old-nginx"}, files: map[string][]byte{}}
	if err := InstallDocker(context.Background(), n, "lab", o); err != nil {
		t.Fatal(err)
	}
	var runs, loads int
	for _, c := range n.log {
		if strings.Contains(c, "apt-get") || strings.Contains(c, "restart docker") || strings.Contains(c, "usermod") {
			t.Errorf("a Docker-ready node got: %s", c)
		}
		if !strings.HasPrefix(c, "upload ") {
			runs++
		}
		if strings.Contains(c, "docker load") {
			loads++
			if !strings.Contains(c, "busybox.tar") || !strings.Contains(c, "nginx.tar") {
				t.Errorf("load command does not load both images: %s", c)
			}
		}
	}
	if loads != 1 {
		t.Errorf("%d load commands, want 1", loads)
	}
	// probe, daemon wait, image list, load (the verification of an upload
	// is the Runner's business)
	if runs != 4 {
		t.Errorf("%d commands, want 4: %q", runs, n.log)
	}
	if n.imageIDs["nginx:latest"] != "sha256:nginx-id" {
		t.Errorf("nginx with a stale ID was not reloaded: %v", n.imageIDs)
	}
}

// A ~/.ssh/config that is a link (dotfiles in a repository) keeps being a
// link: the file it points to gets the Include line and loses it again.
func TestInstallIncludeWritesThroughALink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "ssh_config")
	os.MkdirAll(filepath.Dir(real), 0o700)
	orig := "Host work\n  User me\n"
	os.WriteFile(real, []byte(orig), 0o600)
	user := filepath.Join(dir, ".ssh", "config")
	os.MkdirAll(filepath.Dir(user), 0o700)
	if err := os.Symlink(real, user); err != nil {
		t.Fatal(err)
	}
	lab := "/state/labs/default/ssh_config"
	if _, err := InstallInclude(user, lab); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(user); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a link: %v", user, err)
	}
	if got, _ := os.ReadFile(real); string(got) != "Include "+lab+"\n"+orig {
		t.Errorf("the linked file after install:\n%s", got)
	}
	if _, err := UninstallInclude(user, lab); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(real); string(got) != orig {
		t.Errorf("the linked file after uninstall:\n%q", got)
	}
	dangling := filepath.Join(dir, "dangling")
	os.Symlink(filepath.Join(dir, "nowhere"), dangling)
	if _, err := InstallInclude(dangling, lab); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("a dangling link: %v", err)
	}
}

// A node that has Docker with another daemon.json gets the lab's, and
// dockerd is restarted once to apply it; nothing is installed.
func TestInstallDockerAppliesAChangedDaemonJSON(t *testing.T) {
	o := DockerOptions{Plan: testPlan(t), Cache: fakeCache(t), Mode: InstallOffline, Bundle: "docker.io-debian-12", Images: []string{"busybox", "nginx"}}
	n := &fakeNode{installed: true, daemon: "{}\n", inGroup: true, imageIDs: map[string]string{}, files: map[string][]byte{}}
	if err := InstallDocker(context.Background(), n, "lab", o); err != nil {
		t.Fatal(err)
	}
	if n.daemon != string(DaemonJSON(o.Plan)) || n.restarts != 1 || n.daemonFirst {
		t.Errorf("daemon.json %q, restarts %d, written before an install %v", n.daemon, n.restarts, n.daemonFirst)
	}
	for _, c := range n.log {
		if strings.Contains(c, "apt-get") {
			t.Errorf("an installed node got: %s", c)
		}
	}
}

// Behind a remote gateway hypervisor, every node is reached through it;
// OpenSSH itself (ssh -G) resolves the config that way.
func TestSSHConfigJumpsThroughARemoteGateway(t *testing.T) {
	testenv.Tool(t, "ssh")
	ssh, _ := exec.LookPath("ssh")
	dir := t.TempDir()
	j := &Jump{Alias: "labctl-default-hv1", HostName: "192.0.2.7", Port: "2222", User: "ops", Identity: "/keys/hv key", KnownHosts: "/state/hypervisors_known_hosts"}
	cfg := filepath.Join(dir, "ssh_config")
	data, err := SSHConfig(testPlan(t), dir, j)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	resolve := func(host string) string {
		out, err := exec.Command(ssh, "-G", "-F", cfg, host).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh -G %s: %v\n%s", host, err, out)
		}
		return string(out)
	}
	for _, n := range testPlan(t).Nodes {
		if got := resolve(n.SSHAlias); !strings.Contains(got, "\nproxyjump labctl-default-hv1\n") || !strings.Contains(got, "\nhostname "+HostOnlyAddr(n)+"\n") {
			t.Errorf("%s resolves without the jump:\n%s", n.SSHAlias, got)
		}
	}
	got := resolve("labctl-default-hv1")
	for _, want := range []string{"\nhostname 192.0.2.7\n", "\nport 2222\n", "\nuser ops\n", "\nidentityfile /keys/hv key\n", "\nuserknownhostsfile /state/hypervisors_known_hosts\n", "\nstricthostkeychecking true\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("the jump host lacks %q:\n%s", strings.TrimSpace(want), got)
		}
	}
}

// Hostile values never become config lines of their own: a line break, a
// quote or a backslash is refused with nothing written, a % outside a path
// is refused, and a path keeps its spaces and its % as the literal %%
// (ssh -G shows the value before expanding tokens, which turns %% into %).
func TestSSHConfigRefusesWhatItCannotWrite(t *testing.T) {
	p := testPlan(t)
	for name, j := range map[string]Jump{
		"user with a new Host block": {Alias: "j", HostName: "192.0.2.7", Port: "22", User: "x\nHost *\n  ProxyCommand touch /tmp/pwned", KnownHosts: "/k"},
		"host with a quote":          {Alias: "j", HostName: `192.0.2.7" ProxyCommand=x`, Port: "22", KnownHosts: "/k"},
		"host with a token":          {Alias: "j", HostName: "%h.example", Port: "22", KnownHosts: "/k"},
		"identity with a new line":   {Alias: "j", HostName: "192.0.2.7", Port: "22", Identity: "/k\nProxyCommand x", KnownHosts: "/k"},
		"alias with a backslash":     {Alias: `j\`, HostName: "192.0.2.7", Port: "22", KnownHosts: "/k"},
		"an empty port":              {Alias: "j", HostName: "192.0.2.7", KnownHosts: "/k"},
	} {
		if out, err := SSHConfig(p, "/state", &j); err == nil || out != nil {
			t.Errorf("%s: written (err=%v):\n%s", name, err, out)
		}
	}
	testenv.Tool(t, "ssh")
	dir := filepath.Join(t.TempDir(), "state 100% mine")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	data, err := SSHConfig(p, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ssh", "-G", "-F", cfg, p.Nodes[0].SSHAlias).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\nidentityfile "+strings.ReplaceAll(filepath.Join(dir, "id_ed25519"), "%", "%%")+"\n") {
		t.Errorf("ssh -G (err=%v) does not read the path back as written:\n%s", err, out)
	}
	if _, err := includeLine("/home/u/state*/ssh_config"); err == nil {
		t.Error("an Include of a path with a glob")
	}
}

// Settle: the load command ends by dropping the page cache and compacting
// memory (no extra round trip); without Settle, or with nothing to load,
// no node is asked to.
func TestInstallDockerSettlesAfterTheLoad(t *testing.T) {
	for _, settle := range []bool{true, false} {
		o := DockerOptions{Plan: testPlan(t), Cache: fakeCache(t), Mode: InstallOffline, Bundle: "docker.io-debian-12", Images: []string{"busybox", "nginx"}, Settle: settle}
		n := &fakeNode{installed: true, daemon: string(DaemonJSON(o.Plan)), inGroup: true, imageIDs: map[string]string{}, files: map[string][]byte{}}
		if err := InstallDocker(context.Background(), n, "lab", o); err != nil {
			t.Fatal(err)
		}
		var settled int
		for _, c := range n.log {
			if strings.Contains(c, "drop_caches") {
				settled++
				if !strings.Contains(c, "docker load") || !strings.Contains(c, "compact_memory") || !strings.HasSuffix(c, "|| true; fi; }") || !strings.Contains(c, "virtio_balloon") {
					t.Errorf("settle=%v: %s", settle, c)
				}
			}
		}
		if want := map[bool]int{true: 1, false: 0}[settle]; settled != want {
			t.Errorf("settle=%v: %d commands drop the cache, want %d: %q", settle, settled, want, n.log)
		}
		before := len(n.log)
		if err := InstallDocker(context.Background(), n, "lab", o); err != nil {
			t.Fatal(err)
		}
		for _, c := range n.log[before:] {
			if strings.Contains(c, "drop_caches") {
				t.Errorf("settle=%v: nothing loaded, yet: %s", settle, c)
			}
		}
	}
}
