package strictyaml

import (
	"errors"
	"strings"
	"testing"
)

type doc struct {
	Name  string `yaml:"name"`
	Count int    `yaml:"count"`
	Items []struct {
		ID string `yaml:"id"`
	} `yaml:"items"`
}

// Every problem at once, each with its line and path; lines of fields for
// later checks; the bounds and document shape said plainly.
func TestDecode(t *testing.T) {
	var d doc
	_, err := Decode("f.yaml", []byte("name: x\ncoutn: 1\nitems:\n  - id: a\n  - idd: b\ncount: 1.5\n"), "thing", "name, count", "write one", &d)
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 3 {
		t.Fatalf("%v", err)
	}
	want := []string{
		`f.yaml:2: coutn: unknown field (did you mean "count"?)`,
		`f.yaml:5: items[1].idd: unknown field (did you mean "id"?)`,
		`f.yaml:6: count: must be a whole number, not "1.5"`,
	}
	for i, w := range want {
		if ps[i].String() != w {
			t.Errorf("problem %d: %s, want %s", i, ps[i], w)
		}
	}
	lines, err := Decode("f.yaml", []byte("name: x\nitems:\n  - id: a\n"), "thing", "name, count", "write one", &d)
	if err != nil || lines["items[0].id"] != 3 || d.Items[0].ID != "a" {
		t.Errorf("lines %v, %+v, %v", lines, d, err)
	}
	for src, msg := range map[string]string{
		"":                   "f.yaml: the file is empty; write one",
		"name: a\n---\nb: 1": "f.yaml:2: a second YAML document; a thing file holds exactly one",
		"- a\n":              "f.yaml:1: the thing must be a mapping of fields (name, count), not a list",
		"name: a\nname: b\n": "f.yaml:2",
	} {
		if _, err := Decode("f.yaml", []byte(src), "thing", "name, count", "write one", &d); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", src, err, msg)
		}
	}
	if _, err := Decode("f.yaml", make([]byte, MaxFileSize+1), "thing", "", "", &d); err == nil || !strings.Contains(err.Error(), "at most 1024 KiB") {
		t.Errorf("a file over the size: %v", err)
	}
}

func TestQuoteCutsLongValues(t *testing.T) {
	if q := Quote(strings.Repeat("é", 100)); !strings.HasSuffix(q, "... (200 bytes)") || len(q) > 70 {
		t.Errorf("Quote: %s", q)
	}
}

type withLists struct {
	Names []string          `yaml:"names"`
	Opts  map[string]string `yaml:"opts"`
	Run   string            `yaml:"run"`
}

// An empty list entry, a control character in any value (a map's too) are
// problems; a file written with CRLF line ends reads as with LF.
func TestEmptyEntriesAndControlCharacters(t *testing.T) {
	var d withLists
	_, err := Decode("f.yaml", []byte("names:\n  - a\n  -\n  - null\nopts:\n  parent: \"ens33\\u001b[2J\"\nrun: \"echo \\0 done\"\n"), "thing", "names", "", &d)
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 4 {
		t.Fatalf("%v", err)
	}
	for i, want := range []string{
		"f.yaml:3: names[1]: an empty list entry",
		"f.yaml:4: names[2]: an empty list entry",
		"f.yaml:6: opts.parent: a control character (U+001B) in the value",
		"f.yaml:7: run: a control character (U+0000) in the value",
	} {
		if !strings.HasPrefix(ps[i].String(), want) {
			t.Errorf("problem %d: %s, want %s...", i, ps[i], want)
		}
	}
	if _, err := Decode("f.yaml", []byte("names: [a, b]\r\nrun: |\r\n  echo one\r\n  echo two\r\n"), "thing", "names", "", &d); err != nil || d.Run != "echo one\necho two\n" {
		t.Errorf("CRLF: %q %v", d.Run, err)
	}
}

func TestDistanceCountsASwapAsOne(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"nmae", "name", 1}, {"name", "name", 0}, {"nme", "name", 1}, {"naem", "name", 1}, {"abc", "xyz", 3}, {"", "ab", 2}} {
		if got := Distance(c.a, c.b); got != c.d {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}
