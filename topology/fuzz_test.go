package topology

import (
	"testing"

	"github.com/labctl/labctl/internal/testenv"
)

// FuzzParse feeds arbitrary bytes through the whole front end: parsing must
// never panic, and every problem validation reports must name its field.
func FuzzParse(f *testing.F) {
	testenv.AddSeeds(f, "testdata/*/*.yaml")
	f.Add(defaultYAML)
	f.Fuzz(func(t *testing.T, data []byte) {
		var tp *Topology
		if testenv.FuzzParsed(t, "fuzz.yaml", data, func() (err error) {
			tp, err = Parse("fuzz.yaml", data)
			return err
		}) != nil {
			return
		}
		ApplyDefaults(tp)
		for _, p := range Validate(tp) {
			if p.Path == "" || p.Msg == "" {
				t.Fatalf("problem without path or message: %+v", p)
			}
		}
	})
}
