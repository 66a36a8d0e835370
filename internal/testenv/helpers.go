package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
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
