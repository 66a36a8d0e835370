package topology

import (
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
)

// FuzzParse feeds arbitrary bytes through the whole front end: parsing must
// never panic, and every problem validation reports must name its field.
func FuzzParse(f *testing.F) {
	testenv.AddSeeds(f, "testdata/*/*.yaml")
	f.Add(defaultYAML)
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		defer func() {
			// Bounded work: a small input must never take long (nested
			// aliases and merge keys once made it take for ever).
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("%d bytes took %s", len(data), d)
			}
		}()
		tp, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") && !strings.Contains(err.Error(), "problems:") {
				t.Fatalf("parse error does not name the file: %v", err)
			}
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
