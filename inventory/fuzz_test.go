package inventory

import (
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
)

// FuzzParse feeds arbitrary bytes to the inventory parser and validation
// against the default topology: no panic, bounded time, and every problem
// names its file, field and line.
func FuzzParse(f *testing.F) {
	testenv.AddSeeds(f, "testdata/*/*.yaml")
	p := plan(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("%d bytes took %s", len(data), d)
			}
		}()
		inv, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") && !strings.Contains(err.Error(), "problems:") {
				t.Fatalf("parse error does not name the file: %v", err)
			}
			return
		}
		for _, pr := range inv.Validate(p) {
			if pr.Path == "" || pr.Msg == "" || pr.Line == 0 {
				t.Fatalf("problem without path, message or line: %+v", pr)
			}
		}
		inv.Apply(p)
	})
}
