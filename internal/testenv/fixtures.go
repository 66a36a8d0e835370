package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// InvalidFixtures runs load on every file matching pattern; each file
// lists, in '# want: ' lines, what the error must contain, and the error
// must hold as many problems (count tells how many it has, when it can).
func InvalidFixtures(t *testing.T, pattern string, min int, load func(path string) error, count func(error) (int, bool)) {
	t.Helper()
	files, _ := filepath.Glob(pattern)
	if len(files) < min {
		t.Fatalf("%d fixtures match %s, want at least %d", len(files), pattern, min)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for _, l := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(l, "# want: "); ok {
					wants = append(wants, w)
				}
			}
			if len(wants) == 0 {
				t.Fatal("fixture has no '# want:' lines")
			}
			err = load(f)
			if err == nil {
				t.Fatal("invalid fixture accepted")
			}
			msg := err.Error()
			for _, w := range wants {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
			if n, ok := count(err); ok && n != len(wants) {
				t.Errorf("got %d problems, fixture lists %d:\n%s", n, len(wants), msg)
			}
		})
	}
}

// CompileSchema compiles a JSON Schema document for tests.
func CompileSchema(t testing.TB, name string, schema []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(name)
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return s
}

// YAMLAsJSON reads YAML into the value a JSON Schema validates (maps with
// number keys become objects with string keys).
func YAMLAsJSON(t testing.TB, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(stringKeys(v))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func stringKeys(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case map[string]any:
		for k, e := range x {
			x[k] = stringKeys(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = stringKeys(e)
		}
		return x
	}
	return v
}
