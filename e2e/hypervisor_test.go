package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testlab"
	"github.com/labctl/labctl/plan"
)

const hvLab = "itest-hv"

// One node on each hypervisor; the harness lists hv2 first, so hv2 is the
// gateway and this machine (hv1) carries only layer 2.
const remoteGateway = `image: debian-12-docker
nodes:
  - name: node1
    hypervisor: hv1
  - name: node2
    hypervisor: hv2
`

// TestRemoteGatewayForReal spreads a lab whose gateway is another machine:
// labctl, running where the lab's networks are not routed, must reach the
// nodes through the gateway's SSH connection (up waits for SSH and
// installs Docker that way), and plain OpenSSH must reach both nodes with
// the lab's ssh config (ProxyJump through the gateway, every host key
// checked strictly). Then a lab with only libvirt.uri of hv2 goes the same
// way (loneRemoteURI). Before that, a program holding the tunnel port on hv2,
// then a stray bridge with the lab's bridge name there, stop `up` in its
// preflight, naming hv2, with nothing created anywhere.
func TestRemoteGatewayForReal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	h := testlab.Start(t, ctx, testlab.Setup{Lab: hvLab, Topology: remoteGateway, Images: []string{"debian-12-docker", "docker.io-debian-12", "busybox", "nginx"},
		Tools: []string{"ssh", "ping", "iptables"}, Hypervisors: []string{"hv2"}, RemoteGateway: true})
	env, c, hv2 := h.Env, h.CLI, h.Hypervisors[0]

	// A program on hv2 holds the tunnel port: the preflight says so.
	busy, err := hv2.ListenUDP(4792)
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, err := c.Run(ctx, "up")
	busy.Close()
	if err == nil || !strings.Contains(stderr, "hypervisor hv2 ("+hv2.URI+"): UDP port 4792, the lab's tunnel port, is held by another program") {
		t.Errorf("up with hv2's tunnel port taken: err=%v\n%s", err, stderr)
	}
	for _, virsh := range []func(...string) (string, error){testlab.Virsh, hv2.Virsh} {
		if nets, _ := virsh("net-list", "--all", "--name"); strings.Contains(nets, "labctl-"+hvLab) {
			t.Errorf("the failed preflight left networks: %s", nets)
		}
	}

	// A bridge of the lab's name that is not its libvirt network's.
	stray := plan.BridgeName(hvLab, plan.RoleHostOnly)
	if _, err := hv2.In(ctx, "ip", "link", "add", stray, "type", "bridge"); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = c.Run(ctx, "up")
	hv2.In(ctx, "ip", "link", "del", stray)
	if err == nil || !strings.Contains(stderr, "hypervisor hv2 ("+hv2.URI+"): a network interface "+stray+" exists there") {
		t.Errorf("up with a stray bridge on hv2: err=%v\n%s", err, stderr)
	}

	start := time.Now()
	if _, stderr, err := c.Run(ctx, "up"); err != nil {
		t.Fatalf("up: %v\n%s", err, stderr)
	}
	t.Logf("TIMING up (2 nodes, gateway on hv2, through its SSH): %s", time.Since(start).Round(time.Second))

	// The harness's namespace has no route to the lab: the path above
	// was the gateway.
	if out, err := env.Command(ctx, "ping", "-c", "1", "-W", "1", "192.168.242.11").CombinedOutput(); err == nil {
		t.Errorf("the lab's host-only network is reachable without the gateway:\n%s", out)
	}
	d, derr := env.Dial(ctx, "tcp", net.JoinHostPort("192.168.242.11", "22"))
	if derr == nil {
		d.Close()
		t.Error("node1's SSH port answers without the gateway")
	}

	cfg := filepath.Join(c.LabDir(), "ssh_config")
	for _, n := range []string{"node1", "node2"} {
		out, err := env.Command(ctx, "ssh", "-F", cfg, "-o", "BatchMode=yes", n, "hostname; docker info --format '{{.ServerVersion}}'").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), n+"\n") || !strings.Contains(string(out), "20.10") {
			t.Errorf("ssh %s through the gateway (err=%v):\n%s", n, err, out)
		}
	}
	out, _, err := c.Run(ctx, "status")
	if err != nil || !regexp.MustCompile(`(?m)^hv1\s+node1\s+running`).MatchString(out) || !regexp.MustCompile(`(?m)^hv2\s+node2\s+running`).MatchString(out) {
		t.Errorf("status (err=%v):\n%s", err, out)
	}
	// The ssh config names the gateway with the pin labctl made.
	if out, err := exec.Command("ssh", "-G", "-F", cfg, "node2").CombinedOutput(); err != nil || !strings.Contains(string(out), "proxyjump labctl-"+hvLab+"-hv2") {
		t.Errorf("ssh -G node2 (err=%v):\n%s", err, out)
	}

	// hv2 unreachable (its SSH port refuses) during down: hv1 is cleaned,
	// hv2 is named with what is left there, the state is kept; down again
	// once hv2 answers finishes (the clean-up checks both hypervisors).
	refuse := []string{"INPUT", "-p", "tcp", "--dport", "22", "-j", "REJECT", "--reject-with", "tcp-reset"}
	if _, err := hv2.In(ctx, "iptables", append([]string{"-I"}, refuse...)...); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = c.Run(ctx, "down")
	hv2.In(ctx, "iptables", append([]string{"-D"}, refuse...)...)
	if err == nil || !strings.Contains(stderr, "hypervisor hv2: SSH to "+hv2.Addr+":22") || !strings.Contains(stderr, "so lab "+hvLab+"'s domains, volumes, networks and tunnels on hypervisor hv2 (if any) are left there") {
		t.Errorf("down with hv2 unreachable (err=%v):\n%s", err, stderr)
	}
	if left, err := testlab.Leftovers(hvLab, "labctl"); err != nil || len(left) > 0 {
		t.Errorf("hv1 after a down that could not reach hv2: %v %v", left, err)
	}
	if doms, _ := hv2.Virsh("list", "--name"); !strings.Contains(doms, plan.DomainName(hvLab, "node2")) {
		t.Errorf("node2 gone from hv2 though down did not reach it: %q", doms)
	}
	if _, err := os.Stat(filepath.Join(c.LabDir(), "state.json")); err != nil {
		t.Errorf("the state of a lab not wholly down: %v", err)
	}
	if out, stderr, err := c.Run(ctx, "down"); err != nil || !strings.Contains(out, "removed 1 domains") {
		t.Errorf("down again (err=%v): %s%s", err, out, stderr)
	}

	loneRemoteURI(t, ctx, c, hv2)
}

// loneRemoteURI brings up a lab whose topology has only libvirt.uri of
// hv2 (no hypervisors:): the same path as a spread lab's - hv2's pin made
// above, labctl's own SSH connection (the user's default key), the nodes
// reached through it and the ssh config jumping through it.
func loneRemoteURI(t *testing.T, ctx context.Context, c *testlab.CLI, hv2 *testlab.Hypervisor) {
	home := t.TempDir()
	key, err := os.ReadFile(hv2.Identity)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "solo.yaml")
	if err := os.WriteFile(file, []byte("libvirt: {uri: \""+hv2.URI+"\"}\nimage: debian-12-docker\nnodes: [{name: node1}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	solo := *c
	solo.Lab, solo.File = hvLab+"-solo", file
	solo.ExtraEnv = append(append([]string(nil), c.ExtraEnv...), "HOME="+home)
	start := time.Now()
	// Docker through the gateway is shown above; here the path (pins,
	// SSH, libvirt, ProxyJump) is what is tested, so no provisioning.
	_, stderr, err := solo.Run(ctx, "up", "--no-provision")
	if err != nil {
		t.Fatalf("up of a lab with only libvirt.uri %s: %v\n%s", hv2.URI, err, stderr)
	}
	t.Logf("TIMING up (1 node, libvirt.uri of hv2 alone): %s", time.Since(start).Round(time.Second))
	if strings.Contains(stderr, "first contact") {
		t.Errorf("hv2's key, pinned by the spread lab, was trusted anew:\n%s", stderr)
	}
	if out, _, err := solo.Run(ctx, "exec", "node1", "--", "hostname"); err != nil || out != "node1\n" {
		t.Errorf("exec node1 through hv2 (err=%v):\n%s", err, out)
	}
	if doms, _ := hv2.Virsh("list", "--name"); !strings.Contains(doms, plan.DomainName(solo.Lab, "node1")) {
		t.Errorf("node1 is not on hv2: %q", doms)
	}
	cfg := filepath.Join(solo.LabDir(), "ssh_config")
	if out, err := exec.Command("ssh", "-G", "-F", cfg, "node1").CombinedOutput(); err != nil || !strings.Contains(string(out), "proxyjump labctl-"+solo.Lab+"-hypervisor") {
		t.Errorf("ssh -G node1 of the lone-URI lab (err=%v):\n%s", err, out)
	}
	if out, stderr, err := solo.Run(ctx, "down"); err != nil || !strings.Contains(out, "removed 1 domains") {
		t.Errorf("down of the lone-URI lab (err=%v): %s%s", err, out, stderr)
	}
	if doms, _ := hv2.Virsh("list", "--all", "--name"); strings.Contains(doms, "labctl-"+solo.Lab) {
		t.Errorf("left on hv2: %q", doms)
	}
}
