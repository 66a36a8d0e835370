package hypervisor

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/internal/testlab"
	"github.com/labctl/labctl/plan/plantest"
)

// An isolated lab's nodes, on a gateway made of network namespaces: a
// node on the lab's NAT bridge reaches the outside address and pings its
// gateway, but not the gateway's other services (a TCP listener on the
// gateway address, as sshd), not a node of another lab on the same
// gateway, not a metadata address beyond the gateway. Without the table
// (the control) every one of those answers, so the test sees them.
func TestIsolationKeepsTheNodesToThemselves(t *testing.T) {
	testenv.Namespaces(t, "nft", "ping")
	p := plantest.New(t, "iso", "isolated: true\nnetworks:\n  nat: {subnet: 10.77.1.0/24, host: 10.77.1.1, dhcp: {start: 10.77.1.100, end: 10.77.1.200}}\n  hostonly: {subnet: 10.77.2.0/24, host: 10.77.2.1}\noutside: {address: 203.0.113.10}\nnodes: [{name: n1}]\n")
	nat := p.Net("nat")
	pid := os.Getpid()
	gw, node, other, up := fmt.Sprintf("lciso-gw-%d", pid), fmt.Sprintf("lciso-n-%d", pid), fmt.Sprintf("lciso-o-%d", pid), fmt.Sprintf("lciso-up-%d", pid)
	for _, n := range []string{gw, node, other, up} {
		run(t, "ip", "netns", "add", n)
		defer exec.Command("ip", "netns", "delete", n).Run()
	}
	sh := func(ns string, args ...string) {
		t.Helper()
		run(t, append([]string{"ip", "netns", "exec", ns}, args...)...)
	}
	// The gateway: the lab's NAT bridge, another lab's bridge, an uplink
	// to "upstream", which holds the outside address and a metadata one.
	sh(gw, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	sh(gw, "ip", "link", "add", nat.Bridge, "type", "bridge")
	sh(gw, "ip", "addr", "add", "10.77.1.1/24", "dev", nat.Bridge)
	sh(gw, "ip", "link", "set", nat.Bridge, "up")
	sh(gw, "ip", "link", "add", "lcother-n", "type", "bridge")
	sh(gw, "ip", "addr", "add", "10.88.1.1/24", "dev", "lcother-n")
	sh(gw, "ip", "link", "set", "lcother-n", "up")
	for _, c := range []struct{ ns, port, br, addr, via string }{{node, "pnode", nat.Bridge, "10.77.1.11/24", "10.77.1.1"}, {other, "pother", "lcother-n", "10.88.1.11/24", "10.88.1.1"}} {
		run(t, "ip", "-n", gw, "link", "add", c.port, "type", "veth", "peer", "name", "eth0", "netns", c.ns)
		sh(gw, "ip", "link", "set", c.port, "master", c.br, "up")
		sh(c.ns, "ip", "addr", "add", c.addr, "dev", "eth0")
		sh(c.ns, "ip", "link", "set", "eth0", "up")
		sh(c.ns, "ip", "route", "add", "default", "via", c.via)
	}
	run(t, "ip", "-n", gw, "link", "add", "uplink", "type", "veth", "peer", "name", "uplink", "netns", up)
	sh(gw, "ip", "addr", "add", "198.18.0.1/24", "dev", "uplink")
	sh(gw, "ip", "link", "set", "uplink", "up")
	sh(up, "ip", "addr", "add", "198.18.0.2/24", "dev", "uplink")
	sh(up, "ip", "addr", "add", "203.0.113.10/32", "dev", "uplink")
	sh(up, "ip", "addr", "add", "169.254.169.254/32", "dev", "uplink")
	sh(up, "ip", "link", "set", "uplink", "up")
	sh(up, "ip", "route", "add", "default", "via", "198.18.0.1")
	sh(gw, "ip", "route", "add", "203.0.113.10/32", "via", "198.18.0.2")
	sh(gw, "ip", "route", "add", "169.254.169.254/32", "via", "198.18.0.2")

	// Listeners: sshd's stand-in on the gateway address, a service on the
	// other lab's node, on the outside address and on the metadata one.
	listen := func(ns, addr string) {
		t.Helper()
		var ln net.Listener
		if err := testlab.InNetns(ns, func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	listen(gw, "10.77.1.1:22")
	listen(other, "10.88.1.11:80")
	listen(up, "203.0.113.10:80")
	listen(up, "169.254.169.254:80")
	reach := func(addr string) bool {
		var err error
		testlab.InNetns(node, func() error {
			var c net.Conn
			c, err = net.DialTimeout("tcp", addr, 2*time.Second)
			if err == nil {
				c.Close()
			}
			return nil
		})
		return err == nil
	}
	ping := func(addr string) bool {
		return exec.Command("ip", "netns", "exec", node, "ping", "-c", "1", "-W", "2", addr).Run() == nil
	}
	blocked := []string{"10.77.1.1:22", "10.88.1.11:80", "169.254.169.254:80"}
	for _, a := range blocked { // the control: all open without the table
		if !reach(a) {
			t.Fatalf("control: %s does not answer the node even without isolation", a)
		}
	}
	h := &Host{wrap: []string{"ip", "netns", "exec", gw}}
	if err := h.Isolate(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if err := h.Isolate(context.Background(), p); err != nil { // again: replaced whole
		t.Fatal(err)
	}
	for _, a := range blocked {
		if reach(a) {
			t.Errorf("the isolated node reaches %s", a)
		}
	}
	if !reach("203.0.113.10:80") || !ping("203.0.113.10") {
		t.Error("the isolated node does not reach the outside address")
	}
	if !ping("10.77.1.1") {
		t.Error("the isolated node cannot ping its gateway")
	}
	if err := h.Unisolate(context.Background(), "iso"); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "exec", gw, "nft", "list", "tables").CombinedOutput(); err != nil || strings.Contains(string(out), IsolationTable("iso")) {
		t.Errorf("after Unisolate: %v\n%s", err, out)
	}
	if !reach("10.77.1.1:22") {
		t.Error("after Unisolate the gateway's listener is still out of reach")
	}
}
