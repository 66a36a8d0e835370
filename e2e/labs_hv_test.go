package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/internal/testlab"
	"github.com/labctl/labctl/plan"
)

// upWithHypervisorCrash starts `up` and kills the second hypervisor's
// libvirtd once up has made the lab's networks there: up must fail with an
// error naming that hypervisor. libvirtd is then started again (the next
// `up` must converge).
func upWithHypervisorCrash(t *testing.T, ctx context.Context, c *testlab.CLI, hv *testlab.Hypervisor) {
	t.Helper()
	start := time.Now()
	cmd := c.Cmd(ctx, "up")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	want := plan.NetworkName(labsLab, plan.RoleHostOnly)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		select {
		case err := <-done:
			t.Fatalf("up ended (err=%v) before it made the lab's networks on %s:\n%s", err, hv.Name, testlab.LastLines(errb.String(), 30))
		case <-time.After(500 * time.Millisecond):
		}
		if nets, err := hv.Virsh("net-list", "--name"); err == nil && strings.Contains(nets, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("up made no network on %s in 10 minutes", hv.Name)
		}
	}
	if err := hv.KillLibvirtd(); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Since(start)
	err := <-done
	t.Logf("TIMING up with %s's libvirtd killed at %s: failed after %s (err=%v):\n%s", hv.Name, killedAt.Round(time.Second), time.Since(start).Round(time.Second), err, testlab.LastLines(errb.String(), 12))
	if err == nil || !strings.Contains(errb.String(), "hypervisor "+hv.Name+" ("+hv.URI+")") {
		t.Errorf("up with %s's libvirtd killed: err=%v, and the error does not name the hypervisor:\n%s", hv.Name, err, errb.String())
	}
	if err := hv.StartLibvirtd(); err != nil {
		t.Fatal(err)
	}
}

// tunnelsCarryVLANs captures on the underlay (hv2's veth) while node1 and
// node3, on different hypervisors, ping each other over the first VLAN:
// the capture must hold VXLAN frames on the lab's tunnel port with the NAT
// segment's VNI carrying 802.1q frames of that VLAN id, and frames with the
// host-only segment's VNI.
func tunnelsCarryVLANs(t *testing.T, ctx context.Context, env *testlab.Env, hv *testlab.Hypervisor, lenv *exercise.Env, p *plan.Plan, work string) {
	t.Helper()
	if p.Tunnels == nil || len(p.VLANs) == 0 {
		t.Fatal("the lab has no tunnels or no VLANs to show")
	}
	pcap := filepath.Join(work, "underlay.pcap")
	capture := env.Command(ctx, "tcpdump", "-Z", "root", "-U", "-n", "-i", hv.Veth, "-w", pcap, "udp", "port", strconv.Itoa(p.Tunnels.Port))
	var capErr bytes.Buffer
	capture.Stderr = &capErr
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50 && !strings.Contains(capErr.String(), "listening on"); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	v := p.VLANs[0]
	pfx := netip.MustParsePrefix(v.Subnet)
	a1, a3 := pfx.Addr(), pfx.Addr()
	for i := 0; i < 250; i++ {
		a1 = a1.Next()
	}
	a3 = a1.Next()
	dev := fmt.Sprintf("%s.%d", v.Parent, v.ID)
	n1, n3 := lenv.Nodes["node1"], lenv.Nodes["node3"]
	for _, x := range []struct {
		n exercise.Node
		a netip.Addr
	}{{n1, a1}, {n3, a3}} {
		if o, err := x.n.Sh(ctx, fmt.Sprintf("sudo ip addr add %s/%d dev %s", x.a, pfx.Bits(), dev)); err != nil || o.Exit != 0 {
			t.Fatalf("%s: address on %s: %v %s", x.n.Name(), dev, err, o.Stderr)
		}
		defer x.n.Sh(context.Background(), fmt.Sprintf("sudo ip addr del %s/%d dev %s", x.a, pfx.Bits(), dev))
	}
	ping, err := n1.Sh(ctx, fmt.Sprintf("ping -c 3 -W 2 %s", a3))
	time.Sleep(500 * time.Millisecond)
	capture.Process.Signal(syscall.SIGINT)
	capture.Wait()
	if err != nil || ping.Exit != 0 {
		t.Errorf("node1 -> node3 over VLAN %d (%s): %v\n%s%s", v.ID, dev, err, ping.Stdout, ping.Stderr)
	}
	data, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatalf("underlay capture: %v (%s)", err, capErr.String())
	}
	frames, err := vxlanFrames(data, uint16(p.Tunnels.Port))
	if err != nil {
		t.Fatal(err)
	}
	seg := map[string]uint32{}
	for _, s := range p.Tunnels.Segments {
		seg[s.Role] = s.VNI
	}
	tagged, hostonly := 0, 0
	byVNI := map[uint32]int{}
	for _, f := range frames {
		byVNI[f.vni]++
		if f.vni == seg[plan.RoleNAT] && f.vlan == v.ID {
			tagged++
		}
		if f.vni == seg[plan.RoleHostOnly] {
			hostonly++
		}
	}
	t.Logf("underlay capture on %s: %d VXLAN frames on UDP %d; by VNI %v; %d with VNI %d (NAT) carrying VLAN %d; %d with VNI %d (host-only)",
		hv.Veth, len(frames), p.Tunnels.Port, byVNI, tagged, seg[plan.RoleNAT], v.ID, hostonly, seg[plan.RoleHostOnly])
	if tagged < 6 { // 3 echo requests and 3 replies at least
		t.Errorf("the underlay carried %d VXLAN frames with VNI %d and VLAN %d, want at least 6 (the pings)", tagged, seg[plan.RoleNAT], v.ID)
	}
	if hostonly == 0 {
		t.Errorf("the underlay carried no VXLAN frame with the host-only VNI %d (SSH to node3 crosses it)", seg[plan.RoleHostOnly])
	}
}

type vxFrame struct {
	vni  uint32
	vlan int // 802.1q id of the inner frame, 0 if untagged
}

// vxlanFrames reads a pcap file (Ethernet, IPv4) and returns the VXLAN
// frames sent to port.
func vxlanFrames(data []byte, port uint16) ([]vxFrame, error) {
	if len(data) < 24 || binary.LittleEndian.Uint32(data) != 0xa1b2c3d4 {
		return nil, fmt.Errorf("not a little-endian microsecond pcap (%d bytes)", len(data))
	}
	if lt := binary.LittleEndian.Uint32(data[20:]); lt != 1 {
		return nil, fmt.Errorf("pcap link type %d, want 1 (Ethernet)", lt)
	}
	var out []vxFrame
	for off := 24; off+16 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off+8:]))
		p := data[off+16 : min(off+16+n, len(data))]
		off += 16 + n
		if len(p) < 14+20 || binary.BigEndian.Uint16(p[12:]) != 0x0800 {
			continue
		}
		ip := p[14:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != 17 || len(ip) < ihl+8+8+14 {
			continue
		}
		udp := ip[ihl:]
		if binary.BigEndian.Uint16(udp[2:]) != port {
			continue
		}
		vx := udp[8:]
		f := vxFrame{vni: uint32(vx[4])<<16 | uint32(vx[5])<<8 | uint32(vx[6])}
		inner := vx[8:]
		if binary.BigEndian.Uint16(inner[12:]) == 0x8100 && len(inner) >= 16 {
			f.vlan = int(binary.BigEndian.Uint16(inner[14:]) & 0x0fff)
		}
		out = append(out, f)
	}
	return out, nil
}
