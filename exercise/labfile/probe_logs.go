package labfile

import (
	"context"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/transport"
)

// logsKind reads a container's logs on its node.
type logsKind struct{}

func (logsKind) key() string         { return "logs" }
func (logsKind) of(p FileProbe) bool { return p.Logs != "" }

func (logsKind) check(f *File, ps *problems, path string, p FileProbe, known map[string]bool) {
	if p.In != "" {
		ps.add(path+".logs", "logs names the container itself: leave in out")
	}
}

func (logsKind) once(ctx context.Context, r run, node string, p FileProbe, v probeText) (exercise.Evidence, string, int, error) {
	ev := exercise.Evidence{Node: node, Where: "container " + v.logs, Command: "docker logs " + v.logs}
	o, err := r.Node(node).Sh(ctx, "docker logs "+transport.Quote(v.logs)+" 2>&1")
	ev.Output, ev.Exit = o.Text(), o.Exit
	return ev, o.Stdout, o.Exit, err
}
