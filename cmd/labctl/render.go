// Rendering: what commands print for people (tables, progress) and for
// programs (JSON), in one place.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/labctl/labctl/state"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// emit prints v as JSON with --output json, else calls text.
func (g *globals) emit(v any, text func() error) error {
	if g.output == "json" {
		return g.writeJSON(v)
	}
	return text()
}

// isTerminal tells a terminal (not /dev/null, which is a character
// device too).
func isTerminal(w interface{}) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func progressBar(g *globals, name string) func(done, total int64) {
	last := time.Time{}
	return func(done, total int64) {
		if time.Since(last) < 200*time.Millisecond && done != total {
			return
		}
		last = time.Now()
		if total > 0 {
			pct := float64(done) * 100 / float64(total)
			bar := strings.Repeat("#", int(pct/5)) + strings.Repeat(".", 20-int(pct/5))
			fmt.Fprintf(g.stderr, "\r%s [%s] %5.1f%% %s of %s ", name, bar, pct, humanBytes(done), humanBytes(total))
		} else {
			fmt.Fprintf(g.stderr, "\r%s %s ", name, humanBytes(done))
		}
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func printPhases(g *globals, phases []state.Phase) {
	tw := tabwriter.NewWriter(g.stderr, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tNODE\tSECONDS")
	for _, ph := range phases {
		fmt.Fprintf(tw, "%s\t%s\t%.1f\n", ph.Name, ph.Node, ph.Duration.Seconds())
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// jsonVersion is the version of every JSON document labctl prints: a
// program reading "version" knows the shape it gets. It changes only when
// a field is removed or changes meaning (added fields do not change it).
const jsonVersion = 1

// versioned is v's JSON object with "version" first. Every JSON document
// labctl prints is an object, and none has a "version" of its own.
func versioned(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[0] != '{' {
		return nil, fmt.Errorf("internal error: JSON output must be an object, not %.20s", b)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, err
	}
	if _, ok := keys["version"]; ok {
		return nil, fmt.Errorf("internal error: JSON output with a \"version\" of its own")
	}
	head := fmt.Sprintf(`{"version":%d`, jsonVersion)
	if string(b) == "{}" {
		return []byte(head + "}"), nil
	}
	return append([]byte(head+","), b[1:]...), nil
}

// writeJSON prints v, an object, as indented JSON on stdout, versioned.
func (g *globals) writeJSON(v any) error {
	b, err := versioned(v)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = g.stdout.Write(out.Bytes())
	return err
}

// writeJSONLine prints v, an object, as one line of JSON, versioned (the
// events and the result of a run with --output json).
func (g *globals) writeJSONLine(v any) error {
	b, err := versioned(v)
	if err != nil {
		return err
	}
	_, err = g.stdout.Write(append(b, '\n'))
	return err
}

// jsonCommands are the commands with JSON output (--output json); every
// other command refuses it (exit 2) rather than print text a program
// would take for JSON.
var jsonCommands = []string{
	"down", "hosts check", "image build", "image ls", "image pull", "lab check", "lab explain", "lab ls",
	"lab run", "lab validate", "ls", "plan", "status", "swarm status", "up", "validate", "version",
	"workshop check", "workshop plan", "workshop status",
}

const jsonAnnotation = "labctl/json"

// markJSON marks the jsonCommands of root; a name that is no command is
// an error (a test runs it).
func markJSON(root *cobra.Command) error {
	for _, path := range jsonCommands {
		c, rest, err := root.Find(strings.Fields(path))
		if err != nil || len(rest) > 0 || c == root {
			return fmt.Errorf("jsonCommands: no command %q", path)
		}
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[jsonAnnotation] = "yes"
	}
	return nil
}

// colorFor tells whether output to w may be coloured: a terminal, unless
// NO_COLOR is set (https://no-color.org) or TERM is dumb.
func colorFor(w io.Writer) bool { return colorAllowed(isTerminal(w)) }

func colorAllowed(terminal bool) bool {
	return terminal && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}
