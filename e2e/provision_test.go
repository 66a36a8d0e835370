package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/internal/testlab"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/provision"
	"github.com/labctl/labctl/transport"
)

// upWithSSHDFault runs the lab's provisioning `up -v --output json` with a
// fault: sshd on the second node is stopped, and every SSH session there
// killed, once Docker's installation has begun; sshd comes back 20 s
// later. labctl must connect again and finish the install, leaving no
// half-installed package and no partial upload. It returns up's stdout
// (the JSON events and the result line).
func upWithSSHDFault(t *testing.T, ctx context.Context, env *testlab.Env, c *testlab.CLI, lp *plan.Plan, k keys.Lab) string {
	t.Helper()
	victim := lp.Nodes[1]
	up := c.Cmd(ctx, "up", "-v", "--output", "json")
	var upOut, upErr testenv.Buffer
	up.Stdout, up.Stderr = &upOut, &upErr
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	upDone := make(chan error, 1)
	go func() { upDone <- up.Wait() }()
	injected := false
	var upErrV error
wait:
	for {
		select {
		case upErrV = <-upDone:
			break wait
		case <-time.After(500 * time.Millisecond):
		}
		if !injected && installing(upOut.String(), victim.Name) {
			injected = true
			stopSSHD(t, ctx, env, lp, k, victim)
		}
	}
	if upErrV != nil {
		t.Fatalf("up: %v\n%s\n%s", upErrV, testlab.LastLines(upOut.String(), 30), testlab.LastLines(upErr.String(), 30))
	}
	if !injected {
		t.Fatalf("the fault was never injected: %s never logged the install", victim.Name)
	}
	if out := upOut.String(); !strings.Contains(out, "the SSH connection was lost") || !strings.Contains(out, "connecting again to carry on") {
		t.Errorf("up did not say that it lost %s's connection and connected again:\n%s", victim.Name, testlab.LastLines(out, 30))
	}
	vc, err := provision.Connect(ctx, lp, k, victim, env.Dial)
	if err != nil {
		t.Fatal(err)
	}
	out, err := vc.Run(ctx, "dpkg --audit; find ~/.labctl -name '*.part'; systemctl is-active ssh; dpkg-query -W -f '${Status}' docker.io")
	vc.Close()
	t.Logf("%s after the fault: dpkg --audit, partial files, sshd, docker.io:\n%s", victim.Name, out)
	if err != nil || strings.TrimSpace(string(out)) != "active\ninstall ok installed" {
		t.Errorf("%s is not cleanly installed after the fault (err=%v):\n%s", victim.Name, err, out)
	}
	return upOut.String()
}

// provisionChecks is what provisioning promises, on a lab `up` has
// provisioned: OpenSSH with the lab's ssh config (strict host key
// checking) runs `docker info` on every node, the Docker API answers over
// SSH, the busybox and nginx images are there, the VLAN sub-interfaces
// exist, a host key that is not the pinned one is refused, a second `up`
// is quick and changes nothing, and no private key material appears in any
// log or state file.
func provisionChecks(t *testing.T, ctx context.Context, env *testlab.Env, c *testlab.CLI, lp *plan.Plan, k keys.Lab, work string) {
	t.Helper()
	labDir := c.LabDir()
	sshConfig := filepath.Join(labDir, provision.SSHConfigFile)
	// OpenSSH, strict host key checking, the lab's config: docker info and
	// the VLAN interfaces on every node; the Docker CLI's ssh:// transport
	// needs nothing more than this config either. An emulated node runs
	// its programs at fixed addresses (norandmaps), a KVM node randomised.
	for _, n := range lp.Nodes {
		x, err := testlab.Virsh("dumpxml", n.Domain)
		if err != nil {
			t.Fatal(err)
		}
		aslr := "aslr=2"
		if strings.Contains(x, "<domain type='qemu'") {
			aslr = "aslr=0"
		}
		cmd := env.Command(ctx, "ssh", "-F", sshConfig, "-o", "BatchMode=yes", n.SSHAlias,
			"docker info --format '{{.ServerVersion}}' && docker image ls --format '{{.Repository}}:{{.Tag}}' && ip -br link show ens33.20 && ip -br link show ens33.30 && echo aslr=$(cat /proc/sys/kernel/randomize_va_space)")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: ssh: %v\n%s", n.Name, err, out)
		}
		for _, want := range []string{"busybox:latest", "nginx:latest", "ens33.20@ens33", "ens33.30@ens33", aslr} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: ssh output lacks %q:\n%s", n.Name, want, out)
			}
		}
	}

	// The Docker API through the pinned SSH connection.
	for _, n := range lp.Nodes {
		c, err := provision.Connect(ctx, lp, k, n, env.Dial)
		if err != nil {
			t.Fatal(err)
		}
		dc, err := transport.DockerClient(c)
		if err != nil {
			t.Fatal(err)
		}
		v, err := dc.ServerVersion(ctx)
		if err != nil {
			t.Fatalf("%s: API: %v", n.Name, err)
		}
		imgs, err := dc.ImageList(ctx, image.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var tags []string
		for _, im := range imgs {
			tags = append(tags, im.RepoTags...)
		}
		t.Logf("%s: Docker %s, API %s, images %v", n.Name, v.Version, dc.ClientVersion(), tags)
		if !contains(tags, "busybox:latest") || !contains(tags, "nginx:latest") {
			t.Errorf("%s: images %v", n.Name, tags)
		}
		dc.Close()
		c.Close()
	}

	// A host key that is not the pinned one is refused by OpenSSH too.
	bad := filepath.Join(work, "bad_known_hosts")
	other, _ := keys.Generate("impostor")
	os.WriteFile(bad, []byte(lp.Nodes[0].SSHAlias+" "+other.AuthorizedKey()+"\n"), 0o600)
	out, err := env.Command(ctx, "ssh", "-F", sshConfig, "-o", "BatchMode=yes", "-o", "UserKnownHostsFile="+bad, lp.Nodes[0].SSHAlias, "true").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "HOST IDENTIFICATION HAS CHANGED") {
		t.Errorf("ssh with a wrong pinned key: err=%v\n%s", err, out)
	}

	// A second up is quick and changes nothing.
	start := time.Now()
	_, stderr, err := c.Run(ctx, "up", "-v")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TIMING up again, nothing to do: %s", time.Since(start).Round(time.Second))
	for _, changed := range []string{"creating disk", "starting", "installing", "offline bundle", "loading image", "writing /etc/docker/daemon.json"} {
		if strings.Contains(stderr, changed) {
			t.Errorf("second up did %q:\n%s", changed, stderr)
		}
	}

	// Modes, and no secrets in logs or state files.
	assertMode(t, labDir, 0o700)
	assertMode(t, filepath.Join(labDir, "id_ed25519"), 0o600)
	secrets := [][]byte{}
	for _, f := range append([]string{filepath.Join(labDir, "id_ed25519")}, globHostKeys(labDir)...) {
		data, _ := os.ReadFile(f)
		if body := pemBody(data); len(body) > 0 {
			secrets = append(secrets, body)
		}
	}
	if len(secrets) < 1+len(lp.Nodes) {
		t.Fatalf("found %d private keys to look for", len(secrets))
	}
	filepath.Walk(labDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || strings.Contains(p, "hostkeys") || filepath.Base(p) == "id_ed25519" {
			return nil
		}
		data, _ := os.ReadFile(p)
		for _, s := range secrets {
			if bytes.Contains(data, s) {
				t.Errorf("%s contains private key material", p)
			}
		}
		return nil
	})
}

// installing tells whether up's JSON events (--output json) show that
// node has begun Docker's installation.
func installing(events, node string) bool {
	for _, l := range strings.Split(events, "\n") {
		var ev struct{ Type, Node, Message string }
		if json.Unmarshal([]byte(l), &ev) == nil && ev.Type == "event" && ev.Node == node && strings.Contains(ev.Message, "installing docker.io") {
			return true
		}
	}
	return false
}

// stopSSHD stops sshd on the node and kills every SSH session there, from
// a transient systemd unit that starts sshd again 20 s later.
func stopSSHD(t *testing.T, ctx context.Context, env *testlab.Env, lp *plan.Plan, k keys.Lab, n plan.Node) {
	t.Helper()
	c, err := provision.Connect(ctx, lp, k, n, env.Dial)
	if err != nil {
		t.Fatalf("connect to %s to stop sshd: %v", n.Name, err)
	}
	defer c.Close()
	// From a file: systemd would expand the $ of a command line itself.
	script := `sleep 1; systemctl stop ssh; for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = sshd ] && kill -9 ${p#/proc/}; done; sleep 20; systemctl start ssh`
	if out, err := c.Run(ctx, "echo "+base64.StdEncoding.EncodeToString([]byte(script))+" | base64 -d > /tmp/labctl-fault.sh && sudo systemd-run --collect --unit=labctl-fault-sshd sh /tmp/labctl-fault.sh"); err != nil {
		t.Fatalf("%s: systemd-run: %v: %s", n.Name, err, out)
	}
	t.Logf("FAULT sshd on %s stopped, its sessions killed, for 20 s", n.Name)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func assertMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
	}
}

func globHostKeys(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "hostkeys", "*_key"))
	return m
}

// pemBody returns a line from the middle of a PEM key: a piece of the
// secret that would show up if the key leaked anywhere.
func pemBody(data []byte) []byte {
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) < 4 {
		return nil
	}
	return lines[2]
}
