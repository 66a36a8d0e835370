package exercise

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
)

func sampleReports() []Report {
	return []Report{
		{Lab: "bridge", Title: "The default bridge (docker0)", Passed: true, Checks: []Result{
			{Lab: "bridge", Check: "milk pings bread by IP", Expect: ExpectSuccess, Passed: true, Evidence: []Evidence{{Node: "node1", Where: "container milk", Command: "ping -c 2 -W 2 172.17.0.3", Output: "2 packets received"}}},
			{Lab: "bridge", Check: "milk cannot resolve bread by name (no DNS on docker0)", Expect: ExpectFailure, Passed: true},
		}},
		{Lab: "user-bridge", Title: "A user-defined bridge (greatwall)", Checks: []Result{
			{Lab: "user-bridge", Check: "beijing pings shenzhen by name", Expect: ExpectSuccess, Passed: false, Hint: "beijing is not on greatwall: docker network connect greatwall beijing",
				Evidence: []Evidence{{Node: "node1", Where: "container beijing", Command: "ping -c 2 -W 2 shenzhen", Output: "ping: bad address 'shenzhen' <script>alert(1)</script>", Exit: 1}}},
			{Lab: "user-bridge", Check: "milk (docker0) cannot reach beijing (greatwall)", Expect: ExpectFailure, Passed: true},
		}},
	}
}

// The report is one self-contained page: it loads nothing from anywhere,
// runs no script, and escapes what the nodes printed.
func TestHTMLIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, HTMLPage{Title: "labctl report", Lab: "default", Reports: sampleReports(), Made: time.Now(),
		Picture: `<svg xmlns="http://www.w3.org/2000/svg"><title>lab</title></svg>`}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(page); m != "" {
		t.Errorf("the page loads something from elsewhere: %s", m)
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("a node's output reached the page unescaped")
	}
	if !strings.Contains(page, "3 passed, 1 failed") {
		t.Error("no totals")
	}
	// The failures come first (listed under the totals), the picture last.
	fails, section, picture := strings.Index(page, `id="failures"`), strings.Index(page, `<section class="lab"`), strings.Index(page, `<div class="picture">`)
	if fails < 0 || section < 0 || picture < 0 || !(fails < section && section < picture) {
		t.Errorf("order: failures at %d, first lab at %d, picture at %d", fails, section, picture)
	}
}

// Rendered by a real browser (headless Chromium), the page shows every
// check, the totals and the hint of the failed check; and it draws.
func TestHTMLInChromium(t *testing.T) {
	testenv.Tool(t, "chromium")
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(f, HTMLPage{Title: "labctl report", Lab: "default", Reports: sampleReports(), Made: time.Now()}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dom, png := testenv.RenderInChromium(t, page)
	text := regexp.MustCompile(`<[^>]+>`).ReplaceAllString(dom, " ")
	text = strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"3 passed, 1 failed", "milk pings bread by IP", "beijing pings shenzhen by name",
		"hint: beijing is not on greatwall: docker network connect greatwall beijing", "milk (docker0) cannot reach beijing (greatwall)"} {
		if !strings.Contains(text, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	if strings.Count(dom, `class="check"`) != 4 {
		t.Errorf("%d checks rendered, want 4", strings.Count(dom, `class="check"`))
	}
	if len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("no screenshot (%d bytes)", len(png))
	}
}
