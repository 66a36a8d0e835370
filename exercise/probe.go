// Probes: what a check runs to find out whether something works, each
// giving evidence (where it ran, the command, its output and exit). One
// file per kind: probe_container.go (in a container, ping), probe_node.go
// (a shell command on a node), probe_http.go (from the host),
// probe_packets.go (a capture while another probe sends traffic).

package exercise

import (
	"fmt"
	"strings"
)

// Text is the output as evidence shows it: stdout then stderr, trimmed,
// cut after 2000 bytes.
func (o Output) Text() string {
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

// One adapts a single probe to a check's result.
func One(ok bool, ev Evidence, err error) (bool, []Evidence, error) {
	return ok, []Evidence{ev}, err
}

// All runs probes and succeeds when all succeed.
func All(evs ...func() (bool, Evidence, error)) (bool, []Evidence, error) {
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

// Note sets the evidence's note: what its output shows.
func Note(ev Evidence, format string, a ...any) Evidence {
	ev.Note = fmt.Sprintf(format, a...)
	return ev
}
