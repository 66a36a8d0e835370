// Package testenv decides whether integration tests run. They need root,
// real tools (mmdebstrap, QEMU, libvirt) and minutes of time, so they run
// only when LABCTL_INTEGRATION=1. When that is set, a missing prerequisite
// is a failure, not a skip: CI must never pass by skipping what it exists
// to check.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Integration skips the test (saying why, loudly) unless integration tests
// are enabled, and fails it if they are enabled but a tool is missing.
func Integration(t testing.TB, tools ...string) {
	t.Helper()
	if os.Getenv("LABCTL_INTEGRATION") != "1" {
		t.Skip("SKIPPED: integration test; set LABCTL_INTEGRATION=1 (root, mmdebstrap, QEMU, libvirt) or run `make integration`")
	}
	if os.Geteuid() != 0 {
		t.Fatal("LABCTL_INTEGRATION=1 but not root: integration tests build images and start libvirtd")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("LABCTL_INTEGRATION=1 but %s is missing: %v (run .ci/run or install the packages the README lists)", tool, err)
		}
	}
}

// CacheDir is the image cache integration tests share, so that images are
// built once per run (and kept between runs on one machine):
// $LABCTL_TEST_CACHE, or a directory under the system temp dir.
func CacheDir() string {
	if d := os.Getenv("LABCTL_TEST_CACHE"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "labctl-test-cache")
}

// Tool skips a unit test that needs a command the machine lacks, except
// where the tests run for real (LABCTL_INTEGRATION=1, as in CI): there a
// missing tool fails the test, so that a check never silently does not run.
func Tool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	if os.Getenv("LABCTL_INTEGRATION") == "1" {
		t.Fatalf("%s is missing: run .ci/run or install the packages the README lists", name)
	}
	t.Skipf("SKIPPED: needs %s", name)
}

// Namespaces is for a test that makes network namespaces: it needs root
// (skipped elsewhere, failed where the tests run for real) and the tools.
func Namespaces(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("LABCTL_INTEGRATION") == "1" {
			t.Fatal("needs root (network namespaces), as the tests run in CI")
		}
		t.Skip("SKIPPED: needs root (network namespaces)")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		Tool(t, tool)
	}
}
