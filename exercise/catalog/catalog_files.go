package catalog

import (
	"fmt"
	"os"
	"strings"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/exercise/labfile"
	"github.com/labctl/labctl/internal/strictyaml"
)

// Catalog is the built-in exercises and an instructor's lab files.
type Catalog struct {
	Files []*labfile.File // extra lab files, in the order given
}

// NewCatalog reads the lab files at paths (files or directories); a file
// may not reuse a built-in exercise's name.
func NewCatalog(paths []string) (*Catalog, error) {
	if len(paths) == 0 {
		return &Catalog{}, nil
	}
	fs, err := labfile.LoadPaths(paths)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if _, ok := Lookup(f.Name); ok {
			return nil, fmt.Errorf("%s: lab %q is a built-in exercise's name; give the file another name (name:)", f.Path(), f.Name)
		}
	}
	return &Catalog{Files: fs}, nil
}

// All is the built-in exercises, then the files'.
func (c *Catalog) All() []*exercise.Exercise {
	out := All()
	for _, f := range c.Files {
		out = append(out, f.Exercise())
	}
	return out
}

// Lookup finds an exercise by name.
func (c *Catalog) Lookup(name string) (*exercise.Exercise, bool) {
	for _, e := range c.All() {
		if e.Name == name {
			return e, true
		}
	}
	return nil, false
}

// IsPath tells whether a command-line argument names lab files rather
// than an exercise: it has a / or ends in .yaml or .yml, or is a
// directory here.
func IsPath(arg string) bool {
	if strings.Contains(arg, "/") || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		return true
	}
	fi, err := os.Stat(arg)
	return err == nil && fi.IsDir()
}

// Resolve turns command-line arguments into exercises: "all", names, and
// paths of lab files (read and validated, every problem at once).
func (c *Catalog) Resolve(args []string) ([]*exercise.Exercise, error) {
	var out []*exercise.Exercise
	for _, a := range args {
		switch {
		case a == "all":
			out = append(out, c.All()...)
		case IsPath(a):
			fs, err := labfile.LoadPaths([]string{a})
			if err != nil {
				return nil, err
			}
			for _, f := range fs {
				out = append(out, f.Exercise())
			}
		default:
			e, ok := c.Lookup(a)
			if !ok {
				hint := ""
				if s := c.closest(a); s != "" {
					hint = fmt.Sprintf(" (did you mean %q?)", s)
				}
				return nil, fmt.Errorf("no lab %q%s; 'labctl lab ls' lists them, and a lab file is given by its path (./%s.yaml)", a, hint, a)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// closest is the exercise whose name is nearest name (at most 2 edits),
// or "".
func (c *Catalog) closest(name string) string {
	best, bestD := "", 3
	for _, e := range c.All() {
		if d := strictyaml.Distance(name, e.Name); d < bestD {
			best, bestD = e.Name, d
		}
	}
	return best
}
