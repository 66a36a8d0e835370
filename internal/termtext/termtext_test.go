package termtext

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain\ttext\nok":       "plain\ttext\nok",
		"\x1b]0;owned\x07title": `\x1b]0;owned\x07title`,
		"\x1b[2J\x1b[Hclear":    `\x1b[2J\x1b[Hclear`,
		"done\rFAKE PASS":       `done\x0dFAKE PASS`,
		"c1 \u009b31m csi":      `c1 \u009b31m csi`,
		"bad \xff utf8":         "bad \ufffd utf8",
		"dé jà vu ✓":            "dé jà vu ✓",
		"del\x7f":               `del\x7f`,
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriterKeepsRunesCutBetweenWrites(t *testing.T) {
	var b strings.Builder
	w := Writer(&b)
	s := []byte("ok ✓ \x1b[31mred")
	for i := range s {
		w.Write(s[i : i+1])
	}
	if got := b.String(); got != `ok ✓ \x1b[31mred` {
		t.Errorf("%q", got)
	}
}
