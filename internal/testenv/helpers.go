package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that a running command or goroutine writes
// while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// AddSeeds adds every file matching pattern (e.g. testdata/*/*.yaml) to a
// fuzz target's seed corpus.
func AddSeeds(f *testing.F, pattern string) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// FuzzParsed holds what every parser's fuzz target asserts about one
// input: parse(data) finishes within 3 s (nested YAML aliases and merge
// keys once made a 1 KB file take for ever), and an error names file, the
// name parse was given, or lists problems that each do. It returns
// parse's error so that the target goes on only with a parsed input.
func FuzzParsed(t *testing.T, file string, data []byte, parse func() error) error {
	start := time.Now()
	err := parse()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("%d bytes took %s", len(data), d)
	}
	if err != nil && !strings.HasPrefix(err.Error(), file) && !strings.Contains(err.Error(), "problems:") {
		t.Fatalf("parse error does not name the file: %v", err)
	}
	return err
}
