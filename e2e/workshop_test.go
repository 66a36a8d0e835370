package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/internal/testlab"
	"github.com/labctl/labctl/workshop"
)

// One node per seat, from the Docker-ready image.
const seatTopology = `image: debian-12-docker
nodes:
  - name: node1
outside:
  address: ` + testlab.UpstreamAddr + `
`

// serveInBrowser serves the workshop (on hv1's LAN address) and drives
// Chromium from the student laptop (web/ui/workshop-browser-test.mjs):
// node1's terminal on seat 1 runs docker network ls; a 5 s cut of the
// browser's connections comes back to the same shell and its output; the
// none lab typed from the page's steps, then its check passes and the
// board, open all along, shows it within 5 s; seat 2's token opens
// nothing of seat 1 (403, WebSocket refused); seat 2 reset from the
// board is ready again. Screenshots are kept (labctl-test-artifacts in
// the temp directory); no token reaches the server's log.
func serveInBrowser(t *testing.T, ctx context.Context, h *testlab.Harness, c *testlab.CLI, laptop string) {
	testenv.Tool(t, "node")
	script, err := filepath.Abs("../web/ui/workshop-browser-test.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("../web/ui/node_modules/playwright-core"); err != nil {
		t.Fatalf("playwright-core is not installed: run 'make web-deps' (npm ci in web/ui): %v", err)
	}
	listen := testlab.UnderlayAddr(1) + ":8443"
	serve := c.Cmd(ctx, "workshop", "serve", "--listen", listen)
	sout, serr := &testenv.Buffer{}, &testenv.Buffer{}
	serve.Stdout, serve.Stderr = sout, serr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			serve.Process.Kill()
			serve.Wait()
		}
	}()
	var linksFile string
	for deadline := time.Now().Add(time.Minute); linksFile == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if m := regexp.MustCompile(`every seat's link: +(\S+)`).FindStringSubmatch(sout.String()); m != nil {
			linksFile = m[1]
		}
	}
	if linksFile == "" {
		t.Fatalf("workshop serve did not start:\n%s\n%s", sout.String(), serr.String())
	}
	data, err := os.ReadFile(linksFile)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok && !strings.HasPrefix(k, "#") {
			links[k] = v
		}
	}
	if fi, _ := os.Stat(linksFile); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s is not mode 0600: %v", linksFile, fi)
	}
	u2, _ := url.Parse(links["seat-02"])
	// Kept after the test (its own directory goes): the last run's
	// screenshots, to look at.
	shots := filepath.Join(os.TempDir(), "labctl-test-artifacts", "workshop-browser")
	os.RemoveAll(shots)
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots of the student's page and the board: %s", shots)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", laptop, "node", script)
	cmd.Env = append(os.Environ(), "LINK_SEAT1="+links["seat-01"], "LINK_BOARD="+links["board"], "TOKEN_SEAT2="+u2.Query().Get("t"), "SHOTS="+shots)
	var berr strings.Builder
	cmd.Stderr = &berr
	start := time.Now()
	out, err := cmd.Output()
	t.Logf("TIMING the browser test: %s\n%s", time.Since(start).Round(time.Second), berr.String())
	var res struct {
		OK        bool
		Error     string
		SameShell bool
		Checks    int
		BoardMs   int
		ResetMs   int
		Refusals  map[string]int
		WebSocket string
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &res); jerr != nil || err != nil {
		t.Fatalf("the browser test (err=%v): %v\n%s", err, jerr, out)
	}
	t.Logf("browser: %s", lines[len(lines)-1])
	if !res.OK {
		t.Errorf("the browser test failed: %s", res.Error)
	}
	if !res.SameShell || res.Checks != 2 || res.BoardMs > 5000 || res.WebSocket != "refused" {
		t.Errorf("the browser test: same shell %v, %d checks passing (want 2), board after %d ms, seat 2's WebSocket on seat 1: %s", res.SameShell, res.Checks, res.BoardMs, res.WebSocket)
	}
	for what, code := range res.Refusals {
		if code != 403 {
			t.Errorf("seat 2's token for seat 1's %s: HTTP %d, want 403", what, code)
		}
	}
	if len(res.Refusals) != 4 {
		t.Errorf("refusals: %v", res.Refusals)
	}
	for _, f := range []string{"student.png", "board.png", "board-after-reset.png"} {
		if fi, err := os.Stat(filepath.Join(shots, f)); err != nil || fi.Size() < 10<<10 {
			t.Errorf("screenshot %s: %v", f, err)
		}
	}
	// What the student started is not in the way of the labs that follow.
	seat1 := *c
	seat1.Lab, seat1.File = "itws-s01", ""
	seat1.Run(ctx, "exec", "node1", "--", "docker rm -f milk >/dev/null 2>&1; true")
	// Ctrl-C, as the instructor stops it.
	serve.Process.Signal(os.Interrupt)
	err = serve.Wait()
	stopped = true
	if err != nil || !strings.Contains(sout.String(), "stopped serving") {
		t.Errorf("workshop serve did not stop cleanly on SIGINT (err=%v):\n%s\n%s", err, sout.String(), serr.String())
	}
	for k, v := range links {
		if u, err := url.Parse(v); err == nil && u.Query().Get("t") != "" && strings.Contains(serr.String(), u.Query().Get("t")) {
			t.Errorf("the %s token is in the server's log", k)
		}
	}
	t.Logf("workshop serve's log:\n%s", testlab.LastLines(serr.String(), 30))
}

// TestWorkshopForReal: two seats of one node each on two hypervisors
// (seat 1 on hv1, this namespace; seat 2 whole on the simulated hv2, its
// gateway there), up at once, each hypervisor with a jump host for
// students; access cards rendered in Chromium; from a student laptop (a
// namespace on the room's LAN with no route to any lab network) each
// card's ssh command works with plain OpenSSH and only the seat's folder,
// and a seat's key opens nothing else; status and a seats x checks matrix
// all passing; a late joiner leaves the others as they were; hv2 lost:
// its seat named unreachable, the others' checks pass, up again after it
// returns converges; one seat broken on purpose shows failing with
// evidence; down leaves nothing on either hypervisor.
func TestWorkshopForReal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	h := testlab.Start(t, ctx, testlab.Setup{Lab: "itws", Topology: seatTopology, Upstream: true, Tools: []string{"ssh", "chromium", "/usr/sbin/sshd"},
		Images: []string{"debian-12-docker", "docker.io-debian-12", "busybox", "nginx"}, Hypervisors: []string{"hv2"}, Capacity: "cpus: 8, memory: 8GiB"})
	c, hv2 := h.CLI, h.Hypervisors[0]
	leftovers := func() []string {
		var left []string
		for _, l := range []string{"itws-s01", "itws-s02", "itws-s03"} {
			here, _ := testlab.Leftovers(l, "labctl")
			there, _ := hv2.Leftovers(l, "labctl", testlab.LabLinks(l))
			left = append(append(left, here...), there...)
		}
		return left
	}
	t.Cleanup(func() {
		c.Run(context.Background(), "workshop", "down")
		if left := leftovers(); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	})
	laptop, err := h.Env.AddLaptop(1)
	if err != nil {
		t.Fatal(err)
	}
	jump := testlab.UnderlayAddr(1) + ":2222"
	start := time.Now()
	if _, _, err := c.Run(ctx, "workshop", "up", "--seats", "2"); err != nil {
		t.Fatalf("workshop up: %v", err)
	}
	t.Logf("TIMING workshop up (2 seats x 1 node, one on each hypervisor, at once): %s", time.Since(start).Round(time.Second))

	// Access cards, rendered in a real browser.
	cards := filepath.Join(h.Work, "cards")
	if _, _, err := c.Run(ctx, "workshop", "cards", cards); err != nil {
		t.Fatalf("workshop cards: %v", err)
	}
	var card [2]workshop.Card
	for i := range card {
		folder := filepath.Join(cards, []string{"seat-01", "seat-02"}[i])
		data, err := os.ReadFile(filepath.Join(folder, "card.json"))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(data, &card[i])
		dom, _ := testenv.RenderInChromium(t, filepath.Join(folder, "card.html"))
		text := strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(dom, " ")), " ")
		if !strings.Contains(text, card[i].Nodes[0].SSH) || !strings.Contains(text, card[i].Lab) {
			t.Errorf("card %d in Chromium lacks its ssh command %q", i+1, card[i].Nodes[0].SSH)
		}
	}
	// On the student's laptop: only the seat folders, plain OpenSSH.
	home := t.TempDir()
	for _, f := range []string{"seat-01", "seat-02"} {
		if out, err := exec.Command("cp", "-a", filepath.Join(cards, f), home).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	fromLaptop := func(args ...string) (string, int) {
		cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", laptop, "ssh", "-o", "BatchMode=yes"}, args...)...)
		cmd.Dir = home
		out, code, err := testlab.Exit(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return out, code
	}
	if card[0].Jump != jump || card[1].Jump != hv2.Addr+":2222" {
		t.Errorf("the cards' jump hosts: %q and %q, want each seat's hypervisor's (%s, %s:2222)", card[0].Jump, card[1].Jump, jump, hv2.Addr)
	}
	for i := range card {
		args := append(strings.Fields(card[i].Nodes[0].SSH)[1:], "hostname; docker info --format 'docker={{.ServerVersion}}'")
		if out, code := fromLaptop(args...); code != 0 || !strings.Contains(out, "node1") || !strings.Contains(out, "docker=") {
			t.Errorf("seat %d's card command from the laptop: exit %d\n%s", i+1, code, out)
		}
	}
	// What seat 1's key opens besides: nothing. Seat 2's node (its
	// address put in place of seat 1's), a shell or a command on the
	// hypervisor, a forward to the hypervisor's sshd or to another port
	// of seat 1's own node, a remote forward; and the laptop reaches no
	// node without the jump host.
	ip1, ip2 := card[0].Nodes[0].HostOnly, card[1].Nodes[0].HostOnly
	for _, r := range []struct {
		what string
		args []string
		code int
		says string
	}{
		{"seat 2's node", []string{"-F", "seat-01/ssh_config", "-o", "HostName=" + ip2, "node1", "hostname"}, 255, "administratively prohibited"},
		{"a shell on the hypervisor", []string{"-F", "seat-01/ssh_config", "labctl-jump"}, 1, "This account is currently not available"},
		{"a command on the hypervisor", []string{"-F", "seat-01/ssh_config", "labctl-jump", "id"}, 1, "This account is currently not available"},
		{"the hypervisor's sshd", []string{"-F", "seat-01/ssh_config", "-W", testlab.UnderlayAddr(1) + ":22", "labctl-jump"}, 255, "administratively prohibited"},
		{"another port of its node", []string{"-F", "seat-01/ssh_config", "-W", ip1 + ":2375", "labctl-jump"}, 255, "administratively prohibited"},
		{"a remote forward", []string{"-F", "seat-01/ssh_config", "-N", "-o", "ExitOnForwardFailure=yes", "-R", "8022:" + ip2 + ":22", "labctl-jump"}, 255, "remote port forwarding failed"},
		{"seat 2's node without the jump host", []string{"-F", "none", "-o", "ConnectTimeout=5", "lab@" + ip2}, 255, "unreachable"},
	} {
		if out, code := fromLaptop(r.args...); code != r.code || !strings.Contains(out, r.says) {
			t.Errorf("from the laptop with seat 1's folder, %s: exit %d, want %d with %q\n%s", r.what, code, r.code, r.says, out)
		}
	}

	// Seats are isolated: from seat 1's node, seat 2's node does not
	// answer, nor does a TCP port of seat 1's own gateway address (the
	// host's services: dropped, so the connection times out rather than
	// being refused); pinging the gateway works.
	gw1 := ip1[:strings.LastIndex(ip1, ".")] + ".1"
	seat1 := *c
	seat1.Lab, seat1.File = "itws-s01", ""
	probe := fmt.Sprintf("ping -c 1 -W 2 %s >/dev/null 2>&1; echo other=$?; timeout 4 bash -c 'echo > /dev/tcp/%s/22' 2>/dev/null; echo host=$?; ping -c 1 -W 2 %s >/dev/null 2>&1; echo gateway=$?", ip2, gw1, gw1)
	if out, _, err := seat1.Run(ctx, "exec", "node1", "--", probe); err != nil || !strings.Contains(out, "other=1") || !strings.Contains(out, "host=124") || !strings.Contains(out, "gateway=0") {
		t.Errorf("seat 1's node is not isolated (err=%v): %q (want other=1: seat 2's node unreachable; host=124: the gateway's TCP dropped; gateway=0)", err, out)
	}

	// Status and the matrix, all passing.
	out, _, err := c.Run(ctx, "workshop", "status")
	if err != nil || strings.Count(out, " running ") != 2 || strings.Count(out, " yes ") != 2 || !strings.Contains(out, "\n2/2 seats ready\n") {
		t.Errorf("workshop status (err=%v):\n%s", err, out)
	}
	start = time.Now()
	page := filepath.Join(h.Work, "matrix.html")
	// The host lab: three checks (nginx on the node's addresses, the
	// node's interfaces in a container, a second host-mode nginx hitting
	// the port conflict), in a third of the bridge lab's time.
	out, _, err = c.Run(ctx, "workshop", "check", "host", "--html", page)
	t.Logf("TIMING workshop check host (2 seats): %s\n%s", time.Since(start).Round(time.Second), out)
	if err != nil || !regexp.MustCompile(`(?m)^1 +(pass +){3}3 +0$`).MatchString(out) || !regexp.MustCompile(`(?m)^2 +(pass +){3}3 +0$`).MatchString(out) {
		t.Errorf("workshop check host: not 2 x 3 passing (err=%v)", err)
	}
	if dom, _ := testenv.RenderInChromium(t, page); !strings.Contains(dom, "2 seats x 3 checks") || strings.Count(dom, `class="pass"`) != 6 {
		t.Errorf("the matrix page in Chromium: %d passing cells", strings.Count(dom, `class="pass"`))
	}

	// The workshop in the browser, from the student laptop.
	serveInBrowser(t, ctx, h, c, laptop)

	// A stage: every seat's snapshot taken as it is, and seat 2 put back
	// to it after its student went on (a file made after the stage is
	// gone, one made before is there, memory included: no boot).
	seat2 := *c
	seat2.Lab, seat2.File = "itws-s02", ""
	if _, _, err := seat2.Run(ctx, "exec", "node1", "--", "touch /tmp/before-stage"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if out, _, err := c.Run(ctx, "workshop", "snapshot", "after-browser"); err != nil || !strings.Contains(out, "stage after-browser taken") {
		t.Fatalf("workshop snapshot (err=%v): %s", err, out)
	}
	t.Logf("TIMING workshop snapshot (2 seats x 1 node): %s", time.Since(start).Round(100*time.Millisecond))
	bootID, _, _ := seat2.Run(ctx, "exec", "node1", "--", "touch /tmp/after-stage; cat /proc/sys/kernel/random/boot_id")
	qemu := qemuPID(t, "labctl-itws-s02-node1")
	start = time.Now()
	if out, _, err := c.Run(ctx, "workshop", "reset", "2", "--stage", "after-browser"); err != nil || !strings.Contains(out, "reset to stage after-browser") {
		t.Fatalf("workshop reset 2 --stage (err=%v): %s", err, out)
	}
	t.Logf("TIMING workshop reset to a stage (1 node): %s", time.Since(start).Round(100*time.Millisecond))
	// The boot id: the same kernel, running on from the snapshot.
	if out, _, err := seat2.Run(ctx, "exec", "node1", "--", "ls /tmp/before-stage /tmp/after-stage 2>&1; cat /proc/sys/kernel/random/boot_id"); err != nil || bootID == "" ||
		!strings.Contains(out, "/tmp/before-stage\n") || !strings.Contains(out, "cannot access '/tmp/after-stage'") || !strings.HasSuffix(out, bootID) {
		t.Errorf("seat 2 after its reset to the stage (err=%v): %q (boot id before %q)", err, out, bootID)
	}
	// In the same QEMU (loadvm), not a new one started by libvirt's revert.
	if now := qemuPID(t, "labctl-itws-s02-node1"); now != qemu {
		t.Errorf("seat 2's QEMU was %d before the reset, %d after: not reverted in place", qemu, now)
	}
	if out, stderr, err := c.Run(ctx, "workshop", "reset", "1", "--stage", "never-taken"); err == nil || !strings.Contains(out+stderr, "take the stage's snapshot first") {
		t.Errorf("a reset to a stage never taken (err=%v): %s%s", err, out, stderr)
	}

	// A late joiner: a third seat added while seats 1 and 2 run leaves
	// them as they were - a container seat 1's student started still
	// runs, and neither node rebooted.
	seatCLI := func(n int) *testlab.CLI {
		s := *c
		s.Lab, s.File = fmt.Sprintf("itws-s%02d", n), ""
		return &s
	}
	booted, _, err := seatCLI(1).Run(ctx, "exec", "node1", "--", "docker run -d --name keepme busybox sleep 86400 >/dev/null; uptime -s")
	if err != nil {
		t.Fatalf("seat 1 before the late joiner: %v", err)
	}
	booted2, _, _ := seatCLI(2).Run(ctx, "exec", "node1", "--", "uptime -s")
	start = time.Now()
	if _, stderr, err := c.Run(ctx, "workshop", "up", "--seats", "3"); err != nil {
		t.Fatalf("workshop up --seats 3: %v\n%s", err, stderr)
	}
	t.Logf("TIMING workshop up --seats 3 (one seat added beside two running): %s", time.Since(start).Round(time.Second))
	after, _, err := seatCLI(1).Run(ctx, "exec", "node1", "--", "docker ps --filter name=keepme --format '{{.Names}}'; uptime -s")
	if err != nil || !strings.HasPrefix(after, "keepme\n") || !strings.HasSuffix(strings.TrimSpace(after), strings.TrimSpace(booted)) {
		t.Errorf("seat 1 after a third seat was added (err=%v): %q, before: boot %q", err, after, booted)
	}
	if after2, _, _ := seatCLI(2).Run(ctx, "exec", "node1", "--", "uptime -s"); strings.TrimSpace(after2) != strings.TrimSpace(booted2) {
		t.Errorf("seat 2 rebooted when a third seat was added: %q, before %q", after2, booted2)
	}
	seatCLI(1).Run(ctx, "exec", "node1", "--", "docker rm -f keepme >/dev/null")
	// The late joiner's card works from the laptop (the jump host took its
	// key without --jump given again), and seat 1's still does.
	if _, _, err := c.Run(ctx, "workshop", "cards", cards); err != nil {
		t.Fatalf("workshop cards with three seats: %v", err)
	}
	exec.Command("cp", "-a", filepath.Join(cards, "seat-03"), home).Run()
	for _, n := range []string{"01", "03"} {
		if out, code := fromLaptop("-F", "seat-"+n+"/ssh_config", "node1", "hostname"); code != 0 || !strings.Contains(out, "node1") {
			t.Errorf("seat %s from the laptop after the late joiner: exit %d\n%s", n, code, out)
		}
	}
	if out, _, err := c.Run(ctx, "workshop", "status"); err != nil || !strings.Contains(out, "\n3/3 seats ready\n") {
		t.Errorf("status with three seats (err=%v):\n%s", err, out)
	}

	// hv2 lost (its link to the LAN down): status names seat 2
	// unreachable within its bound and the others ready; seat 1's checks
	// pass; once hv2 is back, up again converges.
	if out, err := h.Env.Command(ctx, "ip", "link", "set", hv2.Veth, "down").CombinedOutput(); err != nil {
		t.Fatalf("cut hv2: %v %s", err, out)
	}
	start = time.Now()
	out, stderr, err := c.Run(ctx, "workshop", "status")
	took := time.Since(start)
	t.Logf("TIMING workshop status with hv2 unreachable: %s\n%s%s", took.Round(time.Second), out, testlab.LastLines(stderr, 3))
	if err == nil || !regexp.MustCompile(`(?m)^2 +itws-s02 +- +unreachable`).MatchString(out) || !strings.Contains(out, "2/3 seats ready; not ready: 2") ||
		!strings.Contains(stderr, "hv2") || took > workshop.StatusTimeout+15*time.Second {
		t.Errorf("status with hv2 unreachable (err=%v, %s)", err, took)
	}
	out, _, err = c.Run(ctx, "workshop", "check", "none")
	t.Logf("workshop check none with hv2 unreachable:\n%s", testlab.FailuresExpected(out))
	if err == nil || !regexp.MustCompile(`(?m)^1 +pass +pass +2 +0$`).MatchString(out) || !regexp.MustCompile(`(?m)^3 +pass +pass +2 +0$`).MatchString(out) || !strings.Contains(out, "seat 2 (itws-s02)") {
		t.Errorf("the checks with hv2 unreachable: seats 1 and 3 do not pass, or seat 2 is not named (err=%v)", err)
	}
	if out, err := h.Env.Command(ctx, "ip", "link", "set", hv2.Veth, "up").CombinedOutput(); err != nil {
		t.Fatalf("bring hv2 back: %v %s", err, out)
	}
	start = time.Now()
	if _, stderr, err := c.Run(ctx, "workshop", "up", "--seats", "3"); err != nil {
		t.Fatalf("workshop up after hv2 came back: %v\n%s", err, stderr)
	}
	t.Logf("TIMING workshop up again after hv2 came back: %s", time.Since(start).Round(time.Second))
	if out, _, err := c.Run(ctx, "workshop", "status"); err != nil || !strings.Contains(out, "\n3/3 seats ready\n") {
		t.Errorf("status after hv2 came back (err=%v):\n%s", err, out)
	}

	// Seat 2 broken on purpose: Docker stopped. The seat is a lab of its
	// own, whose topology labctl recorded.
	if _, stderr, err := seat2.Run(ctx, "exec", "node1", "--", "sudo systemctl stop docker.socket docker"); err != nil {
		t.Fatalf("stop docker on seat 2: %v\n%s", err, stderr)
	}
	out, _, err = c.Run(ctx, "workshop", "status")
	if err == nil || !regexp.MustCompile(`(?m)^2 +itws-s02 +node1 +running +yes +no`).MatchString(out) || !strings.Contains(out, "2/3 seats ready; not ready: 2") {
		t.Errorf("status with seat 2's Docker stopped (err=%v):\n%s", err, out)
	}
	out, _, err = c.Run(ctx, "workshop", "check", "none")
	t.Logf("workshop check none, seat 2 broken:\n%s", testlab.FailuresExpected(out))
	if err == nil || !regexp.MustCompile(`(?m)^1 +pass +pass +2 +0$`).MatchString(out) || !regexp.MustCompile(`(?m)^2 +- +- +0 +1$`).MatchString(out) || !strings.Contains(out, "seat 2 (itws-s02)") {
		t.Errorf("the matrix does not show seat 2 failing (err=%v)", err)
	}

	// Seat 2's student makes docker print for ever: the check of that
	// seat stops at its deadline, marked, while seat 1's passes, and
	// labctl's memory stays bounded.
	if _, stderr, err := seat2.Run(ctx, "exec", "node1", "--", "sudo mv /usr/bin/docker /usr/bin/docker.real && printf '#!/bin/sh\\nexec yes\\n' | sudo tee /usr/bin/docker >/dev/null && sudo chmod +x /usr/bin/docker"); err != nil {
		t.Fatalf("replace docker on seat 2: %v\n%s", err, stderr)
	}
	lf := filepath.Join(t.TempDir(), "docker-answers.yaml")
	os.WriteFile(lf, []byte("title: docker answers\nchecks:\n  - name: docker ps answers\n    run: docker ps --format '{{.ID}}'\n    timeout: 600\n"), 0o644)
	start = time.Now()
	cmd := c.Cmd(ctx, "workshop", "check", lf, "--check-only", "--seat-timeout", "30s")
	var mout strings.Builder
	cmd.Stdout = &mout
	err = cmd.Run()
	took = time.Since(start)
	var maxRSS int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxRSS = ru.Maxrss // KiB
	}
	out = mout.String()
	t.Logf("TIMING workshop check with seat 2's docker printing for ever: %s, labctl max RSS %d MiB\n%s", took.Round(time.Second), maxRSS>>10, testlab.FailuresExpected(out))
	if err == nil || took > 2*time.Minute || !regexp.MustCompile(`(?m)^1 +pass +1 +0$`).MatchString(out) || !strings.Contains(out, "timed out: the seat's checks did not finish within 30s") {
		t.Errorf("workshop check with a docker that never ends (err=%v, %s)", err, took)
	}
	if maxRSS > 300<<10 {
		t.Errorf("labctl grew to %d MiB reading a seat that prints for ever", maxRSS>>10)
	}

	// Reset brings seat 2 back, from its snapshot, fast, in its own QEMU.
	qemu = qemuPID(t, "labctl-itws-s02-node1")
	start = time.Now()
	out, stderr, err = c.Run(ctx, "workshop", "reset", "2")
	t.Logf("TIMING workshop reset (1 node): %s\n%s%s", time.Since(start).Round(100*time.Millisecond), out, stderr)
	if err != nil {
		t.Fatalf("workshop reset: %v", err)
	}
	if now := qemuPID(t, "labctl-itws-s02-node1"); now != qemu {
		t.Errorf("seat 2's QEMU was %d before the reset, %d after: not reverted in place", qemu, now)
	}
	out, _, err = c.Run(ctx, "workshop", "status")
	if err != nil || strings.Count(out, " yes ") != 3 {
		t.Errorf("status after the reset (err=%v):\n%s", err, out)
	}
	if clock, _, err := seat2.Run(ctx, "exec", "node1", "--", "date +%s"); err == nil {
		var sec int64
		fmt.Sscan(clock, &sec)
		if d := time.Since(time.Unix(sec, 0)); d > time.Minute || d < -time.Minute {
			t.Errorf("seat 2's clock is %s off after the reset", d)
		}
	}
	out, _, err = c.Run(ctx, "workshop", "check", "none")
	if err != nil || !regexp.MustCompile(`(?m)^2 +pass +pass +2 +0$`).MatchString(out) {
		t.Errorf("a lab on seat 2 after the reset (err=%v):\n%s", err, out)
	}

	// Down: nothing of either seat is left, nor the jump host.
	if out, _, err := c.Run(ctx, "workshop", "down"); err != nil || !strings.Contains(out, "removed 3 seats") {
		t.Errorf("workshop down: %v\n%s", err, out)
	}
	if _, err := os.Stat("/var/lib/labctl/jump/itws"); !os.IsNotExist(err) {
		t.Errorf("the jump host's directory is left: %v", err)
	}
	if out, _ := h.Env.Command(ctx, "ss", "-Hltn", "src "+jump).Output(); len(out) > 0 {
		t.Errorf("the jump host still listens:\n%s", out)
	}
	if out, _ := hv2.In(ctx, "ss", "-Hltnp", "sport = :2222"); strings.TrimSpace(out) != "" {
		dbg, _ := hv2.In(ctx, "sh", "-c", "ls -la /var/lib/labctl/jump/itws; ps -ef | grep [l]abctl/jump")
		t.Errorf("hv2's jump host still listens:\n%s\n%s", out, dbg)
	}
	if left := leftovers(); len(left) > 0 {
		t.Errorf("after workshop down, left: %v", left)
	}
}

// qemuPID is the process id of the QEMU running domain (whichever of the
// test's hypervisors runs it: they share the process namespace).
func qemuPID(t *testing.T, domain string) int {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", "guest="+domain+",").Output()
	f := strings.Fields(string(out))
	if err != nil || len(f) != 1 {
		t.Fatalf("the QEMU of %s: pgrep says %q (%v)", domain, out, err)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
