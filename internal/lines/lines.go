// Package lines is the one way labctl reads line-oriented text (known_hosts
// files, checksum lists, ssh configs): lines numbered from 1, trimmed,
// blank lines and # comments skipped.
package lines

import (
	"bufio"
	"io"
	"strings"
)

// Each calls fn with every line of r that is neither blank nor a comment,
// trimmed, and its number; an error from fn stops it and is returned, as
// is a read error.
func Each(r io.Reader, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	return sc.Err()
}
