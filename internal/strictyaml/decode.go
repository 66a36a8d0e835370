// Package strictyaml is the strict YAML reading that topologies,
// inventories and lab files share: one document, checked against the Go
// type it decodes into before decoding, so that every unknown field (with
// a "did you mean"), every value of the wrong kind and every duplicate key
// is a Problem with its file, line and field path - all of them at once -
// within bounds on size, aliases and nesting; and Quote, the one way a
// value from such a file is quoted in a message.
package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Decode decodes one YAML document into v (a pointer to a struct)
// after checking it against v's type: every unknown field is a Problem
// with its line and path (and a "did you mean"), all of them at once. It
// returns the line of every field path, for later problems. what names
// the document ("topology") and fields lists its main fields, for the
// message when the document is not a mapping; emptyHint says what to do
// about an empty file.
func Decode(filename string, data []byte, what, fields, emptyHint string, v any) (map[string]int, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes; a %s file is at most %d KiB", filename, len(data), what, MaxFileSize>>10)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file is empty; %s", filename, emptyHint)
		}
		return nil, syntaxError(filename, data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, syntaxError(filename, data, err)
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
	w.walk(root, reflect.TypeOf(v).Elem(), "", 0)
	if len(w.problems) > 0 {
		return nil, w.problems
	}
	if err := root.Decode(v); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("%s: %w", filename, err)
		}
		// What the walk did not catch (a key given twice): one problem
		// each, with its line and, where a field starts there, its path.
		paths := map[int]string{}
		for p, l := range w.lines {
			if old, ok := paths[l]; !ok || len(p) > len(old) {
				paths[l] = p
			}
		}
		var ps Problems
		for _, e := range te.Errors {
			pr := Problem{File: filename, Msg: e}
			if m := typeErrLineRE.FindStringSubmatch(e); m != nil {
				pr.Line, _ = strconv.Atoi(m[1])
				pr.Msg = m[2]
				pr.Path = paths[pr.Line]
			}
			ps = append(ps, pr)
		}
		return nil, ps
	}
	return w.lines, nil
}

var typeErrLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns yaml.v3's "yaml: line N: ..." into "FILE:LINE: ...",
// with the line where the problem is. yaml.v3 reports some errors a line
// early: a parser error with a context (an unclosed [ or {) gives the
// context's 0-based line, so a comment above seems to be at fault, and a
// tab in the indentation is reported at the line of the token before it.
func syntaxError(filename string, data []byte, err error) error {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: %w", filename, err)
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	lines := strings.Split(string(data), "\n")
	switch {
	case strings.Contains(msg, "tab character") || strings.Contains(msg, "cannot start any token"):
		// The first line from the reported one on that indents with a tab.
		for i := max(line-1, 0); i < len(lines); i++ {
			indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
			if strings.Contains(indent, "\t") {
				return fmt.Errorf("%s:%d: a tab in the indentation; YAML indents with spaces only", filename, i+1)
			}
		}
	case strings.Contains(msg, "did not find expected ',' or ']'") || strings.Contains(msg, "did not find expected ',' or '}'"):
		// The reported line is 0-based: the [ or { opens on the next one.
		open, close := "[", "]"
		if strings.HasSuffix(msg, "'}'") {
			open, close = "{", "}"
		}
		for i := min(line, len(lines)-1); i >= 0 && i >= line-1; i-- {
			if strings.Contains(lines[i], open) {
				return fmt.Errorf("%s:%d: the %s opened on this line is not closed with %s (a flow list or mapping ends on its line or continues with commas)", filename, i+1, open, close)
			}
		}
	}
	return fmt.Errorf("%s:%d: %s", filename, line, msg)
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

// Bounds on what one file may make the parser do. Aliases and merge keys
// let a small file stand for an exponentially large tree (each level of
// nested merges doubles it); the walk below and yaml.v3's decoding follow
// them, so a file of 1.4 KB could keep labctl busy for ever. No real
// topology or inventory comes near these.
const (
	// MaxFileSize is the largest file read.
	MaxFileSize = 1 << 20
	// maxValues is how many values (after following aliases and merge
	// keys) a document may expand to.
	maxValues = 100_000
	// maxDepth is how deeply values may nest.
	maxDepth = 64
	// maxProblems is how many problems one file reports.
	maxProblems = 100
)

// walker checks a YAML tree against the Go types before decoding, so that
// every unknown field and every value of the wrong kind is reported with
// its line and path, and it records the line of every field so that
// validation can point into the file too.
type walker struct {
	file     string
	lines    map[string]int
	problems Problems
	values   int  // values visited so far
	tooBig   bool // a bound was hit; the walk has stopped
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string, depth int) {
	if w.tooBig || len(w.problems) >= maxProblems {
		return
	}
	w.values++
	if w.values > maxValues || depth > maxDepth {
		w.tooBig = true
		w.problems = append(w.problems, Problem{File: w.file, Line: n.Line, Path: path,
			Msg: fmt.Sprintf("the document expands to more than %d values or nests deeper than %d (YAML aliases or merge keys within each other?); write the values out", maxValues, maxDepth)})
		return
	}
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
	if n.ShortTag() == "!!null" || reflect.PointerTo(t).Implements(unmarshalerType) {
		return // empty keeps the zero value; a type of its own checks itself
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.wrongKind(n, path, "a mapping of fields")
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // merge key: check what is merged in
				if v.Kind == yaml.SequenceNode { // <<: [*a, *b]
					for _, m := range v.Content {
						w.walk(m, t, path, depth+1)
					}
				} else {
					w.walk(v, t, path, depth+1)
				}
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
			w.walk(v, f.Type, p, depth+1)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.wrongKind(n, path, "a list")
			return
		}
		for i, item := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			if item.ShortTag() == "!!null" {
				// yaml.v3 would keep a zero value, or drop it, silently.
				w.problems = append(w.problems, Problem{File: w.file, Line: item.Line, Path: p, Msg: "an empty list entry (a dash with nothing after it, or null): give it a value or remove it"})
				continue
			}
			w.walk(item, t.Elem(), p, depth+1)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.wrongKind(n, path, "a mapping")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			w.walk(k, t.Key(), p, depth+1)
			w.walk(v, t.Elem(), p, depth+1)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		// yaml.v3 would truncate 20.5 to 20 and read 1e1 as 10.
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			w.wrongKind(n, path, "a whole number")
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			w.wrongKind(n, path, "true or false")
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.wrongKind(n, path, "a single value")
			return
		}
		if i := strings.IndexFunc(n.Value, control); i >= 0 {
			r, _ := utf8.DecodeRuneInString(n.Value[i:])
			w.problems = append(w.problems, Problem{File: w.file, Line: n.Line, Path: path,
				Msg: fmt.Sprintf("a control character (U+%04X) in the value: only printable text, tabs and line breaks", r)})
		}
	}
}

// control tells a character no value may hold: C0 controls but tab and
// line feed, DEL, C1 controls (a terminal obeys them; NUL ends C strings).
func control(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0
}

// wrongKind records that the value at path is not what its field takes.
func (w *walker) wrongKind(n *yaml.Node, path, want string) {
	got := "a " + kindName(n)
	if n.Kind == yaml.ScalarNode {
		got = Quote(n.Value)
	}
	w.problems = append(w.problems, Problem{File: w.file, Line: n.Line, Path: path,
		Msg: fmt.Sprintf("must be %s, not %s", want, got)})
}

// Quote quotes a value from a file for a message, cut short when long: a
// file can hold a name of a megabyte, and a message should not.
func Quote(v string) string {
	const most = 40
	if len(v) <= most {
		return strconv.Quote(v)
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(v[:cut]), len(v))
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
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		name := tag[0]
		if name == "-" {
			continue
		}
		if len(tag) > 1 && tag[1] == "inline" && f.Type.Kind() == reflect.Struct {
			for k, v := range yamlFields(f.Type) {
				m[k] = v
			}
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
		if d := Distance(strings.ToLower(key), n); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known fields: " + strings.Join(names, ", ") + ")"
}

// Distance is the edit distance between a and b counting an insertion,
// a deletion, a substitution or a swap of two neighbours as one ("nmae" is
// 1 from "name"): the "did you mean" of every message.
func Distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
