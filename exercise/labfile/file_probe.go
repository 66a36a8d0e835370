// Probes of lab files: what a check runs, and how its output is judged.

package labfile

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/labctl/labctl/exercise"
)

// DefaultProbeTimeout bounds one try of a probe that sets no timeout.
const DefaultProbeTimeout = time.Minute

// ErrNoContainer is a probe in a container that is not there (or not
// running): in check-only mode, what a student has not created yet.
var ErrNoContainer = errors.New("no such container")

// fileProbe runs one probe (retrying as asked) and judges its output.
func (r run) fileProbe(ctx context.Context, p FileProbe) (bool, exercise.Evidence, error) {
	kinds := kindsOf(p)
	if len(kinds) != 1 { // validation refuses it
		return false, exercise.Evidence{}, fmt.Errorf("a probe is exactly one of %s", kindKeys())
	}
	node, err := r.where(p.On)
	if err != nil {
		return false, exercise.Evidence{}, err
	}
	var v probeText
	var errs [7]error
	for i, f := range []struct {
		dst *string
		src string
	}{{&v.in, p.In}, {&v.run, p.Run}, {&v.ping, p.Ping}, {&v.http, p.HTTP}, {&v.logs, p.Logs}, {&v.contains, p.Contains}, {&v.note, p.Note}} {
		*f.dst, errs[i] = r.x(f.src)
	}
	if err := errors.Join(errs[:]...); err != nil {
		return false, exercise.Evidence{}, err
	}
	var all []string
	for _, s := range p.ContainsAll {
		v, err := r.x(s)
		if err != nil {
			return false, exercise.Evidence{}, err
		}
		all = append(all, v)
	}
	var re *regexp.Regexp
	if p.Match != "" {
		pat, err := r.expand(p.Match, regexp.QuoteMeta)
		if err != nil {
			return false, exercise.Evidence{}, err
		}
		if re, err = regexp.Compile(pat); err != nil {
			return false, exercise.Evidence{}, fmt.Errorf("match: %w", err)
		}
	}
	if v.in != "" || v.logs != "" {
		ctr := v.in
		if ctr == "" {
			ctr = v.logs
		}
		if err := r.needContainer(ctx, node, ctr, v.logs == ""); err != nil {
			return false, exercise.Evidence{Node: node, Where: "container " + ctr}, err
		}
	}
	tries := max(p.Retry, 1)
	limit := DefaultProbeTimeout
	if p.Timeout > 0 {
		limit = time.Duration(p.Timeout) * time.Second
	}
	var ok bool
	var ev exercise.Evidence
	for i := 0; i < tries; i++ {
		var out string
		var exit int
		pctx, cancel := context.WithTimeout(ctx, limit)
		ev, out, exit, err = kinds[0].once(pctx, r, node, p, v)
		timedOut := ctx.Err() == nil && errors.Is(pctx.Err(), context.DeadlineExceeded)
		cancel()
		if timedOut {
			return false, ev, fmt.Errorf("timed out: the probe did not finish within %s (a command that never ends?)", limit)
		}
		if err != nil {
			return false, ev, err
		}
		ok = exit == 0 && (v.contains == "" || strings.Contains(out, v.contains)) && (re == nil || re.MatchString(strings.TrimSpace(out)))
		for _, s := range all {
			ok = ok && strings.Contains(out, s)
		}
		if ok || i+1 == tries || exercise.Sleep(ctx, time.Second) != nil {
			break
		}
	}
	if p.Capture != "" {
		if err := r.keep(p.Capture, strings.Split(ev.Output, "\n")[0]); err != nil {
			return false, ev, err
		}
	}
	ev.Note = v.note
	return ok, ev, nil
}

// needContainer says plainly when a container a probe needs is missing or
// stopped, instead of Docker's raw error.
func (r run) needContainer(ctx context.Context, node, ctr string, running bool) error {
	c, err := r.Node(node).Docker().ContainerInspect(ctx, ctr)
	switch {
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: no container named %s on %s", ErrNoContainer, ctr, node)
	case err != nil:
		return nil // let the probe say what is wrong
	case running && c.State != nil && !c.State.Running:
		return fmt.Errorf("%w: container %s on %s is not running (%s)", ErrNoContainer, ctr, node, c.State.Status)
	}
	return nil
}

// argvOf splits a simple command into words; anything the shell would
// have to read (quotes, pipes, redirections, variables) runs under sh -c.
func argvOf(cmd string) []string {
	if strings.ContainsAny(cmd, "'\"|&;<>$`\\*?(){}[]~#") {
		return []string{"sh", "-c", cmd}
	}
	return strings.Fields(cmd)
}
