package exercise

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
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

// WriteText prints the results table, the evidence of every failed check,
// and the closing "N passed, N failed" line.
func WriteText(out io.Writer, reps []Report) {
	w := termtext.Writer(out)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAB\tCHECK\tEXPECTED\tRESULT\tSECONDS")
	for _, r := range reps {
		if r.SetupError != "" {
			fmt.Fprintf(tw, "%s\t(setup)\t\tFAIL\t\n", r.Lab)
		}
		for _, c := range r.Checks {
			res := "pass"
			if !c.Passed {
				res = "FAIL"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\n", r.Lab, c.Check, c.Expect, res, c.Duration.Seconds())
		}
		if r.Teardown != "" {
			fmt.Fprintf(tw, "%s\t(teardown)\t\tFAIL\t\n", r.Lab)
		}
	}
	tw.Flush()
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
