package hypervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/plan/plantest"
)

// Ten hypervisors, each a network namespace on one LAN bridge: stitching
// a lab over all of them (one VXLAN device per segment, nine flood entries
// each, the nftables table), how long it takes, and a ping from the first
// to the last across the tunnel. The figures go into the README's
// "Beyond a few hypervisors".
func TestStitchTenHypervisors(t *testing.T) {
	testenv.Namespaces(t, "bridge", "ping", "nft")
	const n = 10
	var b strings.Builder
	b.WriteString("hypervisors:\n")
	for i := 1; i <= n; i++ {
		uri := "qemu+ssh://root@198.51.100." + fmt.Sprint(i) + "/system"
		if i == 1 {
			uri = "qemu:///system"
		}
		fmt.Fprintf(&b, "  - {name: h%d, uri: %q, address: 198.51.100.%d}\n", i, uri, i)
	}
	b.WriteString("nodes: [{name: n1}]\n")
	p := plantest.New(t, "scale", b.String())
	pid := os.Getpid()
	lan := fmt.Sprintf("lcsc-lan-%d", pid)
	run(t, "ip", "netns", "add", lan)
	defer exec.Command("ip", "netns", "delete", lan).Run()
	run(t, "ip", "-n", lan, "link", "add", "lan", "type", "bridge")
	run(t, "ip", "-n", lan, "link", "set", "lan", "up")
	hosts := make([]*Host, n)
	nss := make([]string, n)
	for i := 0; i < n; i++ {
		ns := fmt.Sprintf("lcsc-%d-%d", i+1, pid)
		nss[i] = ns
		run(t, "ip", "netns", "add", ns)
		defer exec.Command("ip", "netns", "delete", ns).Run()
		port := fmt.Sprintf("h%d", i+1)
		run(t, "ip", "-n", lan, "link", "add", port, "type", "veth", "peer", "name", "ul", "netns", ns)
		run(t, "ip", "-n", lan, "link", "set", port, "master", "lan", "up")
		run(t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("198.51.100.%d/24", i+1), "dev", "ul")
		run(t, "ip", "-n", ns, "link", "set", "ul", "up")
		labBridges(t, ns, p, fmt.Sprintf("10.98.0.%d/24", i+1))
		hosts[i] = &Host{HV: p.Hypervisors[i], wrap: []string{"ip", "netns", "exec", ns}}
	}
	start := time.Now()
	var slowest time.Duration
	for _, h := range hosts {
		s := time.Now()
		if err := h.Stitch(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(s))
	}
	total := time.Since(start)
	fdb := 0
	for _, s := range p.Tunnels.Segments {
		out := run(t, "ip", "netns", "exec", nss[0], "bridge", "fdb", "show", "dev", s.Device)
		fdb += strings.Count(out, "00:00:00:00:00:00 dst ")
	}
	if fdb != 2*(n-1) {
		t.Errorf("the first hypervisor has %d flood entries, want %d (9 peers x 2 segments)", fdb, 2*(n-1))
	}
	if out, err := exec.Command("ip", "netns", "exec", nss[0], "ping", "-c", "2", "-W", "2", fmt.Sprintf("10.98.0.%d", n)).CombinedOutput(); err != nil {
		t.Errorf("ping from the first to the last hypervisor's bridge: %v\n%s", err, out)
	}
	t.Logf("TIMING stitch over %d hypervisors: %s in all, %s for the slowest one; %d flood entries on each (head-end replication: a broadcast is sent %d times)", n, total.Round(time.Millisecond), slowest.Round(time.Millisecond), fdb, n-1)
}
