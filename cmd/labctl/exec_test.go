package main

import (
	"os/exec"
	"strings"
	"testing"
)

// exec's COMMAND words reach the node's program as they were given: the
// command line goes through a real sh here, as it does on the node, with
// words a shell would otherwise split, expand or run.
func TestExecCommandLineKeepsEachWord(t *testing.T) {
	words := []string{"a b", "$HOME", "it's", "", "`id`", "$(id)", "*", "x;y", "tab\there", "line\nbreak", "-n"}
	line := execCommandLine(append([]string{"printf", "[%s]\n"}, words...))
	out, err := exec.Command("sh", "-c", line).Output()
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	var want strings.Builder
	for _, w := range words {
		want.WriteString("[" + w + "]\n")
	}
	if string(out) != want.String() {
		t.Errorf("command line %q printed\n%s\nwant\n%s", line, out, want.String())
	}
	// One argument is a command line for the node's shell, as it is.
	if got := execCommandLine([]string{"docker ps -q | wc -l"}); got != "docker ps -q | wc -l" {
		t.Errorf("one argument: %q", got)
	}
	// Plain words stay readable in logs.
	if got := execCommandLine([]string{"ip", "-br", "addr"}); got != "ip -br addr" {
		t.Errorf("plain words: %q", got)
	}
}
