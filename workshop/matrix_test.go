package workshop

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/internal/testenv"
)

// The matrix lines seats up against checks (a seat whose lab could not
// run gets "-"), and its page, in a real browser, shows who failed what
// with the evidence and hint.
func TestMatrixInChromium(t *testing.T) {
	ok := exercise.Result{Check: "milk pings bread", Expect: exercise.ExpectSuccess, Passed: true}
	bad := exercise.Result{Check: "milk pings bread", Expect: exercise.ExpectSuccess, Hint: "is bread running?",
		Evidence: []exercise.Evidence{{Node: "node1", Where: "container milk", Command: "ping -c 2 -W 2 bread", Output: "bad address", Exit: 1}}}
	srs := []SeatReport{
		{Seat: 1, Lab: "ws-s01", Reports: []exercise.Report{{Lab: "bridge", Passed: true, Checks: []exercise.Result{ok}}}},
		{Seat: 2, Lab: "ws-s02", Reports: []exercise.Report{{Lab: "bridge", Checks: []exercise.Result{bad}}}},
		{Seat: 3, Lab: "ws-s03", Reports: []exercise.Report{{Lab: "bridge", SetupError: "docker does not answer"}}},
	}
	m := NewMatrix("ws", srs)
	if len(m.Columns) != 1 || strings.Join(m.Rows[0].Cells, ",") != "pass" || strings.Join(m.Rows[1].Cells, ",") != "FAIL" || strings.Join(m.Rows[2].Cells, ",") != "-" || !m.Failed() {
		t.Fatalf("%+v", m)
	}
	page := filepath.Join(t.TempDir(), "matrix.html")
	f, _ := os.Create(page)
	if err := m.WriteHTML(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dom, _ := testenv.RenderInChromium(t, page)
	text := strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(dom, " ")), " ")
	for _, w := range []string{"3 seats x 1 checks", "seat 2 (ws-s02)", "hint: is bread running?", "bad address", "setup failed: docker does not answer"} {
		if !strings.Contains(text, w) {
			t.Errorf("the rendered matrix lacks %q", w)
		}
	}
	if strings.Count(dom, `class="FAIL"`) != 1 || strings.Count(dom, `class="pass"`) != 1 {
		t.Errorf("cells: %d FAIL, %d pass", strings.Count(dom, `class="FAIL"`), strings.Count(dom, `class="pass"`))
	}
}
