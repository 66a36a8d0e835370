// Rendering: what commands print for people (tables, progress) and for
// programs (JSON), in one place.

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/labctl/labctl/state"
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

// writeJSON prints v as indented JSON on stdout.
func (g *globals) writeJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// colorFor tells whether output to w may be coloured: a terminal, unless
// NO_COLOR is set (https://no-color.org) or TERM is dumb.
func colorFor(w io.Writer) bool { return colorAllowed(isTerminal(w)) }

func colorAllowed(terminal bool) bool {
	return terminal && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}
