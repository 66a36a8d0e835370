package strictyaml_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/labctl/labctl/exercise/catalog"
	"github.com/labctl/labctl/exercise/labfile"
	"github.com/labctl/labctl/internal/strictyaml"
	"github.com/labctl/labctl/topology"
	"go.yaml.in/yaml/v3"
)

// hostile is a value no field may hold: an escape sequence (a terminal
// obeys it), a line break into a config, a NUL.
const hostile = "ok\x1b]0;owned\x07\nHost *\x00"

// everyScalar calls fn with the path of every scalar value in a YAML
// mapping tree, after setting it to v; back restores it.
func everyScalar(n *yaml.Node, path string, fn func(path string)) {
	switch n.Kind {
	case yaml.DocumentNode:
		everyScalar(n.Content[0], path, fn)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			everyScalar(n.Content[i+1], p, fn)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			everyScalar(c, path+"["+strconv.Itoa(i)+"]", fn)
		}
	case yaml.ScalarNode:
		if n.Tag == "!!str" || n.Tag == "" {
			old := n.Value
			n.Value, n.Style = hostile, yaml.DoubleQuotedStyle
			fn(path)
			n.Value, n.Style = old, 0
		}
	}
}

// Every string field of a topology and of a lab file, given a hostile
// value, is refused when the file is read, naming that field - so no
// generator (ssh config, seed, scripts, HTML, the terminal) ever sees it.
func TestEveryStringFieldRefusesHostileValues(t *testing.T) {
	check := func(what string, doc *yaml.Node, parse func([]byte) error) int {
		n := 0
		everyScalar(doc, "", func(path string) {
			n++
			data, err := yaml.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			err = parse(data)
			var ps strictyaml.Problems
			if !errors.As(err, &ps) || !strings.Contains(err.Error(), path+": a control character") {
				t.Errorf("%s field %s with a hostile value: %v", what, path, err)
			}
		})
		return n
	}
	var topo yaml.Node
	if err := yaml.Unmarshal(topology.DefaultYAML(), &topo); err != nil {
		t.Fatal(err)
	}
	nt := check("topology", &topo, func(b []byte) error { _, err := topology.LoadData("t.yaml", b); return err })
	nl := 0
	for _, e := range catalog.All() {
		if !strings.HasPrefix(e.File, "builtin/") {
			continue
		}
		data, err := catalog.Builtin(e.Name)
		if err != nil {
			t.Fatal(err)
		}
		var lab yaml.Node
		if err := yaml.Unmarshal(data, &lab); err != nil {
			t.Fatal(err)
		}
		nl += check("lab file "+e.Name, &lab, func(b []byte) error { _, err := labfile.ParseFile("l.yaml", b); return err })
	}
	if nt < 20 || nl < 100 {
		t.Errorf("only %d topology and %d lab file values tried", nt, nl)
	}
	t.Logf("%d string values of the default topology and %d of the built-in lab files, each refused with a hostile value", nt, nl)
}
