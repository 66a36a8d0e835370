package labfile

import (
	"context"
	"errors"
	"strings"

	"github.com/labctl/labctl/exercise"
)

// packetsKind captures packets on a node's interface while another probe
// (while:) sends the traffic: the capture's decoded lines are judged like
// any probe's output, and must not be empty; the traffic probe's evidence
// is shown apart (its outcome does not decide the check).
type packetsKind struct{}

func (packetsKind) key() string         { return "packets" }
func (packetsKind) of(p FileProbe) bool { return p.Packets != nil }

func (packetsKind) check(f *File, ps *problems, path string, p FileProbe, known map[string]bool) {
	pk := p.Packets
	if pk.Iface == "" || pk.Filter == "" {
		ps.add(path+".packets", "iface and filter are needed")
	}
	if pk.Count < 0 || pk.Count > 100 {
		ps.add(path+".packets.count", "%d: 1 to 100 packets", pk.Count)
	}
	if p.In != "" || p.On == "host" {
		ps.add(path+".packets", "a capture runs on a node: leave in out, on: a node")
	}
	if pk.While == nil {
		ps.add(path+".packets.while", "missing: the probe that sends the traffic")
	} else {
		if pk.While.Packets != nil {
			ps.add(path+".packets.while", "the traffic is a %s probe, not another capture", kindKeys("packets"))
		}
		f.checkProbe(ps, path+".packets.while", *pk.While, known)
	}
	f.checkFields(ps, path+".packets", known, map[string]string{"iface": pk.Iface, "filter": pk.Filter})
}

func (packetsKind) once(ctx context.Context, r run, node string, p FileProbe, v probeText) (exercise.Evidence, string, int, error) {
	iface, err1 := r.x(p.Packets.Iface)
	filter, err2 := r.x(p.Packets.Filter)
	if err := errors.Join(err1, err2); err != nil {
		return exercise.Evidence{}, "", 0, err
	}
	ev, err := r.Packets(ctx, node, iface, filter, p.Packets.Count, func() error {
		_, tev, err := r.fileProbe(ctx, *p.Packets.While)
		r.Show(tev.Command, tev.Output)
		return err
	})
	out := strings.Join(exercise.DecodedLines(ev.Output), "\n")
	if err == nil && out == "" {
		return ev, out, 1, nil // nothing captured: the probe fails
	}
	return ev, out, ev.Exit, err
}
