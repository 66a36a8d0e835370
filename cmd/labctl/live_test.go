package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vbauerster/mpb/v8"
)

// On a terminal, up's progress is a line per node redrawn in place (mpb):
// what each does, then "ready in"; the lab's own messages print above;
// a node's text is cleaned of escape sequences; the summary counts the
// nodes ready and names the others.
func TestLiveProgress(t *testing.T) {
	var out bytes.Buffer
	lv := newLive(&out, "nodes", []string{"node1", "node2"}, dockerReady(false), mpb.WithAutoRefresh(), mpb.WithWidth(100))
	lv.progress("node1", "starting")
	lv.progress("node2", "SSH port open after 3s \x1b]0;owned\x07")
	lv.progress("", "uploading debian-12 (300 MiB)")
	lv.progress("node1", "Docker 26.1.5 ready (API 1.45)")
	lv.progress("node1", "something after ready is not shown")
	sum := lv.finish()
	if sum != "1/2 nodes ready in 0 s; not ready: node2" {
		t.Errorf("summary %q", sum)
	}
	got := out.String()
	for _, want := range []string{"node1  ready in 0 s: Docker 26.1.5 ready (API 1.45)", "node2  SSH port open after 3s", "uploading debian-12 (300 MiB)"} {
		if !strings.Contains(got, want) {
			t.Errorf("the live output lacks %q:\n%q", want, got)
		}
	}
	if strings.Contains(got, "owned") && strings.Contains(got, "\x1b]0;") || strings.Contains(got, "something after ready") {
		t.Errorf("live output: %q", got)
	}
	if dockerReady(true)("SSH port open after 31s") != true || dockerReady(false)("SSH port open after 31s") {
		t.Error("dockerReady")
	}
}
