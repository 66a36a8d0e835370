package topology

import (
	"bytes"
	_ "embed"

	"github.com/labctl/labctl/internal/strictyaml"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default topology, comments included.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default returns the embedded default topology, parsed.
func Default() *Topology {
	t, err := Parse("default", defaultYAML)
	if err != nil {
		panic("embedded default topology does not parse: " + err.Error())
	}
	return t
}

// Parse reads a topology strictly: unknown fields, duplicate keys, a second
// YAML document and values of the wrong type are errors that name the file,
// the line and the field path. Missing fields keep their zero value; call
// ApplyDefaults to fill them and Validate to check the result.
func Parse(filename string, data []byte) (*Topology, error) {
	var t Topology
	lines, err := strictyaml.Decode(filename, data, "topology", "libvirt, networks, nodes, ...", "start from `labctl topology default`", &t)
	if err != nil {
		return nil, err
	}
	t.file = filename
	t.lines = lines
	return &t, nil
}

// Problem is one thing wrong with a topology (strictyaml's, shared with
// inventories and lab files).
type Problem = strictyaml.Problem

// Problems is every problem found in one pass; an error when non-empty.
type Problems = strictyaml.Problems

// MaxFileSize is the largest topology file read.
const MaxFileSize = strictyaml.MaxFileSize

// Quote quotes a value from a file for a message (strictyaml.Quote).
func Quote(v string) string { return strictyaml.Quote(v) }
