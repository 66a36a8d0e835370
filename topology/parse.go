package topology

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
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
	lines, err := DecodeStrict(filename, data, "topology", "libvirt, networks, nodes, ...", &t)
	if err != nil {
		return nil, err
	}
	t.file = filename
	t.lines = lines
	return &t, nil
}

// DecodeStrict decodes one YAML document into v (a pointer to a struct)
// after checking it against v's type: every unknown field is a Problem
// with its line and path (and a "did you mean"), all of them at once. It
// returns the line of every field path, for later problems. what names
// the document ("topology") and fields lists its main fields, for the
// message when the document is not a mapping.
func DecodeStrict(filename string, data []byte, what, fields string, v any) (map[string]int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file is empty; start from `labctl %s default`", filename, what)
		}
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filename, err)
		}
		return nil, fmt.Errorf("%s:%d: a second YAML document; a %s file holds exactly one", filename, line, what)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: the %s must be a mapping of fields (%s), not a %s", filename, root.Line, what, fields, kindName(root))
	}
	w := walker{file: filename, lines: map[string]int{}}
	w.walk(root, reflect.TypeOf(v).Elem(), "")
	if len(w.problems) > 0 {
		return nil, w.problems
	}
	if err := root.Decode(v); err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	return w.lines, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty document"
		}
		return "single value"
	case yaml.AliasNode:
		return "alias"
	}
	return "mapping"
}

// walker checks a YAML tree against the Go types before decoding, so that
// every unknown field is reported with its line and path, and it records the
// line of every field so that validation can point into the file too.
type walker struct {
	file     string
	lines    map[string]int
	problems Problems
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		if _, seen := w.lines[path]; !seen {
			w.lines[path] = n.Line
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // merge key: check what is merged in
				w.walk(v, t, path)
				continue
			}
			f, ok := fields[k.Value]
			p := join(path, k.Value)
			if !ok {
				w.problems = append(w.problems, Problem{
					File: w.file, Line: k.Line, Path: p,
					Msg: "unknown field" + suggest(k.Value, fields),
				})
				continue
			}
			w.lines[p] = k.Line
			w.walk(v, f.Type, p)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), path+"["+strconv.Itoa(i)+"]")
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps YAML keys to the struct fields of t.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f
	}
	return m
}

// suggest names the closest known field, or lists them all.
func suggest(key string, fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, n := range names {
		if d := distance(strings.ToLower(key), n); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known fields: " + strings.Join(names, ", ") + ")"
}

// distance is the Levenshtein edit distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
