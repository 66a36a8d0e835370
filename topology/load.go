package topology

import (
	"fmt"
	"os"
)

// Load reads the topology file at path, or the embedded default when path
// is empty, fills defaults and validates it. A parse error or the list of
// validation problems is returned as the error.
func Load(path string) (*Topology, error) {
	var t *Topology
	if path == "" {
		t = Default()
	} else {
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, fmt.Errorf("read topology: %w", rerr)
		}
		return LoadData(path, data)
	}
	return finish(t)
}

// LoadData is Load of a file's content already read (so that a caller can
// hash exactly what was parsed).
func LoadData(path string, data []byte) (*Topology, error) {
	t, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	return finish(t)
}

func finish(t *Topology) (*Topology, error) {
	ApplyDefaults(t)
	if ps := Validate(t); len(ps) > 0 {
		return nil, ps
	}
	return t, nil
}
