// Check-only mode: an exercise's checks against what is on the nodes now,
// to verify what a student built by hand from 'labctl lab explain'.

package exercise

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// CheckOptions tune RunChecks.
type CheckOptions struct {
	Stage    int // only the checks of this stage (0: all)
	Progress func(lab, msg string)
	Teardown time.Duration // how long undoing the checks' own actions may take (default 2 minutes)
}

// ErrNoCheckOnly is an exercise whose checks rely on its own setup.
var ErrNoCheckOnly = errors.New("this exercise has no check-only mode: its checks rely on state its own setup keeps (run it with 'labctl lab run')")

// RunChecks runs only the exercise's checks: no setup, no clean-up of
// leftovers, no teardown of what is there. What the checks themselves
// change (a route, a connected network) is undone at the end; what the
// student made stays. A failed check carries its hint.
func RunChecks(ctx context.Context, env *Env, lab *Exercise, o CheckOptions) (rep Report) {
	r, progress := newRun(env, lab, o.Progress)
	r.checkOnly = true
	rep = Report{Lab: lab.Name, Title: lab.Title, started: time.Now()}
	defer func() { rep.Duration = time.Since(rep.started) }()
	if !lab.CheckOnly {
		rep.SetupError = fmt.Sprintf("%s: %v", lab.Name, ErrNoCheckOnly)
		return rep
	}
	if err := Fits(lab, env.Plan); err != nil {
		rep.SetupError = err.Error()
		return rep
	}
	defer r.undoAll(&rep, o.Teardown)
	rep.Passed = true
	for _, c := range lab.Checks {
		if o.Stage > 0 && max(c.Stage, 1) != o.Stage {
			continue
		}
		r.record(ctx, &rep, c, progress)
	}
	if len(rep.Checks) == 0 {
		rep.Passed = false
		rep.SetupError = fmt.Sprintf("%s has no checks in stage %d", lab.Name, o.Stage)
	}
	return rep
}
