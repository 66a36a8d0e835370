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
	"github.com/labctl/labctl/transport"
)

// ErrNoContainer is a probe in a container that is not there (or not
// running): in check-only mode, what a student has not created yet.
var ErrNoContainer = errors.New("no such container")

// fileProbe runs one probe (retrying as asked) and judges its output.
func (r run) fileProbe(ctx context.Context, p FileProbe) (bool, exercise.Evidence, error) {
	node, err := r.where(p.On)
	if err != nil {
		return false, exercise.Evidence{}, err
	}
	var vals [7]string
	var errs [7]error
	for i, s := range []string{p.In, p.Run, p.Ping, p.HTTP, p.Logs, p.Contains, p.Note} {
		vals[i], errs[i] = r.x(s)
	}
	if err := errors.Join(errs[:]...); err != nil {
		return false, exercise.Evidence{}, err
	}
	in, run, ping, url, logs, contains, noteText := vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], vals[6]
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
	if in != "" || logs != "" {
		ctr := in
		if ctr == "" {
			ctr = logs
		}
		if err := r.needContainer(ctx, node, ctr, logs == ""); err != nil {
			return false, exercise.Evidence{Node: node, Where: "container " + ctr}, err
		}
	}
	if p.Packets != nil {
		return r.filePackets(ctx, node, p, contains, all, re, noteText)
	}
	tries := max(p.Retry, 1)
	var ok bool
	var ev exercise.Evidence
	for i := 0; i < tries; i++ {
		var o exercise.Output
		switch {
		case url != "":
			ev = exercise.Evidence{Node: "host", Where: "host", Command: "GET " + url}
			out, err := r.Env.Host.HTTPGet(ctx, url)
			if err != nil {
				o = exercise.Output{Stdout: err.Error(), Exit: 1}
			} else {
				o = out
			}
		case logs != "":
			ev = exercise.Evidence{Node: node, Where: "container " + logs, Command: "docker logs " + logs}
			o, err = r.Node(node).Sh(ctx, "docker logs "+transport.Quote(logs)+" 2>&1")
		default:
			cmd := run
			if ping != "" {
				cmd = "ping -c 2 -W 2 " + ping
			}
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
		}
		if err != nil {
			return false, ev, err
		}
		ev.Output, ev.Exit = o.Text(), o.Exit
		out := strings.TrimSpace(o.Stdout)
		ok = o.Exit == 0 && (contains == "" || strings.Contains(o.Stdout, contains)) && (re == nil || re.MatchString(out))
		for _, s := range all {
			ok = ok && strings.Contains(o.Stdout, s)
		}
		if ok || i+1 == tries || exercise.Sleep(ctx, time.Second) != nil {
			break
		}
	}
	if p.Capture != "" {
		r.Set(p.Capture, strings.TrimSpace(strings.Split(ev.Output, "\n")[0]))
	}
	ev.Note = noteText
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

// filePackets is a packets probe: the capture's decoded lines are its
// output, judged like any probe's; the traffic probe's evidence is kept
// apart (its outcome does not decide the check).
func (r run) filePackets(ctx context.Context, node string, p FileProbe, contains string, all []string, re *regexp.Regexp, noteText string) (bool, exercise.Evidence, error) {
	iface, err1 := r.x(p.Packets.Iface)
	filter, err2 := r.x(p.Packets.Filter)
	if err := errors.Join(err1, err2); err != nil {
		return false, exercise.Evidence{}, err
	}
	ev, err := r.Packets(ctx, node, iface, filter, p.Packets.Count, func() error {
		_, tev, err := r.fileProbe(ctx, *p.Packets.While)
		r.Show(tev.Command, tev.Output)
		return err
	})
	if err != nil {
		return false, ev, err
	}
	out := strings.Join(exercise.DecodedLines(ev.Output), "\n")
	ok := ev.Exit == 0 && out != "" && (contains == "" || strings.Contains(out, contains)) && (re == nil || re.MatchString(out))
	for _, s := range all {
		ok = ok && strings.Contains(out, s)
	}
	ev.Note = noteText
	return ok, ev, nil
}
