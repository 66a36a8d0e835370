package plan

import (
	"net/netip"
	"strings"
	"testing"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestPreflight(t *testing.T) {
	p := defaultPlan(t, "default")
	tests := []struct {
		name     string
		host     Host
		want     []string // Path=>With substrings, in order
		suggests []string
	}{
		{
			name: "clean host",
			host: Host{
				Addrs:  []HostAddr{{"lo", pfx("127.0.0.1/8")}, {"eth0", pfx("10.0.2.15/24")}},
				Routes: []HostRoute{{"eth0", pfx("0.0.0.0/0")}, {"eth0", pfx("10.0.2.0/24")}},
			},
		},
		{
			name: "a /24 inside the host's /16 counts",
			host: Host{
				Addrs:  []HostAddr{{"wlan0", pfx("192.168.1.20/16")}},
				Routes: []HostRoute{{"wlan0", pfx("192.168.0.0/16")}},
			},
			want: []string{
				"networks.nat.subnet: 192.168.241.0/24 clashes with interface wlan0 (192.168.1.20/16), route 192.168.0.0/16 dev wlan0",
				"networks.hostonly.subnet: 192.168.242.0/24 clashes with interface wlan0",
			},
			suggests: []string{"10.0.1.0/24", "10.0.2.0/24"},
		},
		{
			name:     "a smaller host route inside the lab's subnet counts",
			host:     Host{Routes: []HostRoute{{"tun0", pfx("192.168.242.128/28")}}},
			want:     []string{"networks.hostonly.subnet: 192.168.242.0/24 clashes with route 192.168.242.128/28 dev tun0"},
			suggests: []string{"192.168.243.0/24"},
		},
		{
			name:     "another libvirt network",
			host:     Host{Libvirt: []LibvirtNet{{Name: "default", Bridge: "virbr0", Subnets: []netip.Prefix{pfx("192.168.241.1/24")}}}},
			want:     []string{"networks.nat.subnet: 192.168.241.0/24 clashes with libvirt network default (192.168.241.1/24)"},
			suggests: []string{"192.168.243.0/24"},
		},
		{
			name: "the lab's own bridges and networks are not clashes",
			host: Host{
				Addrs:   []HostAddr{{p.Networks[0].Bridge, pfx("192.168.241.2/24")}},
				Routes:  []HostRoute{{p.Networks[1].Bridge, pfx("192.168.242.0/24")}},
				Libvirt: []LibvirtNet{{Name: p.Networks[0].Name, Bridge: p.Networks[0].Bridge, Subnets: []netip.Prefix{pfx("192.168.241.2/24")}}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Preflight(p, tc.host)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d clashes, want %d: %v", len(got), len(tc.want), got)
			}
			for i, c := range got {
				if !strings.Contains(c.String(), tc.want[i]) {
					t.Errorf("clash %d:\n got %s\nwant %s", i, c, tc.want[i])
				}
				if c.Suggest != tc.suggests[i] {
					t.Errorf("clash %d: suggests %q, want %q", i, c.Suggest, tc.suggests[i])
				}
				// A suggestion must itself be free of everything.
				s := pfx(c.Suggest)
				for _, a := range tc.host.Addrs {
					if a.Prefix.Masked().Overlaps(s) {
						t.Errorf("suggestion %s overlaps %s", s, a.Prefix)
					}
				}
				for _, l := range labPrefixes(p) {
					if l.Overlaps(s) {
						t.Errorf("suggestion %s overlaps the lab's own %s", s, l)
					}
				}
			}
			if len(got) > 0 && !strings.Contains(ClashError(got).Error(), "clash with networks already in use") {
				t.Error("ClashError message")
			}
		})
	}
}

func TestFreeSubnet(t *testing.T) {
	avoid := []netip.Prefix{pfx("192.168.0.0/16")}
	got, ok := FreeSubnet(pfx("192.168.5.0/24"), avoid)
	if !ok || got != pfx("10.0.1.0/24") {
		t.Errorf("FreeSubnet = %s, %v", got, ok)
	}
	got, ok = FreeSubnet(pfx("192.168.5.0/24"), []netip.Prefix{pfx("192.168.6.0/24")})
	if !ok || got != pfx("192.168.7.0/24") {
		t.Errorf("FreeSubnet skips taken neighbours: got %s", got)
	}
	all := []netip.Prefix{pfx("0.0.0.0/0")}
	if _, ok := FreeSubnet(pfx("192.168.5.0/24"), all); ok {
		t.Error("FreeSubnet found room where there is none")
	}
}

func TestParseProcRoute(t *testing.T) {
	const table = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	0102000A	0003	0	0	0	00000000	0	0	0
eth0	0002000A	00000000	0001	0	0	0	00FFFFFF	0	0	0
wlan0	0000A8C0	00000000	0001	0	0	600	0000FFFF	0	0	0
`
	rs, err := ParseProcRoute(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	want := []HostRoute{{"eth0", pfx("0.0.0.0/0")}, {"eth0", pfx("10.0.2.0/24")}, {"wlan0", pfx("192.168.0.0/16")}}
	if len(rs) != len(want) {
		t.Fatalf("got %v", rs)
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Errorf("route %d = %v, want %v", i, rs[i], want[i])
		}
	}
	if _, err := ParseProcRoute(strings.NewReader("h\neth0 zz 0 0 0 0 0 00FFFFFF\n")); err == nil {
		t.Error("bad line accepted")
	}
}

func TestReadHostSeesLoopbackRoutesTable(t *testing.T) {
	h, err := ReadHost()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range h.Addrs {
		if a.Prefix.Addr() == netip.MustParseAddr("127.0.0.1") {
			found = true
		}
	}
	if !found {
		t.Errorf("ReadHost did not see 127.0.0.1: %+v", h.Addrs)
	}
}

func TestNth(t *testing.T) {
	for _, tc := range []struct {
		subnet string
		i      int
		want   string
	}{
		{"192.168.241.0/24", 92, "192.168.241.92"},
		{"192.168.241.7/24", 2, "192.168.241.2"},
		{"10.0.0.0/16", 300, "10.0.1.44"},
	} {
		if got := Nth(tc.subnet, tc.i); got != tc.want {
			t.Errorf("Nth(%s, %d) = %s, want %s", tc.subnet, tc.i, got, tc.want)
		}
	}
}

// Another lab's libvirt network on the bridge name this lab derives to is
// a collision of the two names, refused by the preflight.
func TestPreflightRefusesABridgeNameCollision(t *testing.T) {
	p := defaultPlan(t, "mine")
	h := Host{Libvirt: []LibvirtNet{{Name: "labctl-other-nat", Bridge: BridgeName(p.Lab, RoleNAT)}}}
	cs := Preflight(p, h)
	if len(cs) != 1 || !strings.Contains(cs[0].String(), "libvirt network labctl-other-nat, whose bridge "+BridgeName(p.Lab, RoleNAT)+" is the name lab "+p.Lab+"'s nat bridge derives to") {
		t.Errorf("%v", cs)
	}
	// The lab's own network (from an earlier up) is no clash.
	h.Libvirt[0].Name = NetworkName(p.Lab, RoleNAT)
	if cs := Preflight(p, h); len(cs) != 0 {
		t.Errorf("its own network: %v", cs)
	}
}
