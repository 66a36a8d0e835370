package hypervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/plan/plantest"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func testPlan(t *testing.T, port int) *plan.Plan {
	return plantest.New(t, "tuntest", fmt.Sprintf(`hypervisors:
  - {name: a, uri: "qemu:///system", address: 198.51.100.1}
  - {name: b, uri: "qemu+ssh://root@198.51.100.2/system", address: 198.51.100.2}
tunnels: {port: %d}
nodes: [{name: n1}, {name: n2, hypervisor: b}]
`, port))
}

// Two network namespaces stand for two hypervisors joined by a veth (the
// LAN). Each gets the lab's two bridges, as libvirt would make them; the
// stitch script then joins them, and a ping between addresses on the
// host-only bridges crosses the VXLAN tunnel. Running it again changes
// nothing; a new port makes the devices again; Unstitch removes them and
// leaves the bridges (libvirt's).
func TestStitchJoinsBridgesAcrossNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("LABCTL_INTEGRATION") == "1" {
			t.Fatal("needs root (network namespaces), as the tests run in CI")
		}
		t.Skip("SKIPPED: needs root (network namespaces)")
	}
	for _, tool := range []string{"ip", "bridge", "ping"} {
		testenv.Tool(t, tool)
	}
	ctx := context.Background()
	p := testPlan(t, 4792)
	ns := map[string]string{"a": fmt.Sprintf("lctun-a-%d", os.Getpid()), "b": fmt.Sprintf("lctun-b-%d", os.Getpid())}
	for _, n := range ns {
		run(t, "ip", "netns", "add", n)
		defer exec.Command("ip", "netns", "delete", n).Run()
	}
	run(t, "ip", "-n", ns["a"], "link", "add", "ul", "type", "veth", "peer", "name", "ul", "netns", ns["b"])
	for i, name := range []string{"a", "b"} {
		n := ns[name]
		run(t, "ip", "-n", n, "addr", "add", fmt.Sprintf("198.51.100.%d/24", i+1), "dev", "ul")
		run(t, "ip", "-n", n, "link", "set", "ul", "up")
		for _, s := range p.Tunnels.Segments {
			run(t, "ip", "-n", n, "link", "add", s.Bridge, "type", "bridge")
			run(t, "ip", "-n", n, "link", "set", s.Bridge, "mtu", "1450", "up")
		}
		run(t, "ip", "-n", n, "addr", "add", fmt.Sprintf("10.99.0.%d/24", i+1), "dev", plan.BridgeName("tuntest", plan.RoleHostOnly))
	}
	hosts := map[string]*Host{}
	for _, h := range p.Hypervisors {
		hosts[h.Name] = &Host{HV: h, wrap: []string{"ip", "netns", "exec", ns[h.Name]}}
	}
	stitch := func(p *plan.Plan) {
		t.Helper()
		for _, name := range []string{"a", "b"} {
			if err := hosts[name].Stitch(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	stitch(p)
	if out, err := exec.Command("ip", "netns", "exec", ns["a"], "ping", "-c", "2", "-W", "2", "10.99.0.2").CombinedOutput(); err != nil {
		t.Fatalf("ping across the tunnel: %v\n%s", err, out)
	}
	stitch(p) // again: nothing changes
	for _, s := range p.Tunnels.Segments {
		d := run(t, "ip", "-n", ns["a"], "-d", "-o", "link", "show", "dev", s.Device)
		if !strings.Contains(d, fmt.Sprintf("vxlan id %d local 198.51.100.1 ", s.VNI)) || !strings.Contains(d, "dstport 4792 ") || !strings.Contains(d, "master "+s.Bridge) || !strings.Contains(d, "mtu 1450") {
			t.Errorf("device %s: %s", s.Device, d)
		}
		fdb := run(t, "ip", "netns", "exec", ns["a"], "bridge", "fdb", "show", "dev", s.Device)
		if n := strings.Count(fdb, "00:00:00:00:00:00 dst 198.51.100.2 "); n != 1 {
			t.Errorf("%s: %d flood entries to the peer after two stitches, want 1:\n%s", s.Device, n, fdb)
		}
	}
	// Another port: the devices are made again with it.
	stitch(testPlan(t, 4793))
	if d := run(t, "ip", "-n", ns["b"], "-d", "-o", "link", "show", "dev", p.Tunnels.Segments[0].Device); !strings.Contains(d, "dstport 4793 ") {
		t.Errorf("after a port change: %s", d)
	}
	if out, err := exec.Command("ip", "netns", "exec", ns["b"], "ping", "-c", "1", "-W", "2", "10.99.0.1").CombinedOutput(); err != nil {
		t.Errorf("ping after the port change: %v\n%s", err, out)
	}
	removed, err := hosts["a"].Unstitch(ctx, "tuntest")
	if err != nil || len(removed) != 2 {
		t.Errorf("unstitch: %v %v", removed, err)
	}
	links, err := hosts["a"].Links(ctx, "tuntest")
	if err != nil || len(links) != 2 || strings.HasPrefix(links[0], "lv") || strings.HasPrefix(links[1], "lv") {
		t.Errorf("links after unstitch: %v %v (want the two bridges only)", links, err)
	}
	if again, err := hosts["a"].Unstitch(ctx, "tuntest"); err != nil || len(again) != 0 {
		t.Errorf("second unstitch: %v %v", again, err)
	}
}

func TestStitchScriptRefusesOtherHypervisorsAndUnspreadLabs(t *testing.T) {
	if _, err := StitchScript(testPlan(t, 4792), "zz"); err == nil {
		t.Error("a hypervisor outside the lab was accepted")
	}
	s, err := StitchScript(testPlan(t, 4792), "a")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s", err, out)
	}
}
