package lab

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/labctl/labctl/state"
	"github.com/labctl/labctl/topology"
)

// Summary is one lab that exists here, as 'labctl ls' shows it: from its
// state alone (no libvirt, no SSH), so that listing is instant.
type Summary struct {
	Name string `json:"name"`
	// State is "up" (its last up finished), "failed" (its last up
	// failed: up again carries on), or "created" (no up recorded).
	State       string    `json:"state"`
	Nodes       int       `json:"nodes"`
	Hypervisors []string  `json:"hypervisors"`
	Topology    string    `json:"topology"` // the file of its last up, "" for the built-in
	Updated     time.Time `json:"updated"`
	Error       string    `json:"error,omitempty"` // why its topology could not be read
}

// List is every lab with state here, by name.
func List() ([]Summary, error) {
	root, err := state.Root()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(root, "labs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Summary
	for _, e := range entries {
		if !e.IsDir() || topology.ValidateLabName(e.Name()) != nil {
			continue
		}
		st, err := state.Recorded(root, e.Name())
		if errors.Is(err, state.ErrNoState) {
			continue // a lock and nothing else: taken down
		}
		s := Summary{Name: e.Name(), State: "created", Topology: st.Topology, Updated: st.UpdatedAt, Hypervisors: []string{}}
		if err != nil {
			s.Error = err.Error()
			out = append(out, s)
			continue
		}
		for _, ph := range st.Phases {
			if ph.Name == "up" && ph.Node == "" {
				s.State = "up"
				if ph.Error != "" {
					s.State = "failed"
				}
			}
		}
		if _, p, err := LoadPlan(Options{Name: e.Name(), File: st.Topology, AllowChangedTopology: true}); err != nil {
			s.Error = err.Error()
		} else {
			s.Nodes = len(p.Nodes)
			for _, part := range p.Parts() {
				name := part.Hypervisor.Name
				if name == "" {
					name = part.Hypervisor.URI
				}
				s.Hypervisors = append(s.Hypervisors, name)
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
