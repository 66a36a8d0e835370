package exercise

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

// HTMLPage is what WriteHTML shows.
type HTMLPage struct {
	Title   string
	Lab     string
	Picture template.HTML // the lab as SVG (inline), or empty
	Reports []Report
	Made    time.Time
}

// WriteHTML writes one self-contained page (no script, no font or style
// from elsewhere: it reads the same offline): the lab's picture, every lab
// and check with its expectation and result, the evidence of each check
// folded under it (open for failed ones), hints, and the totals.
func WriteHTML(w io.Writer, p HTMLPage) error {
	passed, failed := Totals(p.Reports)
	return htmlTemplate.Execute(w, struct {
		HTMLPage
		Passed, Failed int
	}{p, passed, failed})
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"verdict": func(ok bool) string {
		if ok {
			return "pass"
		}
		return "FAIL"
	},
	"seconds": func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #1d2329; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
.meta { color: #5b6570; margin-top: 0; }
.totals { font-size: 1.2em; font-weight: 600; }
.picture { overflow-x: auto; border: 1px solid #dde3ea; border-radius: 6px; padding: .5em; margin: 1em 0; }
.picture svg { max-width: 100%; height: auto; }
section.lab { border: 1px solid #dde3ea; border-radius: 6px; margin: 1em 0; padding: .2em 1em 1em; }
section.lab h2 { font-size: 1.15em; }
.badge { display: inline-block; padding: .05em .5em; border-radius: 4px; font-size: .85em; font-weight: 600; }
.pass { background: #dcf3e1; color: #14612a; }
.FAIL { background: #fbe0e0; color: #9b1c1c; }
details { margin: .3em 0 .3em 1.2em; }
summary { cursor: pointer; }
pre { background: #f5f7f9; padding: .5em; overflow-x: auto; white-space: pre-wrap; font-size: .85em; }
.hint { background: #fff6db; padding: .3em .6em; border-radius: 4px; }
.error { color: #9b1c1c; }
.note { color: #5b6570; font-style: italic; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="meta">lab {{.Lab}}, {{.Made.Format "2006-01-02 15:04 MST"}}</p>
<p class="totals" id="totals">{{.Passed}} passed, {{.Failed}} failed</p>
{{if .Failed}}<ul class="failures" id="failures">{{range .Reports}}{{$lab := .Lab}}{{if .SetupError}}<li><a href="#lab-{{$lab}}">{{$lab}}</a>: setup failed</li>{{end}}{{range .Checks}}{{if not .Passed}}<li><a href="#lab-{{$lab}}">{{$lab}}</a>: {{.Check}}</li>{{end}}{{end}}{{end}}</ul>{{end}}
{{range .Reports}}
<section class="lab" id="lab-{{.Lab}}">
<h2><span class="badge {{verdict .Passed}}">{{verdict .Passed}}</span> {{.Lab}}: {{.Title}}</h2>
{{if .SetupError}}<p class="error">setup failed: {{.SetupError}}</p>
{{range .SetupEvidence}}<pre>[{{.Node}}, {{.Where}}] $ {{.Command}}  (exit {{.Exit}})
{{.Output}}</pre>{{end}}{{end}}
{{range .Checks}}
<details class="check"{{if not .Passed}} open{{end}}>
<summary><span class="badge {{verdict .Passed}}">{{verdict .Passed}}</span> <span class="check-name">{{.Check}}</span> (expected: {{.Expect}}, {{seconds .Duration}})</summary>
{{if .Error}}<p class="error">error: {{.Error}}</p>{{end}}
{{if .Hint}}<p class="hint">hint: {{.Hint}}</p>{{end}}
{{range .Evidence}}<pre>[{{.Node}}, {{.Where}}] $ {{.Command}}  (exit {{.Exit}}){{if .Note}}
# {{.Note}}{{end}}
{{.Output}}</pre>{{end}}
</details>
{{end}}
{{if .Teardown}}<p class="error">teardown failed: {{.Teardown}}</p>{{end}}
</section>
{{end}}
{{if .Picture}}<h2>The lab</h2>
<div class="picture">{{.Picture}}</div>{{end}}
</body>
</html>
`))
