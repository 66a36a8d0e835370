package labs

import (
	"context"
	"fmt"
	"strings"
)

func trim(o Output) string {
	s := strings.TrimSpace(o.Stdout)
	if e := strings.TrimSpace(o.Stderr); e != "" {
		if s != "" {
			s += "\n"
		}
		s += e
	}
	if len(s) > 2000 {
		s = s[:2000] + "\n..."
	}
	return s
}

// InContainer runs argv in a container; ok is exit status 0 (and, when
// contains is not empty, stdout containing it).
func (r *Run) InContainer(ctx context.Context, node, ctr, contains string, argv ...string) (bool, Evidence, error) {
	o, err := r.Exec(ctx, node, ctr, argv...)
	ev := Evidence{Node: node, Where: "container " + ctr, Command: strings.Join(argv, " ")}
	if err != nil {
		return false, ev, err
	}
	ev.Output, ev.Exit = trim(o), o.Exit
	ok := o.Exit == 0 && (contains == "" || strings.Contains(o.Stdout, contains))
	return ok, ev, nil
}

// Ping pings target from a container: ok when it answers.
func (r *Run) Ping(ctx context.Context, node, ctr, target string) (bool, Evidence, error) {
	return r.InContainer(ctx, node, ctr, "", "ping", "-c", "2", "-W", "2", target)
}

// OnNode runs cmd on a node; ok is exit status 0 (and stdout containing
// contains, when given).
func (r *Run) OnNode(ctx context.Context, node, cmd, contains string) (bool, Evidence, error) {
	o, err := r.Node(node).Sh(ctx, cmd)
	ev := Evidence{Node: node, Where: "node", Command: cmd}
	if err != nil {
		return false, ev, err
	}
	ev.Output, ev.Exit = trim(o), o.Exit
	return o.Exit == 0 && (contains == "" || strings.Contains(o.Stdout, contains)), ev, nil
}

// FromHost fetches url from the machine labctl runs on; ok when the page
// contains contains.
func (r *Run) FromHost(ctx context.Context, url, contains string) (bool, Evidence, error) {
	o, err := r.Env.Host.HTTPGet(ctx, url)
	ev := Evidence{Node: "host", Where: "host", Command: "GET " + url}
	if err != nil {
		ev.Output, ev.Exit = err.Error(), 1
		return false, ev, nil
	}
	ev.Output, ev.Exit = trim(o), o.Exit
	return o.Exit == 0 && strings.Contains(o.Stdout, contains), ev, nil
}

// one adapts a single probe to a check's result.
func one(ok bool, ev Evidence, err error) (bool, []Evidence, error) {
	return ok, []Evidence{ev}, err
}

// all runs probes and succeeds when all succeed.
func all(evs ...func() (bool, Evidence, error)) (bool, []Evidence, error) {
	okAll := true
	var out []Evidence
	for _, p := range evs {
		ok, ev, err := p()
		out = append(out, ev)
		if err != nil {
			return false, out, err
		}
		okAll = okAll && ok
	}
	return okAll, out, nil
}

func note(ev Evidence, format string, a ...any) Evidence {
	ev.Note = fmt.Sprintf(format, a...)
	return ev
}
