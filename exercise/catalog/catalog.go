// Package catalog is labctl's built-in exercises and an instructor's lab
// files: the tutorial's labs as embedded lab files (builtin/*.yaml, in the
// order of their file names: 10-bridge.yaml comes first), then the labs
// written in Go (the overlay), then the files an instructor gives.
package catalog

import (
	"embed"
	"fmt"
	"sort"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/exercise/labfile"
	"github.com/labctl/labctl/exercise/overlay"
)

// inGo are the built-in exercises written in Go, after the files.
var inGo = []func() *exercise.Exercise{overlay.Exercise}

// All returns every built-in exercise, in the tutorial's order.
func All() []*exercise.Exercise {
	var out []*exercise.Exercise
	for _, f := range builtinFiles {
		out = append(out, f.Exercise())
	}
	for _, e := range inGo {
		out = append(out, e())
	}
	return out
}

//go:embed builtin/*.yaml
var builtinFS embed.FS

// builtinFiles are the embedded lab files, parsed once, in the order of
// their file names; a broken one is a bug that the tests catch.
var builtinFiles = func() []*labfile.File {
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		panic(err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var out []*labfile.File
	for _, e := range entries {
		data, err := builtinFS.ReadFile("builtin/" + e.Name())
		if err != nil {
			panic(err)
		}
		f, err := labfile.ParseFile("builtin/"+e.Name(), data)
		if err != nil {
			panic(fmt.Sprintf("built-in lab file: %v", err))
		}
		out = append(out, f)
	}
	return out
}()

// Lookup finds a built-in exercise by name.
func Lookup(name string) (*exercise.Exercise, bool) {
	for _, l := range All() {
		if l.Name == name {
			return l, true
		}
	}
	return nil, false
}

// Builtin is the text of a built-in exercise's lab file.
func Builtin(name string) ([]byte, error) {
	for _, f := range builtinFiles {
		if f.Name == name {
			return builtinFS.ReadFile(f.Path())
		}
	}
	return nil, fmt.Errorf("no built-in lab file %q", name)
}
