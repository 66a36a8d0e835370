package hypervisor

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/internal/testlab"
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
	testenv.Namespaces(t, "bridge", "ping", "nft", "tcpdump", "timeout")
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
		labBridges(t, n, p, fmt.Sprintf("10.99.0.%d/24", i+1))
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
	// A VXLAN frame with the lab's VNI from a host on the LAN that is not
	// one of the lab's hypervisors never reaches the lab's bridge; with the
	// lab's nftables table removed (the control) it does, so the capture
	// can see it.
	atk := fmt.Sprintf("lctun-c-%d", os.Getpid())
	run(t, "ip", "netns", "add", atk)
	defer exec.Command("ip", "netns", "delete", atk).Run()
	run(t, "ip", "-n", ns["a"], "link", "add", "atk", "type", "veth", "peer", "name", "atk", "netns", atk)
	run(t, "ip", "-n", ns["a"], "addr", "add", "203.0.113.1/24", "dev", "atk")
	run(t, "ip", "-n", ns["a"], "link", "set", "atk", "up")
	run(t, "ip", "-n", atk, "addr", "add", "203.0.113.3/24", "dev", "atk")
	run(t, "ip", "-n", atk, "link", "set", "atk", "up")
	ho := p.Tunnels.Segments[1]
	if ho.Role != plan.RoleHostOnly {
		t.Fatalf("segments: %+v", p.Tunnels.Segments)
	}
	if d := run(t, "ip", "-n", ns["a"], "-d", "-o", "link", "show", "dev", ho.Device); !strings.Contains(d, "nolearning") {
		t.Errorf("%s learns remote MACs from packets: %s", ho.Device, d)
	}
	if injected(t, ns["a"], atk, "203.0.113.1", ho.Bridge, ho.VNI, 4792) {
		t.Error("a VXLAN frame from a host that is no hypervisor of the lab reached its bridge")
	}
	run(t, "ip", "netns", "exec", ns["a"], "nft", "delete", "table", "inet", FirewallTable("tuntest"))
	if !injected(t, ns["a"], atk, "203.0.113.1", ho.Bridge, ho.VNI, 4792) {
		t.Error("control: without the lab's table the injected frame did not reach the bridge either, so the capture sees nothing")
	}
	stitch(p) // the table is back
	if injected(t, ns["a"], atk, "203.0.113.1", ho.Bridge, ho.VNI, 4792) {
		t.Error("after stitching again, the injected frame reached the bridge")
	}
	if out, err := exec.Command("ip", "netns", "exec", ns["a"], "ping", "-c", "1", "-W", "2", "10.99.0.2").CombinedOutput(); err != nil {
		t.Errorf("ping across the tunnel with the table: %v\n%s", err, out)
	}
	// A node on the lab's host-only bridge sends into the NAT segment's
	// tunnel through its hypervisor's own address: dropped too (with the
	// table gone it arrives).
	node := fmt.Sprintf("lctun-n-%d", os.Getpid())
	run(t, "ip", "netns", "add", node)
	defer exec.Command("ip", "netns", "delete", node).Run()
	run(t, "ip", "-n", ns["a"], "link", "add", "pnode", "type", "veth", "peer", "name", "eth0", "netns", node)
	run(t, "ip", "-n", ns["a"], "link", "set", "pnode", "master", ho.Bridge, "up")
	run(t, "ip", "-n", node, "addr", "add", "10.99.0.50/24", "dev", "eth0")
	run(t, "ip", "-n", node, "link", "set", "eth0", "up")
	natSeg := p.Tunnels.Segments[0]
	if injected(t, ns["a"], node, "10.99.0.1", natSeg.Bridge, natSeg.VNI, 4792) {
		t.Error("a node injected a frame into its lab's NAT segment through the tunnel port")
	}
	run(t, "ip", "netns", "exec", ns["a"], "nft", "delete", "table", "inet", FirewallTable("tuntest"))
	if !injected(t, ns["a"], node, "10.99.0.1", natSeg.Bridge, natSeg.VNI, 4792) {
		t.Error("control: without the table the node's frame did not arrive either")
	}
	stitch(p)

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
	if out, err := exec.Command("ip", "netns", "exec", ns["a"], "nft", "list", "table", "inet", FirewallTable("tuntest")).CombinedOutput(); err == nil {
		t.Errorf("unstitch left the lab's nftables table:\n%s", out)
	}
}

// injected sends, from namespace from, VXLAN packets with vni to
// to:port (an address of namespace at), each carrying a broadcast frame
// from 02:00:de:ad:be:ef, and tells whether one appeared on bridge br in
// at.
func injected(t *testing.T, at, from, to, br string, vni uint32, port int) bool {
	t.Helper()
	capture := exec.Command("ip", "netns", "exec", at, "timeout", "4", "tcpdump", "-i", br, "-nn", "-l", "-c", "1", "ether", "src", "02:00:de:ad:be:ef")
	var out strings.Builder
	capture.Stdout = &out
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // tcpdump listening
	pkt := []byte{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	pkt = append(pkt, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x88, 0xb5)
	pkt = append(pkt, []byte("labctl injected frame, padded to the minimum...........")...)
	err := testlab.InNetns(from, func() error {
		c, err := net.Dial("udp", net.JoinHostPort(to, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < 5; i++ {
			if _, err := c.Write(pkt); err != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	capture.Wait()
	return strings.Contains(out.String(), "02:00:de:ad:be:ef")
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

// The stitch script runs as root: a plan whose values could not be written
// into it safely (whatever let them through) is refused, not run.
func TestStitchScriptRefusesValuesItCannotWrite(t *testing.T) {
	for name, mutate := range map[string]func(p *plan.Plan){
		"address":  func(p *plan.Plan) { p.Hypervisors[1].Address = "198.51.100.2; reboot" },
		"device":   func(p *plan.Plan) { p.Tunnels.Segments[0].Device = "lv$(id)" },
		"bridge":   func(p *plan.Plan) { p.Tunnels.Segments[1].Bridge = "br0 up; reboot" },
		"vni":      func(p *plan.Plan) { p.Tunnels.Segments[0].VNI = 1 << 24 },
		"port":     func(p *plan.Plan) { p.Tunnels.Port = 0 },
		"own name": func(p *plan.Plan) { p.Hypervisors[0].Name = "a'b" },
	} {
		p := testPlan(t, 4792)
		self := p.Hypervisors[0].Name
		mutate(p)
		if name == "own name" {
			self = p.Hypervisors[0].Name
		}
		if s, err := StitchScript(p, self); err == nil {
			t.Errorf("%s: a script was made:\n%s", name, s)
		}
	}
}

// labBridges makes the lab's bridges in namespace ns, as libvirt would,
// with addr on the host-only one.
func labBridges(t *testing.T, ns string, p *plan.Plan, addr string) {
	t.Helper()
	for _, s := range p.Tunnels.Segments {
		run(t, "ip", "-n", ns, "link", "add", s.Bridge, "type", "bridge")
		run(t, "ip", "-n", ns, "link", "set", s.Bridge, "mtu", "1450", "up")
	}
	run(t, "ip", "-n", ns, "addr", "add", addr, "dev", plan.BridgeName(p.Lab, plan.RoleHostOnly))
}
