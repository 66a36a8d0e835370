package main

import (
	"os"
	"testing"

	"github.com/labctl/labctl/state"
	"github.com/labctl/labctl/topology"
)

func TestBenchHelpers(t *testing.T) {
	if m := median([]float64{30, 10, 20}); m != 20 {
		t.Errorf("median of 3: %v", m)
	}
	if m := median([]float64{10, 20}); m != 15 {
		t.Errorf("median of 2: %v", m)
	}
	out := []byte(`{"type":"event","msg":"x"}
{"type":"result","phases":[{"name":"ssh ready","node":"node1"},{"name":"ssh ready","node":"node2"},{"name":"up"}]}
not json
`)
	var res struct {
		Phases []state.Phase `json:"phases"`
	}
	if err := lastJSON(out, "result", &res); err != nil || len(res.Phases) != 3 {
		t.Fatalf("lastJSON: %v %+v", err, res)
	}
	if n := countNodes(res.Phases); n != 2 {
		t.Errorf("countNodes: %d", n)
	}
	if err := lastJSON([]byte("{}\n"), "result", &res); err == nil {
		t.Error("no result line accepted")
	}
	tp, err := topology.Load("")
	if err != nil {
		t.Fatal(err)
	}
	f, err := singleNodeTopology(tp)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f)
	one, err := topology.Load(f)
	if err != nil {
		t.Fatalf("the one-node topology does not load: %v", err)
	}
	if len(one.Nodes) != 1 || one.Nodes[0].Name != tp.Nodes[0].Name || one.Image != tp.Image || len(tp.Nodes) != 3 {
		t.Errorf("one-node topology: %+v", one.Nodes)
	}
}
