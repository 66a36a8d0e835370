// Command testsum reads `go test -json` on stdin, prints the tests' output
// as `go test -v` would (so that CI logs show the timings and lab tables
// the integration tests log), and ends with one summary line:
//
//	tests: N passed, N failed, N skipped; lab checks: N passed, N failed
//
// It exits 1 when a test or a package failed, or when a lab check failed,
// so a summary cannot hide a failure.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// Summary counts tests and lab checks.
type Summary struct {
	Passed, Failed, Skipped int
	PkgFailed               []string
	ChecksPassed            int
	ChecksFailed            int
	Skips                   []string
}

// checksLine is the last line of a lab report (exercise.WriteText).
var checksLine = regexp.MustCompile(`^\s*(?:[a-z_]+\.go:\d+: )?(\d+) passed, (\d+) failed\s*$`)

// Read consumes the event stream, copying the output to w.
func Read(r io.Reader, w io.Writer) (Summary, error) {
	var s Summary
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			// build errors and the like come as plain text
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		switch e.Action {
		case "output":
			io.WriteString(w, e.Output)
			if m := checksLine.FindStringSubmatch(strings.TrimRight(e.Output, "\n")); m != nil && e.Test != "" {
				p, _ := strconv.Atoi(m[1])
				f, _ := strconv.Atoi(m[2])
				s.ChecksPassed += p
				s.ChecksFailed += f
			}
		case "pass":
			if e.Test != "" {
				s.Passed++
			}
		case "fail":
			if e.Test != "" {
				s.Failed++
			} else {
				s.PkgFailed = append(s.PkgFailed, e.Package)
			}
		case "skip":
			if e.Test != "" {
				s.Skipped++
				s.Skips = append(s.Skips, e.Package+" "+e.Test)
			}
		}
	}
	return s, sc.Err()
}

// Line is the closing summary line.
func (s Summary) Line() string {
	return fmt.Sprintf("tests: %d passed, %d failed, %d skipped; lab checks: %d passed, %d failed",
		s.Passed, s.Failed, s.Skipped, s.ChecksPassed, s.ChecksFailed)
}

// OK is whether nothing failed.
func (s Summary) OK() bool {
	return s.Failed == 0 && len(s.PkgFailed) == 0 && s.ChecksFailed == 0
}

func main() {
	s, err := Read(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	fmt.Println()
	for _, p := range s.PkgFailed {
		fmt.Printf("FAILED package %s\n", p)
	}
	fmt.Println(s.Line())
	if !s.OK() {
		os.Exit(1)
	}
}
