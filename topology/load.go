package topology

import (
	"fmt"
	"os"
)

// Load reads the topology file at path, or the embedded default when path
// is empty, fills defaults and validates it. A parse error or the list of
// validation problems is returned as the error.
func Load(path string) (*Topology, error) {
	var (
		t   *Topology
		err error
	)
	if path == "" {
		t = Default()
	} else {
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, fmt.Errorf("read topology: %w", rerr)
		}
		t, err = Parse(path, data)
		if err != nil {
			return nil, err
		}
	}
	ApplyDefaults(t)
	if ps := Validate(t); len(ps) > 0 {
		return nil, ps
	}
	return t, nil
}
