package plan

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
)

// ReadHost reads this host's IPv4 interface addresses and routes. The
// caller adds the libvirt networks, which need a libvirt connection.
func ReadHost() (Host, error) {
	var h Host
	ifs, err := net.Interfaces()
	if err != nil {
		return h, fmt.Errorf("list host interfaces: %w", err)
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			return h, fmt.Errorf("addresses of %s: %w", ifc.Name, err)
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			ones, _ := ipn.Mask.Size()
			addr, _ := netip.AddrFromSlice(ipn.IP.To4())
			h.Addrs = append(h.Addrs, HostAddr{Iface: ifc.Name, Prefix: netip.PrefixFrom(addr, ones)})
		}
	}
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return h, fmt.Errorf("read host routes: %w", err)
	}
	defer f.Close()
	h.Routes, err = ParseProcRoute(f)
	return h, err
}

// ParseProcRoute parses the IPv4 routing table in /proc/net/route format.
func ParseProcRoute(r io.Reader) ([]HostRoute, error) {
	var out []HostRoute
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue // header
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, err1 := procAddr(f[1])
		mask, err2 := procAddr(f[7])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("/proc/net/route: bad line %q", sc.Text())
		}
		bits, _ := net.IPMask(mask.AsSlice()).Size()
		out = append(out, HostRoute{Iface: f[0], Dst: netip.PrefixFrom(dst, bits)})
	}
	return out, sc.Err()
}

// procAddr decodes an address as /proc/net/route prints it: 8 hex digits in
// the host's (little-endian) byte order.
func procAddr(s string) (netip.Addr, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return netip.Addr{}, fmt.Errorf("bad address %q", s)
	}
	v := binary.LittleEndian.Uint32(b)
	return a4(v), nil
}
