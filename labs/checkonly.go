// Check-only mode: an exercise's checks against what is on the nodes now,
// to verify what a student built by hand from 'labctl lab explain'.

package labs

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
func RunChecks(ctx context.Context, env *Env, lab *Exercise, o CheckOptions) Report {
	if o.Progress == nil {
		o.Progress = func(string, string) {}
	}
	if o.Teardown <= 0 {
		o.Teardown = 2 * time.Minute
	}
	start := time.Now()
	rep := Report{Lab: lab.Name, Title: lab.Title, started: start}
	defer func() { rep.Duration = time.Since(start) }()
	if !lab.CheckOnly {
		rep.SetupError = fmt.Sprintf("%s: %v", lab.Name, ErrNoCheckOnly)
		return rep
	}
	if err := Fits(lab, env.Plan); err != nil {
		rep.SetupError = err.Error()
		return rep
	}
	r := &Run{Env: env, Lab: lab, vars: map[string]string{}}
	r.Log = func(m string) {
		r.show(m)
		o.Progress(lab.Name, m)
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.Background(), o.Teardown)
		defer cancel()
		if err := r.teardown(tctx); err != nil {
			rep.Teardown = err.Error()
			rep.Passed = false
		}
	}()
	rep.Passed = true
	for _, c := range lab.Checks {
		if o.Stage > 0 && max(c.Stage, 1) != o.Stage {
			continue
		}
		res := r.check(ctx, c)
		if !res.Passed {
			rep.Passed = false
		}
		o.Progress(lab.Name, fmt.Sprintf("%s: %s (expected: %s)", verdict(res.Passed), c.Name, c.Expect))
		rep.Checks = append(rep.Checks, res)
	}
	if len(rep.Checks) == 0 {
		rep.Passed = false
		rep.SetupError = fmt.Sprintf("%s has no checks in stage %d", lab.Name, o.Stage)
	}
	return rep
}
