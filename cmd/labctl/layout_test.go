package main

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The README's layout table is the order of the packages: each imports
// only packages listed below it (a package and its test helper, such as
// vm and vm/vmtest, share a row). Every package of the module has a row.
// The test support (the harness, testenv, golden, testsum) is imported by
// tests only, never by labctl's own code.
func TestReadmeLayoutIsTheImportOrder(t *testing.T) {
	readme, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer readme.Close()
	rank := map[string]int{}
	row := regexp.MustCompile("^\\| `([^`]+)`(?:, `([^`]+)`)? \\|")
	in := false
	sc := bufio.NewScanner(readme)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "## Layout"):
			in = true
		case in && strings.HasPrefix(l, "## "):
			in = false
		case in:
			if m := row.FindStringSubmatch(l); m != nil {
				for _, p := range m[1:] {
					if p != "" {
						rank[p] = len(rank)
					}
				}
			}
		}
	}
	if len(rank) < 10 {
		t.Fatalf("README's layout table lists %d packages", len(rank))
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "../../...").Output()
	if err != nil {
		t.Fatal(err)
	}
	const mod = "github.com/labctl/labctl/"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], mod)
		if pkg == "e2e" {
			continue // tests only
		}
		r, ok := rank[pkg]
		if !ok && !testSupport(pkg) {
			t.Errorf("package %s has no row in README's layout table", pkg)
			continue
		}
		for _, imp := range f[1:] {
			dep, ours := strings.CutPrefix(imp, mod)
			if !ours {
				continue
			}
			if testSupport(dep) && !testSupport(pkg) {
				t.Errorf("%s imports %s, which is for tests only", pkg, dep)
			}
			if testSupport(pkg) {
				continue
			}
			if d, ok := rank[dep]; ok && d <= r && !sameRow(pkg, dep) {
				t.Errorf("%s imports %s, which README's layout table lists above it", pkg, dep)
			}
		}
	}
}

// testSupport are the packages only tests import.
func testSupport(pkg string) bool {
	for _, p := range []string{"internal/testlab", "internal/testenv", "internal/golden", "internal/testsum"} {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

// sameRow: a package and its test helper (vm and vm/vmtest) share a row.
func sameRow(a, b string) bool {
	helper := func(h, p string) bool { return strings.HasSuffix(h, "test") && strings.HasPrefix(h, p+"/") }
	return helper(a, b) || helper(b, a)
}
