package inventory

import (
	"testing"

	"github.com/labctl/labctl/internal/testenv"
)

// FuzzParse feeds arbitrary bytes to the inventory parser and validation
// against the default topology: no panic, bounded time, and every problem
// names its file, field and line.
func FuzzParse(f *testing.F) {
	testenv.AddSeeds(f, "testdata/*/*.yaml")
	p := testPlan(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var inv *Inventory
		if testenv.FuzzParsed(t, "fuzz.yaml", data, func() (err error) {
			inv, err = Parse("fuzz.yaml", data)
			return err
		}) != nil {
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
