package lab

import (
	"context"

	"github.com/labctl/labctl/exercise"
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
func (l *Lab) RunLabs(ctx context.Context, run []*exercise.Exercise, o RunOptions) ([]exercise.Report, error) {
	for _, x := range run {
		if err := exercise.Fits(x, l.Plan); err != nil && o.Unfit != nil {
			o.Unfit(err)
		}
	}
	reps, err := l.each(ctx, run, func(env *exercise.Env, x *exercise.Exercise) exercise.Report {
		rep := exercise.RunLab(ctx, env, x, exercise.Options{Keep: o.Keep, Progress: l.o.Progress})
		l.recordPhase("lab "+x.Name, "", rep.Start(), rep.Duration, rep.Err())
		return rep
	})
	if err != nil {
		return nil, err
	}
	return reps, l.save(false)
}

// CheckLabs runs only the checks of each exercise against what is on the
// nodes now (no setup, no teardown of what is there): check-only mode, to
// verify what a student built. stage 0 means every stage. What the
// checks' own actions change is taken back; open the lab locked all the
// same, so that they never meet a lab run.
func (l *Lab) CheckLabs(ctx context.Context, run []*exercise.Exercise, stage int) ([]exercise.Report, error) {
	return l.each(ctx, run, func(env *exercise.Env, x *exercise.Exercise) exercise.Report {
		return exercise.RunChecks(ctx, env, x, exercise.CheckOptions{Stage: stage, Progress: l.o.Progress})
	})
}

// each connects to the nodes and does one exercise after another, until
// ctx ends.
func (l *Lab) each(ctx context.Context, run []*exercise.Exercise, do func(*exercise.Env, *exercise.Exercise) exercise.Report) ([]exercise.Report, error) {
	env, closeEnv, err := l.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	defer closeEnv()
	var reps []exercise.Report
	for _, x := range run {
		reps = append(reps, do(env, x))
		if ctx.Err() != nil {
			break
		}
	}
	return reps, nil
}
