package exercise

import (
	"context"
	"strings"
)

// InContainer runs argv in a container; ok is exit status 0 (and, when
// contains is not empty, stdout containing it).
func (r *Run) InContainer(ctx context.Context, node, ctr, contains string, argv ...string) (bool, Evidence, error) {
	o, err := r.Exec(ctx, node, ctr, argv...)
	ev := Evidence{Node: node, Where: "container " + ctr, Command: strings.Join(argv, " ")}
	if err != nil {
		return false, ev, err
	}
	ev.Output, ev.Exit = o.Text(), o.Exit
	ok := o.Exit == 0 && (contains == "" || strings.Contains(o.Stdout, contains))
	return ok, ev, nil
}

// Ping pings target from a container: ok when it answers.
func (r *Run) Ping(ctx context.Context, node, ctr, target string) (bool, Evidence, error) {
	return r.InContainer(ctx, node, ctr, "", "ping", "-c", "2", "-W", "2", target)
}
