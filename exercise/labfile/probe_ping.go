package labfile

import (
	"context"

	"github.com/labctl/labctl/exercise"
)

// pingKind pings an address or name: ping -c 2 -W 2, where a run would
// run.
type pingKind struct{}

func (pingKind) key() string                                                { return "ping" }
func (pingKind) of(p FileProbe) bool                                        { return p.Ping != "" }
func (pingKind) check(*File, *problems, string, FileProbe, map[string]bool) {}

func (pingKind) once(ctx context.Context, r run, node string, p FileProbe, v probeText) (exercise.Evidence, string, int, error) {
	return r.command(ctx, node, v.in, "ping -c 2 -W 2 "+v.ping)
}
