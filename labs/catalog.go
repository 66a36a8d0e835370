package labs

import (
	"embed"
	"fmt"

	"github.com/labctl/labctl/plan"
)

// All returns every built-in exercise, in the tutorial's order: the lab
// files embedded in labctl (builtin/*.yaml) and the overlay, which is Go
// because it needs Swarm's state through the Docker API.
func All() []*Exercise {
	var out []*Exercise
	for _, name := range builtinOrder {
		if name == "overlay" {
			out = append(out, overlayLab())
			continue
		}
		out = append(out, builtinFiles[name].Exercise())
	}
	return out
}

// builtinOrder is the tutorial's order.
var builtinOrder = []string{"bridge", "user-bridge", "host", "macvlan", "macvlan-8021q", "ipvlan-l2", "ipvlan-l3", "none", "overlay"}

//go:embed builtin/*.yaml
var builtinFS embed.FS

// builtinFiles are the embedded lab files, parsed once; a broken one is a
// bug that the tests catch.
var builtinFiles = func() map[string]*File {
	m := map[string]*File{}
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		data, err := builtinFS.ReadFile("builtin/" + e.Name())
		if err != nil {
			panic(err)
		}
		f, err := ParseFile("builtin/"+e.Name(), data)
		if err != nil {
			panic(fmt.Sprintf("built-in lab file: %v", err))
		}
		m[f.Name] = f
	}
	return m
}()

// Lookup finds a lab by name.
func Lookup(name string) (*Exercise, bool) {
	for _, l := range All() {
		if l.Name == name {
			return l, true
		}
	}
	return nil, false
}

// nodeAddrs returns a node's NAT and host-only addresses (without prefix).
func nodeAddrs(r *Run, node string) (nat, hostonly string) {
	n, _ := r.Env.Plan.Node(node)
	return n.Addr(plan.RoleNAT), n.Addr(plan.RoleHostOnly)
}
