// Package termtext is the one way labctl puts text that came from
// elsewhere - what a node printed, a name from a file - on a person's
// terminal: escape sequences and other control characters are shown, not
// obeyed, so that a student's output cannot retitle, clear or rewrite the
// instructor's terminal, or hide a line.
package termtext

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Clean returns s with every control character but new line and tab (C0,
// DEL, C1, and a carriage return, which could overwrite a line) written
// as a visible \xNN or \u00NN, and bytes that are not UTF-8 as U+FFFD.
func Clean(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\n' && c != '\t' || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, size := utf8.DecodeRuneInString(s[i:])
		w = size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Writer returns a writer that passes everything written through Clean,
// for text that is shown on a terminal whole (a report, a matrix). A rune
// cut between two writes is kept until the next.
func Writer(w io.Writer) io.Writer { return &writer{w: w} }

type writer struct {
	w    io.Writer
	tail []byte // the start of a rune cut at the end of the last write
}

func (c *writer) Write(p []byte) (int, error) {
	buf := append(c.tail, p...)
	c.tail = nil
	// Keep back an incomplete rune at the end (at most 3 bytes).
	for k := 1; k <= 3 && k <= len(buf); k++ {
		if b := buf[len(buf)-k]; utf8.RuneStart(b) {
			if !utf8.FullRune(buf[len(buf)-k:]) {
				c.tail = append([]byte(nil), buf[len(buf)-k:]...)
				buf = buf[:len(buf)-k]
			}
			break
		}
	}
	if _, err := io.WriteString(c.w, Clean(string(buf))); err != nil {
		return 0, err
	}
	return len(p), nil
}
