package exercise

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/golden"
)

// A named undo group runs once: early when a check asks (UndoGroup), or
// at teardown in the place where the group was first used.
func TestUndoGroups(t *testing.T) {
	var ran []string
	rec := func(s string) func(context.Context) error {
		return func(context.Context) error { ran = append(ran, s); return nil }
	}
	r := &Run{}
	r.OnUndo("first", rec("first"))
	r.OnUndoIn("router", "addr", rec("router addr"))
	r.OnUndo("middle", rec("middle"))
	r.OnUndoIn("router", "rule", rec("router rule"))
	r.OnUndo("last", rec("last"))
	if err := r.teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ran, ", "); got != "last, middle, router rule, router addr, first" {
		t.Errorf("teardown order: %s", got)
	}
	ran = nil
	r = &Run{}
	r.OnUndoIn("router", "addr", rec("router addr"))
	r.OnUndo("container", rec("container"))
	if err := r.UndoGroup(context.Background(), "router"); err != nil {
		t.Fatal(err)
	}
	if err := r.teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ran, ", "); got != "router addr, container" {
		t.Errorf("early undo then teardown: %s", got)
	}
}

// The capture command quotes what it is given for sh, whatever it holds.
func TestTcpdumpQuotes(t *testing.T) {
	got := Tcpdump("ens33", "icmp and host 1.2.3.4'; touch /tmp/x; '", 5, false)
	want := `tcpdump -i 'ens33' -e -nn -l -c 5 'icmp and host 1.2.3.4'\''; touch /tmp/x; '\'''`
	if got != want {
		t.Errorf("Tcpdump:\n got %s\nwant %s", got, want)
	}
	if got := Tcpdump("ens34", "", 0, true); got != "tcpdump -i 'ens34' -U -w -" {
		t.Errorf("pcap until stopped: %s", got)
	}
}

// Output past MaxOutput is counted, not kept: a command that prints for
// ever costs bounded memory.
func TestCappedKeepsTheStart(t *testing.T) {
	var c capped
	chunk := bytes.Repeat([]byte("y\n"), 32<<10)
	for i := 0; i < 200; i++ { // 12.5 MiB
		if n, err := c.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	s := c.String()
	if c.b.Len() != MaxOutput || !strings.HasSuffix(s, fmt.Sprintf("... (%d more bytes not kept)", 200*len(chunk)-MaxOutput)) {
		t.Errorf("kept %d bytes, ends %q", c.b.Len(), s[len(s)-60:])
	}
}

// What a node printed reaches the terminal shown, not obeyed: the text
// report writes escape sequences as \x1b.
func TestWriteTextShowsEscapes(t *testing.T) {
	var b bytes.Buffer
	WriteText(&b, []Report{{Lab: "t", Checks: []Result{{Check: "c\x1b]0;owned\x07", Expect: ExpectSuccess,
		Evidence: []Evidence{{Node: "node1", Where: "node", Command: "docker ps", Output: "\x1b[2J\x1b[Hall good\rPASS"}}}}}})
	if out := b.String(); strings.ContainsAny(out, "\x1b\x07\r") || !strings.Contains(out, `\x1b[2J\x1b[Hall good\x0dPASS`) {
		t.Errorf("%q", out)
	}
}

// The text report at 80 columns: result first, narrow, a check meant to
// fail says so, a summary per lab; with Color, only the verdicts carry
// escapes.
func TestTextReportGolden(t *testing.T) {
	reps := []Report{{Lab: "bridge", Duration: 12 * time.Second, Checks: []Result{
		{Check: "milk pings bread by IP", Expect: ExpectSuccess, Passed: true},
		{Check: "milk cannot resolve bread by name (no DNS on docker0)", Expect: ExpectFailure, Passed: true},
		{Check: "after -p 80:80 the host reaches coffee's nginx on both node addresses", Expect: ExpectSuccess, Hint: "publish the port", Evidence: []Evidence{{Node: "host", Where: "host", Command: "GET http://192.168.241.11/", Output: "connection refused", Exit: 1}}},
	}}, {Lab: "macvlan-8021q", Duration: 40 * time.Second, Checks: []Result{
		{Check: "with node2 routing between VLAN 20 and 30, milk reaches tea", Expect: ExpectSuccess, Passed: true},
	}}}
	var b bytes.Buffer
	WriteText(&b, reps)
	golden.Check(t, filepath.Join("testdata", "report-80.txt"), b.Bytes())
	for _, l := range strings.Split(strings.SplitN(b.String(), "\n\n", 2)[0], "\n") {
		if len(l) > 80 {
			t.Errorf("a result line of %d columns: %q", len(l), l)
		}
	}
	if strings.Contains(b.String(), "\x1b") {
		t.Error("escapes without Color")
	}
	var c bytes.Buffer
	Text{Color: true}.Write(&c, reps)
	if n := strings.Count(c.String(), "\x1b[32mPASS\x1b[0m"); n != 3 || strings.Count(c.String(), "\x1b[1;31mFAIL\x1b[0m") != 1 {
		t.Errorf("colour: %q", c.String())
	}
}
