package bench

import (
	"testing"

	"github.com/labctl/labctl/state"
)

func TestBenchHelpers(t *testing.T) {
	if m := median([]float64{30, 10, 20}); m != 20 {
		t.Errorf("median of 3: %v", m)
	}
	if m := median([]float64{10, 20}); m != 15 {
		t.Errorf("median of 2: %v", m)
	}
	if m := median(nil); m != 0 {
		t.Errorf("median of none: %v", m)
	}
	phases := []state.Phase{{Name: "ssh ready", Node: "node1"}, {Name: "ssh ready", Node: "node2"}, {Name: "docker ready", Node: "node1"}, {Name: "up"}}
	if n := countNodes(phases); n != 2 {
		t.Errorf("countNodes: %d", n)
	}
}

// The comparison's medians and targets come from its runs: a failed run
// (no time) does not count, ratios are over Vagrant's median at the same
// node count, and each target says whether the median meets it.
func TestCompareSummary(t *testing.T) {
	mem := []NodeMemory{{Node: "node1", GuestUsedMiB: 200, QEMURSSMiB: 650, IdleQEMURSSMiB: 600}}
	var rep CompareReport
	add := func(v string, n int, ups ...float64) {
		for i, u := range ups {
			rep.Runs = append(rep.Runs, CompareRun{Round: i + 1, Variant: v, Nodes: n, UpS: u, Memory: mem})
		}
	}
	add(VariantDockerReady, 1, 50, 70, 55)
	add(VariantDockerReady, 3, 90, 80, 100)
	add(VariantBundle, 1, 120, 130, 110)
	add(VariantBundle, 3, 250, 240, 260)
	add(VariantVagrant, 1, 180, 190, 170)
	add(VariantVagrant, 3, 300, 290, 310)
	add(VariantVagrantReady, 1, 100, 110, 90)
	add(VariantVagrantReady, 3, 150, 160, 140)
	rep.Runs = append(rep.Runs, CompareRun{Round: 4, Variant: VariantVagrant, Nodes: 3}) // failed: not counted
	rep.summarise([]int{1, 3})
	if len(rep.Variants) != 8 {
		t.Fatalf("%d variants: %+v", len(rep.Variants), rep.Variants)
	}
	got := map[string]Target{}
	for _, tg := range rep.Targets {
		got[tg.What] = tg
	}
	want := []Target{
		{What: "Docker-ready image, 1 node", Value: 55, Limit: 35, Met: false},
		{What: "Docker-ready image, 3 nodes", Value: 90, Limit: 55, Met: false},
		{What: "Docker-ready image, 1 node(s), over vagrant-libvirt on a box of it", Value: 0.55, Limit: 0.6, Met: true},
		{What: "Docker-ready image, 3 node(s), over vagrant-libvirt on a box of it", Value: 0.6, Limit: 0.6, Met: true},
		{What: "Docker-ready image, 3 nodes, over vagrant-libvirt", Value: 0.3, Limit: 0.25, Met: false},
		{What: "plain image + offline bundle, 3 nodes, over vagrant-libvirt", Value: 0.83, Limit: 0.6, Met: false},
		{What: "Docker-ready image, 3 nodes over 1 node", Value: 1.64, Limit: 1.5, Met: false},
		{What: "QEMU RSS of an idle node (Docker-ready image)", Value: 600, Limit: 600, Met: true},
	}
	if len(rep.Targets) != len(want) {
		t.Errorf("%d targets, want %d: %+v", len(rep.Targets), len(want), rep.Targets)
	}
	for _, w := range want {
		g, ok := got[w.What]
		if !ok || g.Value != w.Value || g.Limit != w.Limit || g.Met != w.Met {
			t.Errorf("target %q: got %+v, want %+v", w.What, g, w)
		}
	}
	for _, v := range rep.Variants {
		if v.Variant == VariantVagrant && v.Nodes == 3 && (len(v.Ups) != 3 || v.MedianUpS != 300) {
			t.Errorf("vagrant, 3 nodes: %+v", v)
		}
		if v.GuestUsedMiB != 200 || v.QEMURSSMiB != 650 || v.IdleRSSMiB != 600 {
			t.Errorf("memory medians: %+v", v)
		}
	}
}

func TestParseMeminfo(t *testing.T) {
	m := parseMeminfo([]byte("MemTotal:        1000448 kB\nMemFree:          500000 kB\nMemAvailable:     700000 kB\nHugePages_Total:       0\nbogus line\nVmRSS:\t  123456 kB\n"))
	if m["MemTotal"] != 1000448 || m["MemAvailable"] != 700000 || m["HugePages_Total"] != 0 || m["VmRSS"] != 123456 || len(m) != 5 {
		t.Errorf("%v", m)
	}
}
