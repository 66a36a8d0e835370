package vm

import (
	"context"
	"strings"
	"testing"

	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan/plantest"
	"github.com/labctl/labctl/vm/vmtest"
	"libvirt.org/go/libvirtxml"
)

// A node whose cpus the topology leaves out gets 2 vCPUs only where the
// hypervisor has two CPUs (within the topology's limit for it) for each of
// the lab's nodes there; cpus the topology sets are kept as they are.
func TestVCPUs(t *testing.T) {
	auto := plantest.New(t, "vcpus", "nodes:\n  - name: a\n").Nodes[0]
	set := plantest.New(t, "vcpus", "nodes:\n  - name: a\n    cpus: 1\n").Nodes[0]
	three := plantest.New(t, "vcpus", "nodes:\n  - name: a\n    cpus: 3\n").Nodes[0]
	if !auto.CPUsAuto || auto.CPUs != 1 || set.CPUsAuto || set.CPUs != 1 {
		t.Fatalf("plan: cpus left out %+v, set %+v", auto, set)
	}
	for _, c := range []struct {
		name                       string
		host, capCPUs, nodes, want int
		node                       int // 0 auto, 1 set to 1, 3 set to 3
	}{
		{"one node, two CPUs", 2, 0, 1, 2, 0},
		{"two nodes, two CPUs", 2, 0, 2, 1, 0},
		{"three nodes, two CPUs", 2, 0, 3, 1, 0},
		{"three nodes, six CPUs", 6, 0, 3, 2, 0},
		{"one CPU", 1, 0, 1, 1, 0},
		{"CPUs not known", 0, 0, 1, 1, 0},
		{"limit below the host", 8, 3, 2, 1, 0},
		{"limit, host not known", 0, 4, 2, 2, 0},
		{"set to 1 in the file", 8, 0, 1, 1, 1},
		{"set to 3 in the file", 2, 0, 3, 3, 3},
	} {
		n := auto
		switch c.node {
		case 1:
			n = set
		case 3:
			n = three
		}
		if got := VCPUs(n, c.host, c.capCPUs, c.nodes); got != c.want {
			t.Errorf("%s: %d vCPUs, want %d", c.name, got, c.want)
		}
	}
}

func TestHostCPUs(t *testing.T) {
	caps := `<capabilities><host><uuid>x</uuid><cpu><arch>x86_64</arch></cpu>
<topology><cells num='2'>
<cell id='0'><memory unit='KiB'>1</memory><cpus num='4'><cpu id='0'/></cpus></cell>
<cell id='1'><memory unit='KiB'>1</memory><cpus num='2'><cpu id='4'/></cpus></cell>
</cells></topology></host></capabilities>`
	if n := HostCPUs(caps); n != 6 {
		t.Errorf("two cells of 4 and 2 CPUs: %d", n)
	}
	for _, c := range []string{"<capabilities><host></host></capabilities>", "not xml"} {
		if n := HostCPUs(c); n != 0 {
			t.Errorf("%q: %d, want 0 (not known)", c, n)
		}
	}
}

// up gives the default topology's three nodes (cpus left out) 2 vCPUs on
// a host with 6 CPUs, and says so; on one with 2 CPUs they keep 1.
func TestUpGivesSpareCPUs(t *testing.T) {
	for _, c := range []struct{ host, want int }{{6, 2}, {2, 1}, {0, 1}} {
		f := vmtest.New()
		f.HostCPUs = c.host
		dir := t.TempDir()
		var said []string
		m := NewManager(NewConn(f, nil), testPlan(t, "lab1").Parts()[0], Options{
			StateDir: dir, Keys: keys.Lab{Dir: dir, Lab: "lab1"}, Cache: testCache(t), Dial: fakeSSH,
			Progress: func(node, msg string) { said = append(said, msg) },
		})
		if err := m.Up(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, n := range m.part.Nodes {
			var d libvirtxml.Domain
			if err := d.Unmarshal(f.Doms[n.Domain].XML); err != nil {
				t.Fatal(err)
			}
			if d.VCPU == nil || int(d.VCPU.Value) != c.want {
				t.Errorf("%d host CPUs: %s has %+v vCPUs, want %d", c.host, n.Name, d.VCPU, c.want)
			}
		}
		told := strings.Contains(strings.Join(said, "\n"), "2 vCPUs for each node whose cpus the topology leaves out: 6 CPUs here for 3 nodes")
		if told != (c.want == 2) {
			t.Errorf("%d host CPUs: progress %q", c.host, said)
		}
	}
}
