package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/labctl/labctl/internal/termtext"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/topology"
)

// openLab opens the lab the flags name. lock is the command that holds the
// lab's lock ("" for commands that only read keys or reach nodes);
// allowChanged lets a command use a topology file changed since the lab's
// up (up, down and plan).
func (g *globals) openLab(lock string, allowChanged bool) (*lab.Lab, error) {
	return lab.Open(g.labOptions(lock, allowChanged))
}

// labOptions are the lab.Options the flags give.
func (g *globals) labOptions(lock string, allowChanged bool) lab.Options {
	return lab.Options{
		Name: g.lab, File: g.file, Lock: lock, AllowChangedTopology: allowChanged,
		Inventory: g.inventory, Progress: g.progress, Log: g.log, OpenHypervisor: g.openHypervisor, ConnectNodes: g.connectNodes,
		FirstContact: func(node, fp, pinFile string) {
			msg := fmt.Sprintf("%s: first contact, trusting host key %s (pinned in %s)", node, fp, pinFile)
			if lv := g.liveNow(); lv != nil {
				lv.progress("", msg)
				return
			}
			fmt.Fprintln(g.stderr, msg)
		},
	}
}

// withTopology is o with an in-memory topology instead of the file.
func withTopology(o lab.Options, t *topology.Topology) lab.Options {
	o.Topology = t
	return o
}

// event is one line of `--output json` progress on stdout.
type event struct {
	Type    string    `json:"type"` // "event"
	Time    time.Time `json:"time"`
	Node    string    `json:"node,omitempty"`
	Message string    `json:"message"`
}

// progress reports per-node progress: JSON lines on stdout with --output
// json; otherwise timestamped lines on stderr, always - on a terminal, in
// a pipe ('labctl up 2>&1 | tee up.log'), in CI - and plain (no escape
// codes; what they quote from a node goes through termtext).
// startLive redraws progress in place from now, a line per name, when
// stderr is a terminal (liveOK); ready tells the message that ends a
// name's work.
func (g *globals) startLive(what string, names []string, ready func(string) bool) {
	if !g.liveOK() {
		return
	}
	g.progressMu.Lock()
	defer g.progressMu.Unlock()
	g.live = newLive(g.stderr, what, names, ready)
}

// stopLive ends the redraw and prints its summary ("3/3 nodes ready in
// 58 s").
func (g *globals) stopLive() {
	g.progressMu.Lock()
	lv := g.live
	g.live = nil
	g.progressMu.Unlock()
	if lv != nil {
		fmt.Fprintln(g.stderr, lv.finish())
	}
}

func (g *globals) liveNow() *live {
	g.progressMu.Lock()
	defer g.progressMu.Unlock()
	return g.live
}

// dockerReady is the message that ends a node's up; with --no-provision
// its SSH answering does.
func dockerReady(noProvision bool) func(string) bool {
	if noProvision {
		return func(m string) bool { return strings.HasPrefix(m, "SSH port open") }
	}
	return func(m string) bool { return strings.HasPrefix(m, "Docker ") && strings.Contains(m, " ready") }
}

func (g *globals) progress(node, msg string) {
	g.progressMu.Lock()
	defer g.progressMu.Unlock()
	if g.output == "json" {
		g.writeJSONLine(event{Type: "event", Time: time.Now().UTC(), Node: node, Message: msg})
		return
	}
	if g.live != nil {
		g.live.progress(node, msg)
		return
	}
	msg = termtext.Clean(msg)
	if node == "" {
		fmt.Fprintf(g.stderr, "%s  %s\n", time.Now().Format("15:04:05"), msg)
		return
	}
	fmt.Fprintf(g.stderr, "%s  %-8s %s\n", time.Now().Format("15:04:05"), node, msg)
}
