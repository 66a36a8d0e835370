package exercise

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/labctl/labctl/internal/termtext"
)

// Totals counts checks over reports; a lab whose setup failed counts as one
// failed check, so that it is never silently missing from the totals.
func Totals(reps []Report) (passed, failed int) {
	for _, r := range reps {
		if r.SetupError != "" {
			failed++
		}
		if r.Teardown != "" {
			failed++
		}
		for _, c := range r.Checks {
			if c.Passed {
				passed++
			} else {
				failed++
			}
		}
	}
	return
}

// WriteText prints the results (see Text.Write), without colour.
func WriteText(out io.Writer, reps []Report) { Text{}.Write(out, reps) }

// Text is the report for people: one narrow line per check, the result
// first (PASS bridge  milk pings bread), a check that is meant to fail
// saying so, a summary per lab, then the evidence and hint of every
// failed check, and the closing "N passed, N failed" line.
type Text struct {
	// Color writes PASS in green and FAIL in red (for a terminal; the
	// caller honours NO_COLOR and TERM=dumb).
	Color bool
}

// TextWidth is the width the text report's result lines fit (a long
// check name continues on the next line, under itself).
const TextWidth = 80

// wrapWords cuts s into lines of at most n bytes at spaces (a longer word
// stands alone).
func wrapWords(s string, n int) []string {
	var out []string
	cur := ""
	for _, word := range strings.Fields(s) {
		switch {
		case cur == "":
			cur = word
		case len(cur)+1+len(word) <= n:
			cur += " " + word
		default:
			out = append(out, cur)
			cur = word
		}
	}
	return append(out, cur)
}

const (
	green = "\x1b[32m"
	red   = "\x1b[1;31m"
	reset = "\x1b[0m"
)

func (t Text) verdict(ok bool) string {
	switch {
	case !t.Color:
		return verdict(ok)
	case ok:
		return green + "PASS" + reset
	default:
		return red + "FAIL" + reset
	}
}

// Write prints reps to out; text from nodes and files goes through
// termtext (its escapes shown), the colours are the report's own.
func (t Text) Write(out io.Writer, reps []Report) {
	w := termtext.Writer(out)
	width := 0
	for _, r := range reps {
		width = max(width, len(r.Lab))
	}
	line := func(ok bool, lab, what string) {
		// The verdict is written past the cleaning writer: its escapes
		// are the report's colours, not a node's.
		fmt.Fprint(out, t.verdict(ok))
		indent := 4 + 2 + width + 2
		for i, part := range wrapWords(what, max(TextWidth-indent, 20)) {
			if i == 0 {
				fmt.Fprintf(w, "  %-*s  %s\n", width, lab, part)
			} else {
				fmt.Fprintf(w, "%*s%s\n", indent, "", part)
			}
		}
	}
	for _, r := range reps {
		if r.SetupError != "" {
			line(false, r.Lab, "(setup)")
		}
		passed := 0
		for _, c := range r.Checks {
			what := c.Check
			if c.Expect == ExpectFailure {
				what += " (meant to fail)"
			}
			if c.TimedOut {
				what += " (timed out)"
			}
			line(c.Passed, r.Lab, what)
			if c.Passed {
				passed++
			}
		}
		if r.Teardown != "" {
			line(false, r.Lab, "(teardown)")
		}
		if len(r.Checks) > 0 {
			fmt.Fprintf(w, "%*s  %-*s  %d of %d checks passed in %.0f s\n", 4, "", width, r.Lab, passed, len(r.Checks), r.Duration.Seconds())
		}
	}
	for _, r := range reps {
		if r.SetupError != "" {
			fmt.Fprintf(w, "\n%s: setup failed: %s\n", r.Lab, r.SetupError)
			writeEvidence(w, r.SetupEvidence)
		}
		if r.Teardown != "" {
			fmt.Fprintf(w, "\n%s: teardown failed: %s\n", r.Lab, r.Teardown)
		}
		for _, c := range r.Checks {
			if c.Passed {
				continue
			}
			fmt.Fprintf(w, "\n%s: FAILED: %s (expected: %s)\n", r.Lab, c.Check, c.Expect)
			if c.Error != "" {
				fmt.Fprintf(w, "  error: %s\n", c.Error)
			}
			if c.Hint != "" {
				fmt.Fprintf(w, "  hint: %s\n", c.Hint)
			}
			writeEvidence(w, c.Evidence)
		}
	}
	p, f := Totals(reps)
	fmt.Fprintf(w, "\n%d passed, %d failed\n", p, f)
}

func writeEvidence(w io.Writer, evs []Evidence) {
	for _, e := range evs {
		fmt.Fprintf(w, "  [%s, %s] $ %s  (exit %d)\n", e.Node, e.Where, e.Command, e.Exit)
		if e.Note != "" {
			fmt.Fprintf(w, "    # %s\n", e.Note)
		}
		for _, l := range strings.Split(e.Output, "\n") {
			if l != "" {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
}

// JUnit XML, as CI systems and workshop graders read it.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Tests   int          `xml:"tests,attr"`
	Fails   int          `xml:"failures,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name  string      `xml:"name,attr"`
	Tests int         `xml:"tests,attr"`
	Fails int         `xml:"failures,attr"`
	Time  string      `xml:"time,attr"`
	Cases []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes the reports as JUnit XML: a suite per lab, a case per
// check (setup and teardown failures are cases too), the evidence in the
// case's output.
func WriteJUnit(w io.Writer, reps []Report) error {
	var s junitSuites
	for _, r := range reps {
		js := junitSuite{Name: "labctl." + r.Lab, Time: fmt.Sprintf("%.3f", r.Duration.Seconds())}
		add := func(c junitCase) {
			js.Cases = append(js.Cases, c)
			js.Tests++
			if c.Failure != nil {
				js.Fails++
			}
		}
		if r.SetupError != "" {
			var b strings.Builder
			b.WriteString(r.SetupError + "\n")
			writeEvidence(&b, r.SetupEvidence)
			add(junitCase{Name: "setup", Classname: js.Name, Failure: &junitFailure{Message: "setup failed", Body: b.String()}})
		}
		for _, c := range r.Checks {
			var b strings.Builder
			writeEvidence(&b, c.Evidence)
			jc := junitCase{Name: c.Check + " (" + c.Expect + ")", Classname: js.Name, Time: fmt.Sprintf("%.3f", c.Duration.Seconds()), SystemOut: b.String()}
			if !c.Passed {
				msg := "expected: " + c.Expect
				if c.Error != "" {
					msg = c.Error
				}
				jc.Failure = &junitFailure{Message: msg, Body: b.String()}
			}
			add(jc)
		}
		if r.Teardown != "" {
			add(junitCase{Name: "teardown", Classname: js.Name, Failure: &junitFailure{Message: "teardown failed", Body: r.Teardown}})
		}
		s.Suites = append(s.Suites, js)
		s.Tests += js.Tests
		s.Fails += js.Fails
	}
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// Evidence is one command a check ran and what it printed.
type Evidence struct {
	Node    string `json:"node"`           // node name, or "host"
	Where   string `json:"where"`          // "node", "host" or "container NAME"
	Command string `json:"command"`        //
	Output  string `json:"output"`         // stdout and stderr, trimmed
	Exit    int    `json:"exit"`           //
	Note    string `json:"note,omitempty"` // what it shows
}

// Result is one check's outcome.
type Result struct {
	Lab      string        `json:"lab"`
	Check    string        `json:"check"`
	Expect   string        `json:"expect"`
	Passed   bool          `json:"passed"`
	Error    string        `json:"error,omitempty"`
	Evidence []Evidence    `json:"evidence"`
	Duration time.Duration `json:"duration_ns"`
	// Hint is the check's advice, given when it failed.
	Hint string `json:"hint,omitempty"`
	// TimedOut: the check ran past its timeout and was stopped.
	TimedOut bool `json:"timed_out,omitempty"`
}

// Report is the outcome of running one lab.
type Report struct {
	Lab        string `json:"lab"`
	Title      string `json:"title"`
	Passed     bool   `json:"passed"`
	SetupError string `json:"setup_error,omitempty"`
	// SetupEvidence explains a failed setup (the lab's Diagnose).
	SetupEvidence []Evidence    `json:"setup_evidence,omitempty"`
	Teardown      string        `json:"teardown_error,omitempty"`
	Checks        []Result      `json:"checks"`
	Duration      time.Duration `json:"duration_ns"`
	started       time.Time
}

// Start is when the lab started.
func (r Report) Start() time.Time { return r.started }

// Err summarises a failed lab as an error (nil when it passed).
func (r Report) Err() error {
	if r.Passed {
		return nil
	}
	p, f := Totals([]Report{r})
	return fmt.Errorf("%d passed, %d failed", p, f)
}
