package exercise

import (
	"context"
	"strings"
)

// OnNode runs cmd on a node; ok is exit status 0 (and stdout containing
// contains, when given).
func (r *Run) OnNode(ctx context.Context, node, cmd, contains string) (bool, Evidence, error) {
	o, err := r.Node(node).Sh(ctx, cmd)
	ev := Evidence{Node: node, Where: "node", Command: cmd}
	if err != nil {
		return false, ev, err
	}
	ev.Output, ev.Exit = o.Text(), o.Exit
	return o.Exit == 0 && (contains == "" || strings.Contains(o.Stdout, contains)), ev, nil
}
