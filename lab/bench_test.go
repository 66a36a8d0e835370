package lab

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
