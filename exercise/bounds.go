package exercise

import (
	"bytes"
	"fmt"
	"time"
)

// What a check may cost, whatever runs on a node (students are root
// there: their docker can be `yes`, or `sleep infinity`).
const (
	// MaxOutput is how much of one stream of one command is kept; the
	// rest is read and dropped (and counted).
	MaxOutput = 256 << 10
	// DefaultCheckTimeout bounds a check that sets no Timeout of its own.
	DefaultCheckTimeout = 5 * time.Minute
)

// capped keeps the first MaxOutput bytes written to it and counts the
// rest, so that a command that prints forever costs a bounded memory; it
// never fails a write (the stream keeps draining until the command ends
// or its deadline does).
type capped struct {
	b       bytes.Buffer
	dropped int64
}

func (c *capped) Write(p []byte) (int, error) {
	room := MaxOutput - c.b.Len()
	if room >= len(p) {
		return c.b.Write(p)
	}
	if room > 0 {
		c.b.Write(p[:room])
	}
	c.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}

// String is what was kept, with a last line saying how much was not.
func (c *capped) String() string {
	if c.dropped == 0 {
		return c.b.String()
	}
	return fmt.Sprintf("%s\n... (%d more bytes not kept)", c.b.String(), c.dropped)
}
