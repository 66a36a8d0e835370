package labfile

import (
	"context"

	"github.com/labctl/labctl/exercise"
)

// runKind is a shell command: on a node, in a container there (in:), or
// on the host (on: host).
type runKind struct{}

func (runKind) key() string                                                { return "run" }
func (runKind) of(p FileProbe) bool                                        { return p.Run != "" }
func (runKind) check(*File, *problems, string, FileProbe, map[string]bool) {}

func (runKind) once(ctx context.Context, r run, node string, p FileProbe, v probeText) (exercise.Evidence, string, int, error) {
	return r.command(ctx, node, v.in, v.run)
}

// command runs cmd in container in on node, on node, or on the host.
func (r run) command(ctx context.Context, node, in, cmd string) (exercise.Evidence, string, int, error) {
	var ev exercise.Evidence
	var o exercise.Output
	var err error
	switch {
	case in != "":
		ev = exercise.Evidence{Node: node, Where: "container " + in, Command: cmd}
		o, err = r.Exec(ctx, node, in, argvOf(cmd)...)
	case node == "":
		ev = exercise.Evidence{Node: "host", Where: "host", Command: cmd}
		o, err = r.Env.Host.Sh(ctx, cmd)
	default:
		ev = exercise.Evidence{Node: node, Where: "node", Command: cmd}
		o, err = r.Node(node).Sh(ctx, cmd)
	}
	ev.Output, ev.Exit = o.Text(), o.Exit
	return ev, o.Stdout, o.Exit, err
}
