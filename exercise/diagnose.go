// What a failed setup step's report carries to explain it.

package exercise

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DockerLogs is every node's dockerd log since the failed step started
// (a few seconds before, for clocks apart), without the lines Docker
// repeats for every IPVS set-up and gRPC connection.
func DockerLogs(ctx context.Context, r *Run, since time.Time) []Evidence {
	cmd := fmt.Sprintf("sudo journalctl -u docker --no-pager -o short-precise --since @%d | grep -v -e 'kernel parameter' -e 'module=grpc' | tail -n 60", since.Add(-5*time.Second).Unix())
	var evs []Evidence
	for _, pn := range r.Env.Plan.Nodes {
		n := r.Env.Nodes[pn.Name]
		if n == nil {
			continue
		}
		o, err := n.Sh(ctx, cmd)
		out := strings.TrimSpace(o.Stdout + o.Stderr)
		if len(out) > 6000 { // the end says most
			out = "...\n" + out[len(out)-6000:]
		}
		ev := Evidence{Node: pn.Name, Where: "node", Command: cmd, Output: out, Exit: o.Exit,
			Note: "dockerd's log since the failed step started"}
		if err != nil {
			ev.Output, ev.Exit = err.Error(), 1
		}
		evs = append(evs, ev)
	}
	return evs
}

// diagnoseTimeout bounds a lab's Diagnose after a failed setup.
const diagnoseTimeout = time.Minute
