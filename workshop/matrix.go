package workshop

import (
	"html/template"
	"io"
	"time"

	"github.com/labctl/labctl/exercise"
)

// Matrix is seats x checks: a column per check (lab and check), a row per
// seat, and what failed, for the instructor to see at a glance who is
// stuck and why.
type Matrix struct {
	Workshop string
	Columns  []string
	Rows     []MatrixRow
	Made     time.Time
}

// MatrixRow is one seat's results, a cell per column ("pass", "FAIL",
// "TIME" when it timed out, or "-" when it did not run), and the
// failures' reports.
type MatrixRow struct {
	Seat           int
	Lab            string
	Cells          []string
	Passed, Failed int
	Error          string
	Failures       []exercise.Report
}

// NewMatrix lays the seats' reports out as a matrix.
func NewMatrix(workshop string, srs []SeatReport) Matrix {
	m := Matrix{Workshop: workshop, Made: time.Now()}
	seen := map[string]bool{}
	for _, sr := range srs {
		for _, r := range sr.Reports {
			for _, c := range r.Checks {
				if col := r.Lab + ": " + c.Check; !seen[col] {
					seen[col] = true
					m.Columns = append(m.Columns, col)
				}
			}
		}
	}
	for _, sr := range srs {
		got := map[string]string{}
		row := MatrixRow{Seat: sr.Seat, Lab: sr.Lab, Error: sr.Error}
		for _, r := range sr.Reports {
			for _, c := range r.Checks {
				cell := map[bool]string{true: "pass", false: "FAIL"}[c.Passed]
				if c.TimedOut {
					cell = "TIME"
				}
				got[r.Lab+": "+c.Check] = cell
			}
			if _, f := exercise.Totals([]exercise.Report{r}); f > 0 {
				row.Failures = append(row.Failures, r)
			}
		}
		for _, col := range m.Columns {
			v, ok := got[col]
			if !ok {
				v = "-"
			}
			row.Cells = append(row.Cells, v)
		}
		row.Passed, row.Failed = exercise.Totals(sr.Reports)
		if sr.Error != "" {
			row.Failed++
		}
		m.Rows = append(m.Rows, row)
	}
	return m
}

// Failed tells whether any seat failed anything.
func (m Matrix) Failed() bool {
	for _, r := range m.Rows {
		if r.Failed > 0 {
			return true
		}
	}
	return false
}

// WriteHTML writes the matrix as one self-contained page: the table, then
// every seat's failures with their evidence and hints.
func (m Matrix) WriteHTML(w io.Writer) error { return matrixHTML.Execute(w, m) }

var matrixHTML = template.Must(template.New("matrix").Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Workshop}}: seats x checks</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #1d2329; }
table { border-collapse: collapse; } td, th { border: 1px solid #dde3ea; padding: .2em .5em; text-align: center; }
td.pass { background: #dcf3e1; } td.FAIL { background: #fbe0e0; font-weight: 600; } td.TIME { background: #fde9c8; font-weight: 600; }
pre { background: #f5f7f9; padding: .5em; white-space: pre-wrap; font-size: .85em; }
.hint { background: #fff6db; padding: .2em .5em; }
</style></head><body>
<h1>Workshop {{.Workshop}}: {{len .Rows}} seats x {{len .Columns}} checks</h1>
<p>{{.Made.Format "2006-01-02 15:04 MST"}}</p>
<table id="matrix"><tr><th>seat</th>{{range $i, $c := .Columns}}<th title="{{$c}}">C{{inc $i}}</th>{{end}}<th>passed</th><th>failed</th></tr>
{{range .Rows}}<tr><td>{{.Seat}}</td>{{range .Cells}}<td class="{{.}}">{{.}}</td>{{end}}<td>{{.Passed}}</td><td>{{.Failed}}</td></tr>
{{end}}</table>
<ol>{{range .Columns}}<li>{{.}}</li>{{end}}</ol>
{{range .Rows}}{{if .Failed}}<section class="seat"><h2>seat {{.Seat}} ({{.Lab}})</h2>
{{if .Error}}<p>{{.Error}}</p>{{end}}
{{range .Failures}}{{if .SetupError}}<p>{{.Lab}}: setup failed: {{.SetupError}}</p>{{end}}
{{range .Checks}}{{if not .Passed}}<h3>FAIL: {{.Check}} (expected: {{.Expect}})</h3>
{{if .Error}}<p>error: {{.Error}}</p>{{end}}{{if .Hint}}<p class="hint">hint: {{.Hint}}</p>{{end}}
{{range .Evidence}}<pre>[{{.Node}}, {{.Where}}] $ {{.Command}}  (exit {{.Exit}})
{{.Output}}</pre>{{end}}{{end}}{{end}}{{end}}
</section>{{end}}{{end}}
</body></html>
`))
