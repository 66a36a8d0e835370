// Package golden compares test output with files kept in testdata, and
// rewrites them when the tests run with -update. It is for tests only; one
// -update flag serves every package that uses it.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// Update is the -update flag: rewrite the golden files with what the tests
// produce now.
var Update = flag.Bool("update", false, "rewrite golden files with what the tests produce")

// Check compares got with the file at path (relative to the package, e.g.
// testdata/plan.json). With -update it writes got there first. A missing
// file or a difference fails the test, saying how to accept the change.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; if the change is intended, run the test with -update\n--- got\n%s", path, got)
	}
}
