package main

import (
	"strings"
	"testing"
)

func TestSummaryCountsTestsAndLabChecks(t *testing.T) {
	in := `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    x_test.go:95: results:\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"        35 passed, 0 failed\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"        1 passed, 4 failed (failures expected by the test)\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"output","Package":"q","Test":"TestC","Output":"        9 passed, 1 failed\n"}
{"Action":"fail","Package":"q","Test":"TestC"}
{"Action":"fail","Package":"q"}
{"Action":"pass","Package":"p"}
# some/pkg [build failed]
`
	var out strings.Builder
	s, err := Read(strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Passed != 1 || s.Failed != 1 || s.Skipped != 1 || s.ChecksPassed != 44 || s.ChecksFailed != 1 || len(s.PkgFailed) != 1 {
		t.Errorf("%+v", s)
	}
	if s.OK() {
		t.Error("a failure was summarised as OK")
	}
	if !strings.Contains(out.String(), "35 passed, 0 failed") || !strings.Contains(out.String(), "[build failed]") {
		t.Errorf("output not passed through:\n%s", out.String())
	}
	if got := s.Line(); got != "tests: 1 passed, 1 failed, 1 skipped; lab checks: 44 passed, 1 failed" {
		t.Errorf("line: %s", got)
	}
	ok, _ := Read(strings.NewReader(`{"Action":"pass","Package":"p","Test":"TestA"}`+"\n"), &out)
	if !ok.OK() {
		t.Error("all passed, but not OK")
	}
}
