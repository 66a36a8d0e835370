package topology

import (
	"reflect"
	"testing"
)

func placeOf(t *testing.T, src string) (Placement, Problems) {
	t.Helper()
	tp, err := Parse("lab.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ApplyDefaults(tp)
	return Place(tp)
}

func TestPlaceSpreadsByNodeCountAndHonoursPins(t *testing.T) {
	hvs := `hypervisors:
  - {name: a, uri: "qemu:///system", address: 10.0.0.1}
  - {name: b, uri: "qemu+ssh://b/system", address: 10.0.0.2}
`
	for _, c := range []struct {
		nodes string
		want  Placement
	}{
		{"nodes: [{name: n1}, {name: n2}, {name: n3}, {name: n4}]", Placement{"n1": "a", "n2": "b", "n3": "a", "n4": "b"}},
		// The CI lab: node3 pinned to the second; the others fill the first.
		{"nodes: [{name: node1}, {name: node2}, {name: node3, hypervisor: b}]", Placement{"node1": "a", "node2": "a", "node3": "b"}},
		{"nodes: [{name: n1, hypervisor: b}, {name: n2, hypervisor: b}, {name: n3}]", Placement{"n1": "b", "n2": "b", "n3": "a"}},
	} {
		got, problems := placeOf(t, hvs+c.nodes)
		if len(problems) > 0 || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: placed %v (%v), want %v", c.nodes, got, problems, c.want)
		}
	}
}

func TestPlaceByCapacity(t *testing.T) {
	// a has room for one 2 GiB node, b for many: the second big node goes
	// to b although a has fewer nodes by then.
	src := `hypervisors:
  - {name: a, uri: "qemu:///system", address: 10.0.0.1, memory: 3GiB, cpus: 4}
  - {name: b, uri: "qemu+ssh://b/system", address: 10.0.0.2, memory: 64GiB}
nodes:
  - {name: big1, memory: 2GiB, hypervisor: b}
  - {name: big2, memory: 2GiB}
  - {name: big3, memory: 2GiB}
  - {name: small, memory: 1GiB}
`
	got, problems := placeOf(t, src)
	want := Placement{"big1": "b", "big2": "a", "big3": "b", "small": "a"}
	if len(problems) > 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("placed %v (%v), want %v", got, problems, want)
	}
}

func TestPlaceWithoutHypervisorsIsEmpty(t *testing.T) {
	got, problems := placeOf(t, "nodes: [{name: n1}]")
	if len(got) != 0 || len(problems) != 0 {
		t.Errorf("got %v %v", got, problems)
	}
}
