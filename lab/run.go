package lab

import (
	"context"

	"github.com/labctl/labctl/labs"
)

// RunOptions tune RunLabs.
type RunOptions struct {
	Keep bool // leave each lab set up (the next run removes it)
	// Unfit is told, before anything runs, of each lab this topology
	// cannot host (it fails at once; the others run).
	Unfit func(error)
}

// RunLabs runs the labs one after another on the lab's nodes (Nodes) and
// returns their reports; each lab's time is recorded as a phase. It stops
// early only when ctx ends. It needs the lab locked: labs change the
// nodes.
func (l *Lab) RunLabs(ctx context.Context, run []*labs.Exercise, o RunOptions) ([]labs.Report, error) {
	for _, x := range run {
		if err := labs.Fits(x, l.Plan); err != nil && o.Unfit != nil {
			o.Unfit(err)
		}
	}
	env, closeEnv, err := l.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	defer closeEnv()
	var reps []labs.Report
	for _, x := range run {
		rep := labs.RunLab(ctx, env, x, labs.Options{Keep: o.Keep, Progress: l.o.Progress})
		reps = append(reps, rep)
		l.recordPhase("lab "+x.Name, "", rep.Start(), rep.Duration, rep.Err())
		if ctx.Err() != nil {
			break
		}
	}
	return reps, l.save(false)
}

// CheckLabs runs only the checks of each exercise against what is on the
// nodes now (no setup, no teardown of what is there): check-only mode, to
// verify what a student built. stage 0 means every stage. It does not
// need the lab's lock: it changes nothing it does not take back.
func (l *Lab) CheckLabs(ctx context.Context, run []*labs.Exercise, stage int) ([]labs.Report, error) {
	env, closeEnv, err := l.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	defer closeEnv()
	var reps []labs.Report
	for _, x := range run {
		reps = append(reps, labs.RunChecks(ctx, env, x, labs.CheckOptions{Stage: stage, Progress: l.o.Progress}))
		if ctx.Err() != nil {
			break
		}
	}
	return reps, nil
}
