package labfile

import (
	"context"
	"strings"

	"github.com/labctl/labctl/exercise"
)

// A probe kind is one of the ways a lab file's probe finds something out:
// run, ping, http, logs, packets. Each is a type in its own file
// (probe_KIND.go) with its field in FileProbe; probeKinds is the one list
// of them, which validation, the error messages and the probe's run read.
type probeKind interface {
	// key is the kind's field in a lab file.
	key() string
	// of tells whether probe p is of this kind.
	of(p FileProbe) bool
	// check adds the kind's own problems with p at path.
	check(f *File, ps *problems, path string, p FileProbe, known map[string]bool)
	// once runs p on node (where "" is the host), with its values
	// expanded, and returns the evidence and the output to judge.
	once(ctx context.Context, r run, node string, p FileProbe, v probeText) (ev exercise.Evidence, judged string, exit int, err error)
}

// probeKinds are the kinds, in the order messages list them.
var probeKinds = []probeKind{runKind{}, pingKind{}, httpKind{}, logsKind{}, packetsKind{}}

// kindsOf are the kinds a probe names (one, when it is valid).
func kindsOf(p FileProbe) []probeKind {
	var out []probeKind
	for _, k := range probeKinds {
		if k.of(p) {
			out = append(out, k)
		}
	}
	return out
}

// kindKeys lists the kinds' keys: "run, ping, http, logs, packets".
func kindKeys(except ...string) string {
	var keys []string
	for _, k := range probeKinds {
		skip := false
		for _, e := range except {
			skip = skip || k.key() == e
		}
		if !skip {
			keys = append(keys, k.key())
		}
	}
	if len(except) > 0 && len(keys) > 1 {
		return strings.Join(keys[:len(keys)-1], ", ") + " or " + keys[len(keys)-1]
	}
	return strings.Join(keys, ", ")
}

// probeText is a probe's strings with their ${...} values expanded.
type probeText struct {
	in, run, ping, http, logs, contains, note string
}
