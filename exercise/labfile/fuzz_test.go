package labfile

import (
	"testing"

	"github.com/labctl/labctl/internal/testenv"
)

// FuzzParseFile feeds arbitrary bytes to the lab file parser: it must never
// panic or take long, every problem names the file, and a file it accepts
// turns into an exercise.
func FuzzParseFile(f *testing.F) {
	testenv.AddSeeds(f, "testdata/*/*.yaml")
	testenv.AddSeeds(f, "../catalog/builtin/*.yaml") // the built-in exercises
	f.Fuzz(func(t *testing.T, data []byte) {
		var lf *File
		if testenv.FuzzParsed(t, "fuzz.yaml", data, func() (err error) {
			lf, err = ParseFile("fuzz.yaml", data)
			return err
		}) != nil {
			return
		}
		if e := lf.Exercise(); e.Name == "" || len(e.Checks) == 0 {
			t.Fatalf("accepted file without name or checks: %+v", e)
		}
	})
}
