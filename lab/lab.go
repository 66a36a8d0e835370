// Package lab is labctl as a library: a lab is the set of VMs, networks,
// keys and state brought up from one topology under one name. Open it
// once - by name and topology file, the one way every command, the
// benchmark (package bench) and the tests use - and then Up, Down,
// Status, Nodes or RunLabs. The exercises a lab runs are package exercise
// and those below it; cmd/labctl only parses flags and renders what these
// calls return.
package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/vm"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/state"
	"github.com/labctl/labctl/topology"
)

// Options say which lab to open and how.
type Options struct {
	Name string // the lab's name (--lab)
	// File is the topology file. "" means the file the lab was last
	// brought up from (recorded in its state), else the built-in
	// topology.
	File string
	// Topology, when set, is used instead of reading File (a topology
	// made in memory, such as the benchmark's one-node variant).
	Topology *topology.Topology
	// Lock, when set, is the command that holds the lab's lock while the
	// lab is open ("labctl up"); commands that change the lab must lock
	// it. Without it the lab opens for reading keys and reaching nodes,
	// beside a running `up`.
	Lock string
	// AllowChangedTopology lets a command use a topology file that
	// changed since the lab's up: up applies it, down removes everything
	// by name anyway, plan only shows it. Every other command refuses it
	// rather than mix old nodes with a new plan.
	AllowChangedTopology bool
	// Inventory is a hosts file: the labs then run on those hosts
	// instead of labctl's VMs.
	Inventory string
	// Progress gets per-node progress for a person or a program; nil
	// drops it.
	Progress func(node, msg string)
	// Log gets warnings and, at debug level, every libvirt call and
	// remote command with its duration; nil drops it.
	Log *slog.Logger
	// FirstContact is told when an inventory host's or a hypervisor's
	// key is trusted on first use (and pinned).
	FirstContact func(node, fingerprint, pinFile string)
	// OpenHypervisor connects to one of the lab's hypervisors; nil is
	// package hypervisor with labctl's pins (HypervisorPins). Tests give
	// fakes.
	OpenHypervisor func(context.Context, plan.Hypervisor) (Hypervisor, error)
	// ConnectNodes connects to the nodes of a plan for the labs (Nodes):
	// the lab's, up, or an inventory's hosts; nil is SSH (the lab's keys,
	// or the inventory's with pinned host keys). Tests give fakes.
	ConnectNodes func(context.Context, *plan.Plan) (*exercise.Env, func(), error)
}

// Lab is an open lab.
type Lab struct {
	Name     string
	Plan     *plan.Plan
	Topology *topology.Topology
	// File is the topology file in use, absolute; "" for the built-in
	// topology.
	File string

	o     Options
	sha   string // SHA-256 of File's content
	dir   *state.Dir
	lock  *state.Lock
	mu    sync.Mutex
	st    state.State
	parts []*part // the lab on each hypervisor (openParts)
	cache *images.Cache
}

// Open loads the lab's topology and plan and opens its state directory,
// locked when o.Lock is set.
func Open(o Options) (*Lab, error) {
	if o.Progress == nil {
		o.Progress = func(string, string) {}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if err := topology.ValidateLabName(o.Name); err != nil {
		return nil, err
	}
	l := &Lab{Name: o.Name, o: o}
	if err := l.loadPlan(); err != nil {
		return nil, err
	}
	root, err := state.Root()
	if err != nil {
		return nil, err
	}
	if l.dir, err = state.Open(root, o.Name); err != nil {
		return nil, err
	}
	if o.Lock != "" {
		if l.lock, err = l.dir.Lock(o.Lock); err != nil {
			return nil, err
		}
	}
	if err := l.dir.Load(&l.st); err != nil && !errors.Is(err, state.ErrNoState) {
		l.Close()
		return nil, err
	}
	if l.st.Lab == "" {
		l.st = state.State{Lab: o.Name, CreatedAt: time.Now().UTC()}
	}
	return l, nil
}

// LoadPlan reads the topology and computes the plan, without opening the
// lab's state (for plan and validate).
func LoadPlan(o Options) (*topology.Topology, *plan.Plan, error) {
	l := &Lab{Name: o.Name, o: o}
	if err := l.loadPlan(); err != nil {
		return nil, nil, err
	}
	return l.Topology, l.Plan, nil
}

// Close closes the libvirt connection and releases the lock.
func (l *Lab) Close() {
	closeParts(l.parts)
	l.parts = nil
	if l.lock != nil {
		l.lock.Unlock()
		l.lock = nil
	}
}

// Dir is the lab's state directory (keys, ssh config, console logs).
func (l *Lab) Dir() string { return l.dir.Path }

// Keys are the lab's SSH keys.
func (l *Lab) Keys() keys.Lab { return keys.Lab{Dir: l.dir.Path, Lab: l.Plan.Lab} }

// State is what the lab recorded (phases of its last up and runs).
func (l *Lab) State() state.State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

// loadPlan reads the topology - Options.Topology, the file, the file of
// the lab's last up, or the built-in one - validates it and computes the
// plan.
func (l *Lab) loadPlan() error {
	var t *topology.Topology
	var err error
	switch {
	case l.o.Topology != nil:
		t = l.o.Topology
	default:
		file, ferr := l.topologyFile()
		if ferr != nil {
			return ferr
		}
		if file == "" {
			t, err = topology.Load("")
			break
		}
		data, rerr := os.ReadFile(file)
		if rerr != nil {
			return fmt.Errorf("read topology: %w", rerr)
		}
		sum := sha256.Sum256(data)
		l.sha = hex.EncodeToString(sum[:])
		if l.File, err = filepath.Abs(file); err != nil {
			return err
		}
		if err := l.checkUnchanged(file); err != nil {
			return err
		}
		t, err = topology.LoadData(file, data)
	}
	if err != nil {
		return err
	}
	p, err := plan.New(l.Name, t)
	if err != nil {
		return err
	}
	l.Topology, l.Plan = t, p
	return nil
}

// topologyFile is Options.File, or else the file the lab was last brought
// up from, so that 'labctl up -f lab.yaml' followed by 'labctl lab run
// all' acts on the same nodes. "" is the built-in default.
func (l *Lab) topologyFile() (string, error) {
	if l.o.File != "" {
		return l.o.File, nil
	}
	root, err := state.Root()
	if err != nil {
		return "", nil
	}
	st, err := state.Recorded(root, l.Name)
	if err != nil || st.Topology == "" {
		return "", nil
	}
	if _, err := os.Stat(st.Topology); err != nil {
		return "", fmt.Errorf("lab %s was brought up from %s, which cannot be read now (%v): pass --file with its new place", l.Name, st.Topology, err)
	}
	l.o.Log.Debug("topology from the lab's last up (--file overrides)", "lab", l.Name, "file", st.Topology)
	return st.Topology, nil
}

// checkUnchanged refuses a topology file whose content changed since the
// lab's up: the nodes were made from the old content, and acting on them
// with the new one would mix the two (addresses, NIC names, VLANs that do
// not exist). 'labctl up' applies the change.
func (l *Lab) checkUnchanged(file string) error {
	if l.o.AllowChangedTopology {
		return nil
	}
	root, err := state.Root()
	if err != nil {
		return nil
	}
	st, err := state.Recorded(root, l.Name)
	if err != nil || st.TopologySHA256 == "" || st.TopologySHA256 == l.sha || l.File != st.Topology {
		return nil // never recorded, unchanged, or another file: the user's explicit choice
	}
	return fmt.Errorf("%s changed since lab %s was brought up from it (at %s): its nodes were made from the old content; run 'labctl up --lab %s' to apply the change, or restore the file",
		file, l.Name, st.UpdatedAt.Format(time.RFC3339), l.Name)
}

// recordPhase keeps a timed phase in the state (safe from any goroutine).
func (l *Lab) recordPhase(name, node string, start time.Time, d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := state.Phase{Name: name, Node: node, Started: start.UTC(), Duration: d}
	if err != nil {
		p.Error = err.Error()
	}
	l.st.Phases = append(l.st.Phases, p)
}

// save writes the state; up also records the topology file's hash.
func (l *Lab) save(recordTopology bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.st.UpdatedAt = time.Now().UTC()
	l.st.Topology = l.File
	if recordTopology {
		l.st.TopologySHA256 = l.sha
	}
	return l.dir.Save(l.st)
}

// openCache opens the image cache (once).
func (l *Lab) openCache() error {
	if l.cache != nil {
		return nil
	}
	dir, err := images.DefaultCacheDir()
	if err != nil {
		return err
	}
	l.cache, err = images.OpenCache(dir)
	return err
}

// RequireUp says at once that a lab was never brought up (or was taken
// down): without it, connecting would retry SSH to absent nodes for a
// minute or more before saying so.
func (l *Lab) RequireUp() error { return l.requireUp() }

func (l *Lab) requireUp() error {
	var st state.State
	err := l.dir.Load(&st)
	if errors.Is(err, state.ErrNoState) {
		return fmt.Errorf("lab %s is not up (no state in %s: never brought up, or taken down): run 'labctl up --lab %s' first", l.Name, l.dir.Path, l.Name)
	}
	return err
}

// Cache is the image cache the lab's images come from.
func (l *Lab) Cache() (*images.Cache, error) {
	if err := l.openCache(); err != nil {
		return nil, err
	}
	return l.cache, nil
}

// GatewayVMs is the VM manager of the lab's share on its gateway
// hypervisor: what the benchmark puts images into the lab's pool with
// (Base, as Up does) and removes another tool's volumes from it with
// (DeleteVolumes).
func (l *Lab) GatewayVMs(ctx context.Context) (*vm.Manager, error) {
	if err := l.openCache(); err != nil {
		return nil, err
	}
	parts, err := l.openParts(ctx, true)
	if err != nil {
		return nil, err
	}
	return vm.NewManager(parts[0].conn, parts[0].Part, vm.Options{Cache: l.cache, Progress: l.o.Progress}), nil
}
