// Package plantest makes plans for the tests of the packages that take
// one: from a topology's text, its defaults applied and validated, or from
// the built-in default topology.
package plantest

import (
	"testing"

	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/topology"
)

// TwoHypervisors is a small lab over two hypervisors: node1 on hv1 (this
// machine, the gateway), node2 on hv2 (over SSH).
const TwoHypervisors = `hypervisors:
  - {name: hv1, uri: "qemu:///system", address: 198.51.100.1}
  - {name: hv2, uri: "qemu+ssh://root@198.51.100.2/system", address: 198.51.100.2}
nodes: [{name: node1}, {name: node2, hypervisor: hv2}]
`

// New is lab's plan of the topology src, or of the built-in default
// topology when src is "".
func New(t testing.TB, lab, src string) *plan.Plan {
	t.Helper()
	var tp *topology.Topology
	var err error
	if src == "" {
		tp, err = topology.Load("")
	} else if tp, err = topology.Parse("t.yaml", []byte(src)); err == nil {
		topology.ApplyDefaults(tp)
		if ps := topology.Validate(tp); len(ps) > 0 {
			err = ps
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(lab, tp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
