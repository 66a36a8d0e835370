package lab

import (
	"errors"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/exercise/catalog"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/topology"
)

// Validation is what Validate found in one topology file; its JSON is
// `labctl validate -o json`.
type Validation struct {
	File     string             `json:"file"`
	Valid    bool               `json:"valid"`
	Error    string             `json:"error,omitempty"`
	Problems []topology.Problem `json:"problems,omitempty"`
	Clashes  []plan.Clash       `json:"clashes,omitempty"`
	// LabsThatCannotRun says which built-in labs this (valid) topology
	// cannot host, and why.
	LabsThatCannotRun []string `json:"labs_that_cannot_run,omitempty"`
}

// Validate checks one topology file ("" for the built-in default) as lab
// name would use it, reporting rather than failing: strict parsing and
// every rule, the plan, its subnets against host's networks when host is
// given, and the built-in exercises it cannot host.
func Validate(name, file string, host *plan.Host) Validation {
	r := Validation{File: file}
	if file == "" {
		r.File = "(default)"
	}
	t, err := topology.Load(file)
	var ps topology.Problems
	switch {
	case errors.As(err, &ps):
		r.Problems = ps
		return r
	case err != nil:
		r.Error = err.Error()
		return r
	}
	p, err := plan.New(name, t)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	if host != nil {
		r.Clashes = plan.Preflight(p, *host)
	}
	r.Valid = len(r.Clashes) == 0
	for _, l := range catalog.All() {
		if err := exercise.Fits(l, p); err != nil {
			r.LabsThatCannotRun = append(r.LabsThatCannotRun, err.Error())
		}
	}
	return r
}
