package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/network"
	"github.com/labctl/labctl/state"
	"github.com/labctl/labctl/vm"
)

// labSession is what commands that act on a lab hold: its plan, its locked
// state directory and, when needed, the libvirt connection and image cache.
type labSession struct {
	g     *globals
	plan  *network.Plan
	dir   *state.Dir
	lock  *state.Lock
	st    state.State
	conn  *vm.Conn
	cache *images.Cache
	mu    sync.Mutex
	// recordTopology: save the topology file's hash (up only).
	recordTopology bool
}

// openLab loads the plan, opens and locks the lab's state directory.
func (g *globals) openLab(command string) (*labSession, error) {
	_, p, err := g.loadPlan()
	if err != nil {
		return nil, err
	}
	root, err := state.Root()
	if err != nil {
		return nil, err
	}
	d, err := state.Open(root, g.lab)
	if err != nil {
		return nil, err
	}
	l, err := d.Lock(command)
	if err != nil {
		return nil, err
	}
	s := &labSession{g: g, plan: p, dir: d, lock: l}
	if err := d.Load(&s.st); err != nil && !errors.Is(err, state.ErrNoState) {
		l.Unlock()
		return nil, err
	}
	if s.st.Lab == "" {
		s.st = state.State{Lab: g.lab, CreatedAt: time.Now().UTC()}
	}
	return s, nil
}

func (s *labSession) connect(ctx context.Context) error {
	c, err := vm.Connect(ctx, s.plan.Libvirt.URI)
	if err != nil {
		return err
	}
	s.conn = c
	return nil
}

func (s *labSession) openCache() error {
	dir, err := images.DefaultCacheDir()
	if err != nil {
		return err
	}
	s.cache, err = images.OpenCache(dir)
	return err
}

func (s *labSession) keys() keys.Lab { return keys.Lab{Dir: s.dir.Path, Lab: s.plan.Lab} }

// recordPhase keeps a timed phase in the state (safe from any goroutine).
func (s *labSession) recordPhase(name, node string, start time.Time, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := state.Phase{Name: name, Node: node, Started: start.UTC(), Duration: d}
	if err != nil {
		p.Error = err.Error()
	}
	s.st.Phases = append(s.st.Phases, p)
}

func (s *labSession) save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.UpdatedAt = time.Now().UTC()
	s.st.Topology = ""
	if s.g.file != "" {
		// absolute: later commands may run from another directory
		abs, err := filepath.Abs(s.g.file)
		if err != nil {
			return err
		}
		s.st.Topology = abs
	}
	if s.recordTopology {
		s.st.TopologySHA256 = s.g.topologySHA256
	}
	return s.dir.Save(s.st)
}

func (s *labSession) close() {
	if s.conn != nil {
		s.conn.Close()
	}
	s.lock.Unlock()
}

// event is one line of `--output json` progress on stdout.
type event struct {
	Type    string    `json:"type"` // "event"
	Time    time.Time `json:"time"`
	Node    string    `json:"node,omitempty"`
	Message string    `json:"message"`
}

// progress reports per-node progress: JSON lines on stdout with --output
// json; for a person on a terminal (or with -v), lines on stderr;
// otherwise nothing.
func (s *labSession) progress(node, msg string) {
	if s.g.output == "json" {
		s.mu.Lock()
		defer s.mu.Unlock()
		enc := json.NewEncoder(s.g.stdout)
		enc.Encode(event{Type: "event", Time: time.Now().UTC(), Node: node, Message: msg})
		return
	}
	if !isTerminal(s.g.stderr) && s.g.verbose == 0 {
		return
	}
	if node == "" {
		fmt.Fprintf(s.g.stderr, "%s  %s\n", time.Now().Format("15:04:05"), msg)
		return
	}
	fmt.Fprintf(s.g.stderr, "%s  %-8s %s\n", time.Now().Format("15:04:05"), node, msg)
}

// preflight compares the plan with this host and libvirt's networks.
func (s *labSession) preflight(ctx context.Context) error {
	h, err := network.ReadHost()
	if err != nil {
		return err
	}
	if s.conn != nil {
		if h.Libvirt, err = vm.ExistingNetworks(ctx, s.conn); err != nil {
			return err
		}
	}
	if clashes := network.Preflight(s.plan, h); len(clashes) > 0 {
		return network.ClashError(clashes)
	}
	if s.conn != nil && s.conn.Local() {
		if w := vm.KVMDeviceWarning(vm.KVMDevice); w != "" {
			s.g.log.Warn(w)
		}
	}
	return nil
}
