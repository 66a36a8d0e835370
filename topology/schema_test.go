package topology

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/golden"
	"github.com/labctl/labctl/internal/testenv"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The shipped schema must be exactly what the Go types produce.
func TestSchemaMatchesGoTypes(t *testing.T) {
	gen := GenerateSchema()
	if *golden.Update {
		if err := os.WriteFile("topology.schema.json", gen, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(gen, SchemaJSON()) {
		t.Fatal("topology.schema.json is out of date with the Go types; run: go test ./topology -run TestSchema -update")
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	return testenv.CompileSchema(t, "topology.schema.json", SchemaJSON())
}

func yamlToJSONValue(t *testing.T, data []byte) any { return testenv.YAMLAsJSON(t, data) }

// Editors see the same rules as labctl for structure: the valid fixtures
// pass the schema, and unknown fields or wrong types fail it.
func TestSchemaAgreesWithParser(t *testing.T) {
	s := compileSchema(t)
	valid, _ := filepath.Glob("testdata/valid/*.yaml")
	for _, f := range valid {
		data, _ := os.ReadFile(f)
		if err := s.Validate(yamlToJSONValue(t, data)); err != nil {
			t.Errorf("%s: schema rejects a valid topology: %v", f, err)
		}
	}
	bad := map[string]string{
		"unknown top-level": "colour: blue\n",
		"unknown in node":   "nodes:\n  - name: a\n    memroy: 1GiB\n",
		"wrong type":        "nodes:\n  - name: a\n    cpus: two\n",
		"bad enum":          "libvirt:\n  acceleration: fast\n",
		"size without unit": "nodes:\n  - name: a\n    memory: \"2048\"\n",
		"vlan id too big":   "vlans:\n  - id: 5000\n",
	}
	for name, src := range bad {
		err := s.Validate(yamlToJSONValue(t, []byte(src)))
		if err == nil {
			t.Errorf("%s: schema accepts %q", name, src)
		}
		// and labctl rejects it too, in parsing or validation
		if _, lerr := loadBytes(src); lerr == nil {
			t.Errorf("%s: labctl accepts %q", name, src)
		}
	}
}

func loadBytes(src string) (*Topology, error) {
	tp, err := Parse("t.yaml", []byte(src))
	if err != nil {
		return nil, err
	}
	ApplyDefaults(tp)
	return tp, Validate(tp).Err()
}

func TestSchemaDescribesEveryField(t *testing.T) {
	var walk func(path string, v map[string]any)
	walk = func(path string, v map[string]any) {
		if props, ok := v["properties"].(map[string]any); ok {
			for k, p := range props {
				pm := p.(map[string]any)
				if d, _ := pm["description"].(string); strings.TrimSpace(d) == "" {
					t.Errorf("%s.%s has no description (doc tag)", path, k)
				}
				walk(path+"."+k, pm)
			}
		}
		if items, ok := v["items"].(map[string]any); ok {
			walk(path+"[]", items)
		}
	}
	var root map[string]any
	if err := json.Unmarshal(SchemaJSON(), &root); err != nil {
		t.Fatal(err)
	}
	walk("", root)
}
