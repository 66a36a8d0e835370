package labfile

import (
	"context"

	"github.com/labctl/labctl/exercise"
)

// httpKind fetches a URL from the host labctl runs on.
type httpKind struct{}

func (httpKind) key() string         { return "http" }
func (httpKind) of(p FileProbe) bool { return p.HTTP != "" }

func (httpKind) check(f *File, ps *problems, path string, p FileProbe, known map[string]bool) {
	if p.On != "" && p.On != "host" || p.In != "" {
		ps.add(path+".http", "http fetches from the host: leave on and in out")
	}
}

func (httpKind) once(ctx context.Context, r run, node string, p FileProbe, v probeText) (exercise.Evidence, string, int, error) {
	ev := exercise.Evidence{Node: "host", Where: "host", Command: "GET " + v.http}
	o, err := r.Env.Host.HTTPGet(ctx, v.http)
	if err != nil {
		o = exercise.Output{Stdout: err.Error(), Exit: 1}
	}
	ev.Output, ev.Exit = o.Text(), o.Exit
	return ev, o.Stdout, o.Exit, nil
}
