package workshop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/hypervisor"
	"github.com/labctl/labctl/internal/atomicfile"
	"github.com/labctl/labctl/internal/fanout"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/state"
	"github.com/labctl/labctl/vm"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
)

// Record is what a workshop keeps in its directory (workshop.json): enough
// to find its seats again.
type Record struct {
	Name     string `json:"name"`
	Seats    int    `json:"seats"`
	Space    string `json:"space"`
	L3Space  string `json:"l3_space"`
	Topology string `json:"topology,omitempty"` // the file the seats came from, "" for the built-in
	// Jump is --jump as given to up (ADDRESS:PORT of the jump host on
	// this machine; with the topology's hypervisors only its port counts)
	// and Jumps the jump hosts opened, which the cards go through.
	Jump  string       `json:"jump,omitempty"`
	Jumps []JumpRecord `json:"jumps,omitempty"`
}

// Runner acts on a workshop's seats, several at once.
type Runner struct {
	Name     string
	Parallel int // seats at once (default 2)
	// SeatTimeout bounds Check on one seat (DefaultSeatTimeout when 0): a
	// seat still being checked then is marked timed out, and the other
	// seats are not held up by it.
	SeatTimeout time.Duration
	Progress    func(seat, node, msg string)
	Log         *slog.Logger
	// OpenHypervisor and ConnectNodes, when set, are the seats' labs'
	// (lab.Options): tests give in-memory hypervisors and nodes.
	OpenHypervisor func(context.Context, plan.Hypervisor) (lab.Hypervisor, error)
	ConnectNodes   func(context.Context, *plan.Plan) (*exercise.Env, func(), error)
	// OpenJumpHost, when set, reaches a hypervisor for its jump host
	// instead of package hypervisor (tests give in-memory ones).
	OpenJumpHost func(context.Context, plan.Hypervisor) (JumpHoster, error)
}

// JumpHoster is a hypervisor as its students' jump host needs it (package
// hypervisor's Host).
type JumpHoster interface {
	OpenJump(ctx context.Context, d hypervisor.JumpHost) (ssh.PublicKey, error)
	CloseJump(ctx context.Context, workshop string) (string, error)
	Close() error
}

// Dir is the workshop's directory: its record and each seat's topology.
func Dir(name string) (string, error) {
	root, err := state.Root()
	if err != nil {
		return "", err
	}
	d := filepath.Join(root, "workshops", name)
	return d, os.MkdirAll(d, 0o700)
}

// SeatFile is where seat n's topology is written: the seat's lab is
// brought up from it, so that 'labctl --lab NAME-sNN ...' finds it later.
func SeatFile(dir string, n int) string { return filepath.Join(dir, fmt.Sprintf("seat-%02d.yaml", n)) }

func (w *Runner) seatOptions(s Seat, file, lock string) lab.Options {
	return lab.Options{Name: s.Lab, File: file, Lock: lock, AllowChangedTopology: lock != "",
		Progress: func(node, msg string) {
			if w.Progress != nil {
				w.Progress(s.Lab, node, msg)
			}
		}, Log: w.Log, OpenHypervisor: w.OpenHypervisor, ConnectNodes: w.ConnectNodes}
}

func (w *Runner) parallel() int { return max(w.Parallel, 1) }

// Up writes every seat's topology and brings the seats up, Parallel at a
// time; every seat's failure is reported, and Up again carries on (also
// with more seats than before).
func (w *Runner) Up(ctx context.Context, p *Plan, rec Record, uo lab.UpOptions) error {
	for _, s := range p.Seats {
		if s.Hypervisor != "local" && len(s.Plan.Hypervisors) == 0 {
			return fmt.Errorf("seat %d is planned on %s, which --hypervisor sizes but does not say how to reach: list the hypervisors in the workshop's topology (hypervisors: with name, uri, address, cpus, memory) to bring seats up there", s.N, s.Hypervisor)
		}
	}
	dir, err := Dir(w.Name)
	if err != nil {
		return err
	}
	// Every seat is checked against this host and libvirt's networks
	// before any is created.
	var problems []error
	for _, s := range p.Seats {
		o := w.seatOptions(s, "", "")
		o.Topology = s.Topology
		l, err := lab.Open(o)
		if err == nil {
			err = l.Preflight(ctx)
			l.Close()
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", s.Lab, err))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return fmt.Errorf("nothing was created: %w", err)
	}
	for _, s := range p.Seats {
		data, err := yaml.Marshal(s.Topology)
		if err != nil {
			return err
		}
		if err := atomicfile.Write(SeatFile(dir, s.N), data, 0o600); err != nil {
			return err
		}
	}
	if old, err := LoadRecord(w.Name); err == nil {
		if old.Seats > rec.Seats {
			rec.Seats = old.Seats // fewer seats now: the others stay until down
		}
		if rec.Jump == "" || rec.Jump == old.Jump {
			rec.Jump = old.Jump // up again without --jump keeps it
		}
		rec.Jumps = old.Jumps
	}
	if err := writeRecord(dir, rec); err != nil {
		return err
	}
	// Each hypervisor brings up Parallel seats at a time, all hypervisors
	// at once.
	var hvs []string
	byHV := map[string][]Seat{}
	for _, s := range p.Seats {
		if byHV[s.Hypervisor] == nil {
			hvs = append(hvs, s.Hypervisor)
		}
		byHV[s.Hypervisor] = append(byHV[s.Hypervisor], s)
	}
	err = fanout.Each(ctx, hvs, len(hvs), func(string) string { return "" }, func(ctx context.Context, hv string) error {
		return fanout.Each(ctx, byHV[hv], w.parallel(), func(s Seat) string { return s.Lab }, func(ctx context.Context, s Seat) error {
			return w.upSeat(ctx, dir, s, uo)
		})
	})
	// The jump hosts open for every seat that has its key (those that
	// failed get in once up again made them).
	jumps, jerr := w.openJumps(ctx, rec)
	if len(jumps) > 0 {
		rec.Jumps = mergeJumps(rec.Jumps, jumps)
		jerr = errors.Join(jerr, writeRecord(dir, rec))
	}
	return errors.Join(err, jerr)
}

// mergeJumps is old with each hypervisor's entry replaced by the one of
// now, if any.
func mergeJumps(old, now []JumpRecord) []JumpRecord {
	out := append([]JumpRecord(nil), now...)
	for _, o := range old {
		if !slices.ContainsFunc(now, func(j JumpRecord) bool { return j.Hypervisor == o.Hypervisor }) {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Hypervisor < out[b].Hypervisor })
	return out
}

// upSeat brings one seat up and takes its snapshot for reset.
func (w *Runner) upSeat(ctx context.Context, dir string, s Seat, uo lab.UpOptions) error {
	l, err := lab.Open(w.seatOptions(s, SeatFile(dir, s.N), "labctl workshop up"))
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.Up(ctx, uo); err != nil || uo.NoProvision {
		return err
	}
	// The state a reset goes back to: taken once, right after the seat
	// first came up with Docker (not of bare VMs, which a reset would
	// then go back to).
	if n, err := l.Snapshot(ctx); err != nil {
		return fmt.Errorf("snapshot for reset: %w", err)
	} else if n > 0 && w.Progress != nil {
		w.Progress(s.Lab, "", fmt.Sprintf("snapshot %s taken of %d node(s), for 'workshop reset'", vm.ReadySnapshot, n))
	}
	return nil
}

func writeRecord(dir string, rec Record) error {
	data, _ := json.MarshalIndent(rec, "", "  ")
	return atomicfile.Write(filepath.Join(dir, "workshop.json"), append(data, '\n'), 0o600)
}

// JumpRecord is one hypervisor's jump host for students: where it
// listens and its host key.
type JumpRecord struct {
	Hypervisor string `json:"hypervisor"` // "" for this machine in a workshop without hypervisors
	Addr       string `json:"address"`
	HostKey    string `json:"host_key"`
}

// DefaultJumpPort is the jump hosts' port unless --jump gives one.
const DefaultJumpPort = 2222

// seatHypervisor is the hypervisor a seat's lab runs on: the one of its
// topology, or this machine ("" name, libvirt.uri).
func seatHypervisor(p *plan.Plan) plan.Hypervisor {
	if len(p.Hypervisors) == 1 {
		return p.Hypervisors[0]
	}
	return plan.Hypervisor{URI: p.Libvirt.URI}
}

// jumpAddr is where the jump host on hv listens: --jump's address on this
// machine (none: no jump host), the hypervisor's address on one of the
// topology's, each at --jump's port (DefaultJumpPort unless given).
func jumpAddr(hv plan.Hypervisor, flag string) (netip.AddrPort, bool, error) {
	port := uint16(DefaultJumpPort)
	if flag != "" {
		ap, err := netip.ParseAddrPort(flag)
		if err != nil {
			return netip.AddrPort{}, false, fmt.Errorf("the jump host's address %s: %w", flag, err)
		}
		port = ap.Port()
		if hv.Name == "" {
			return ap, true, nil
		}
	}
	if hv.Name == "" {
		return netip.AddrPort{}, false, nil
	}
	a, err := netip.ParseAddr(hv.Address)
	if err != nil {
		return netip.AddrPort{}, false, fmt.Errorf("hypervisor %s's address %s: %w", hv.Name, hv.Address, err)
	}
	return netip.AddrPortFrom(a, port), true, nil
}

// openJumps opens or updates the students' jump host on every hypervisor
// with seats (see jumpAddr), one after the other, for the recorded seats
// that have their key, and returns what the cards need of them.
func (w *Runner) openJumps(ctx context.Context, rec Record) ([]JumpRecord, error) {
	var order []string
	hvs := map[string]plan.Hypervisor{}
	jumps := map[string]*hypervisor.JumpHost{}
	for n := 1; n <= rec.Seats; n++ {
		l, err := w.open(Seat{N: n, Lab: SeatLab(w.Name, n)}, "")
		if err != nil {
			return nil, err
		}
		k := keys.Lab{Dir: l.Dir(), Lab: l.Plan.Lab}
		p := l.Plan
		l.Close()
		hv := seatHypervisor(p)
		listen, ok, err := jumpAddr(hv, rec.Jump)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		pub, err := os.ReadFile(k.UserKeyPath() + ".pub")
		if errors.Is(err, os.ErrNotExist) {
			continue // not up yet
		} else if err != nil {
			return nil, err
		}
		s := hypervisor.JumpSeat{Seat: n, Key: string(pub)}
		for _, nd := range p.Nodes {
			a, err := netip.ParseAddr(nd.Addr(plan.RoleHostOnly))
			if err != nil {
				return nil, fmt.Errorf("seat %d: node %s: %w", n, nd.Name, err)
			}
			s.Nodes = append(s.Nodes, netip.AddrPortFrom(a, 22))
		}
		j := jumps[hv.Name]
		if j == nil {
			j = &hypervisor.JumpHost{Workshop: w.Name, Listen: listen}
			jumps[hv.Name], hvs[hv.Name] = j, hv
			order = append(order, hv.Name)
		}
		j.Seats = append(j.Seats, s)
	}
	var out []JumpRecord
	var errs []error
	for _, name := range order {
		j := jumps[name]
		key, err := w.openJump(ctx, hvs[name], *j)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, JumpRecord{Hypervisor: name, Addr: j.Listen.String(), HostKey: key})
	}
	return out, errors.Join(errs...)
}

// openJump opens one hypervisor's jump host and returns its host key.
func (w *Runner) openJump(ctx context.Context, hv plan.Hypervisor, j hypervisor.JumpHost) (string, error) {
	h, err := w.openHost(ctx, hv)
	if err != nil {
		return "", err
	}
	defer h.Close()
	key, err := h.OpenJump(ctx, j)
	if err != nil {
		return "", err
	}
	if w.Progress != nil {
		w.Progress(w.Name, hv.Name, fmt.Sprintf("jump host for %d seats at %s (%s)", len(j.Seats), j.Listen, ssh.FingerprintSHA256(key)))
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))), nil
}

// openHost connects to a hypervisor as labs do (lab.OpenHost), within 20 s.
func (w *Runner) openHost(ctx context.Context, hv plan.Hypervisor) (JumpHoster, error) {
	if w.OpenJumpHost != nil {
		return w.OpenJumpHost(ctx, hv)
	}
	h, err := lab.OpenHost(ctx, hv, hypervisor.Options{Timeout: 20 * time.Second})
	if err != nil {
		return nil, err // not a nil *Host in the interface
	}
	return h, nil
}

// Reset puts seat n back to the state right after its up, from the
// snapshot taken then.
func (w *Runner) Reset(ctx context.Context, n int) error { return w.ResetTo(ctx, n, "") }

// ResetTo puts seat n back to a stage's snapshot (SnapshotStage), or to
// right after its up when stage is "".
func (w *Runner) ResetTo(ctx context.Context, n int, stage string) error {
	l, err := w.OpenSeat(n, "labctl workshop reset")
	if err != nil {
		return err
	}
	defer l.Close()
	return l.ResetTo(ctx, stage)
}

// SnapshotStage takes every seat's snapshot of a stage (Parallel seats at
// a time), replacing an earlier one of that stage: ResetTo goes back to it.
func (w *Runner) SnapshotStage(ctx context.Context, stage string) error {
	if err := vm.ValidStage(stage); err != nil {
		return err
	}
	seats, err := w.Seats()
	if err != nil {
		return err
	}
	return fanout.Each(ctx, seats, w.parallel(), func(s Seat) string { return s.Lab }, func(ctx context.Context, s Seat) error {
		l, err := w.open(s, "labctl workshop snapshot")
		if err != nil {
			return err
		}
		defer l.Close()
		return l.SnapshotStage(ctx, stage)
	})
}

// OpenSeat opens seat n's lab (with the lab's lock when lock is not "").
func (w *Runner) OpenSeat(n int, lock string) (*lab.Lab, error) {
	s, err := w.seat(n)
	if err != nil {
		return nil, err
	}
	return w.open(s, lock)
}

// seat is recorded seat n.
func (w *Runner) seat(n int) (Seat, error) {
	seats, err := w.Seats()
	if err != nil {
		return Seat{}, err
	}
	if n < 1 || n > len(seats) {
		return Seat{}, fmt.Errorf("workshop %s has seats 1 to %d", w.Name, len(seats))
	}
	return seats[n-1], nil
}

// LoadRecord reads a workshop's record.
func LoadRecord(name string) (Record, error) {
	root, err := state.Root()
	if err != nil {
		return Record{}, err
	}
	data, err := os.ReadFile(filepath.Join(root, "workshops", name, "workshop.json"))
	if err != nil {
		return Record{}, err
	}
	var r Record
	return r, json.Unmarshal(data, &r)
}

// Seats are the workshop's seats as recorded: each with its lab name and
// topology file.
func (w *Runner) Seats() ([]Seat, error) {
	rec, err := LoadRecord(w.Name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("workshop %s is not up (no record): run 'labctl --lab %s workshop up --seats N' first", w.Name, w.Name)
	}
	if err != nil {
		return nil, err
	}
	var out []Seat
	for n := 1; n <= rec.Seats; n++ {
		out = append(out, Seat{N: n, Lab: SeatLab(w.Name, n), Hypervisor: "local"})
	}
	return out, nil
}

// Cards writes the access card of every recorded seat into dir (see
// WriteCards).
func (w *Runner) Cards(dir string, o CardOptions) ([]Card, error) {
	plans, dirs, err := w.SeatPlans()
	if err != nil {
		return nil, err
	}
	rec, err := LoadRecord(w.Name)
	if err != nil {
		return nil, err
	}
	jumps := map[string]*Jump{}
	for _, j := range rec.Jumps {
		addr, err := netip.ParseAddrPort(j.Addr)
		if err != nil {
			return nil, fmt.Errorf("workshop %s: the jump host's address %s: %w", w.Name, j.Addr, err)
		}
		jumps[j.Hypervisor] = &Jump{Addr: addr, HostKey: j.HostKey}
	}
	o.Jumps = jumps
	return WriteCards(dir, w.Name, plans, func(lab string) string { return dirs[lab] }, o)
}

// SeatPlans are the recorded seats' plans, seat N's at N-1, and each
// seat's lab state directory by its lab name.
func (w *Runner) SeatPlans() ([]*plan.Plan, map[string]string, error) {
	seats, err := w.Seats()
	if err != nil {
		return nil, nil, err
	}
	var plans []*plan.Plan
	dirs := map[string]string{}
	for _, s := range seats {
		l, err := w.open(s, "")
		if err != nil {
			return nil, nil, err
		}
		plans = append(plans, l.Plan)
		dirs[s.Lab] = l.Dir()
		l.Close()
	}
	return plans, dirs, nil
}

func (w *Runner) open(s Seat, lock string) (*lab.Lab, error) {
	dir, err := Dir(w.Name)
	if err != nil {
		return nil, err
	}
	file := SeatFile(dir, s.N)
	if _, err := os.Stat(file); err != nil {
		file = "" // down without the record: names and metadata suffice
	}
	return lab.Open(w.seatOptions(s, file, lock))
}

// Down removes every seat: those recorded, and any lab named NAME-sNN that
// owns libvirt objects on a hypervisor of p (also without the record),
// then the record.
func (w *Runner) Down(ctx context.Context, p *plan.Plan) ([]string, error) {
	seats, _ := w.Seats()
	labsHere, err := lab.LabsOn(ctx, p, lab.Options{Log: w.Log, OpenHypervisor: w.OpenHypervisor})
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile("^" + regexp.QuoteMeta(w.Name) + `-s([0-9]{2,3})$`)
	have := map[int]bool{}
	for _, s := range seats {
		have[s.N] = true
	}
	for _, l := range labsHere {
		if m := re.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			if !have[n] {
				seats = append(seats, Seat{N: n, Lab: l, Hypervisor: "local"})
				have[n] = true
			}
		}
	}
	sort.Slice(seats, func(a, b int) bool { return seats[a].N < seats[b].N })
	var removed []string
	var mu sync.Mutex
	err = fanout.Each(ctx, seats, w.parallel(), func(s Seat) string { return s.Lab }, func(ctx context.Context, s Seat) error {
		l, err := w.open(s, "labctl workshop down")
		if err != nil {
			return err
		}
		defer l.Close()
		if _, err := l.Down(ctx); err != nil {
			return err
		}
		mu.Lock()
		removed = append(removed, s.Lab)
		mu.Unlock()
		return nil
	})
	sort.Strings(removed)
	if err != nil {
		return removed, err
	}
	if err := w.closeJumps(ctx, p); err != nil {
		return removed, err
	}
	dir, derr := Dir(w.Name)
	if derr == nil {
		derr = os.RemoveAll(dir)
	}
	return removed, derr
}

// closeJumps removes the workshop's jump hosts: on every hypervisor of
// p (where there is none, that does nothing), or on this machine, found by
// its directory (so also without the record).
func (w *Runner) closeJumps(ctx context.Context, p *plan.Plan) error {
	hvs := p.Hypervisors
	if len(hvs) == 0 {
		if _, err := os.Stat(hypervisor.JumpRoot + "/" + w.Name); err != nil {
			return nil
		}
		hvs = []plan.Hypervisor{{URI: p.Libvirt.URI}}
	}
	var errs []error
	for _, hv := range hvs {
		h, err := w.openHost(ctx, hv)
		if err == nil {
			var said string
			said, err = h.CloseJump(ctx, w.Name)
			h.Close()
			if said != "" && w.Progress != nil {
				w.Progress(w.Name, hv.Name, "jump host removed: "+said)
			}
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NodeStatus is one node of one seat: its VM, SSH and Docker.
type NodeStatus struct {
	Seat   int    `json:"seat"`
	Lab    string `json:"lab"`
	Node   string `json:"node"`
	VM     string `json:"vm"`
	SSH    string `json:"ssh"`
	Docker string `json:"docker"`
	Error  string `json:"error,omitempty"` // why the seat's VMs could not be asked
}

// StatusTimeout bounds asking one seat's hypervisor for its VMs.
const StatusTimeout = 45 * time.Second

// Status asks every seat's nodes: the VM's state, whether SSH answers and
// whether Docker answers (its version), each bounded.
func (w *Runner) Status(ctx context.Context) ([]NodeStatus, error) {
	seats, err := w.Seats()
	if err != nil {
		return nil, err
	}
	var out []NodeStatus
	var mu sync.Mutex
	err = fanout.Each(ctx, seats, max(w.parallel(), 4), func(s Seat) string { return s.Lab }, func(ctx context.Context, s Seat) error {
		rows, err := w.seatStatus(ctx, s)
		mu.Lock()
		out = append(out, rows...)
		mu.Unlock()
		return err
	})
	sort.Slice(out, func(a, b int) bool {
		if out[a].Seat != out[b].Seat {
			return out[a].Seat < out[b].Seat
		}
		return out[a].Node < out[b].Node
	})
	return out, err
}

// SeatStatus is Status of seat n alone.
func (w *Runner) SeatStatus(ctx context.Context, n int) ([]NodeStatus, error) {
	s, err := w.seat(n)
	if err != nil {
		return nil, err
	}
	return w.seatStatus(ctx, s)
}

func (w *Runner) seatStatus(ctx context.Context, s Seat) ([]NodeStatus, error) {
	l, err := w.open(s, "")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	sctx, cancel := context.WithTimeout(ctx, StatusTimeout)
	defer cancel()
	vms, err := l.Status(sctx)
	if err != nil {
		// A hypervisor that does not answer: the seat is named, the
		// others are not held up.
		return []NodeStatus{{Seat: s.N, Lab: s.Lab, Node: "-", VM: "unreachable", SSH: "-", Docker: "-", Error: err.Error()}}, err
	}
	var rows []NodeStatus
	for _, v := range vms {
		ns := NodeStatus{Seat: s.N, Lab: s.Lab, Node: v.Name, VM: v.State, SSH: "-", Docker: "-"}
		if v.State == "running" {
			nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			ns.SSH, ns.Docker = nodeAnswers(nctx, l, v.Name)
			cancel()
		}
		rows = append(rows, ns)
	}
	return rows, nil
}

// nodeAnswers says whether a running node answers SSH and, if it does,
// Docker (its version, or "no: " and why).
func nodeAnswers(ctx context.Context, l *lab.Lab, node string) (ssh, docker string) {
	n, closeNode, err := l.ConnectNode(ctx, node)
	if err != nil {
		return "no: " + err.Error(), "-"
	}
	defer closeNode()
	out, err := n.Sh(ctx, "docker version --format '{{.Server.Version}}'")
	switch {
	case err != nil:
		return "yes", "no: " + err.Error()
	case out.Exit != 0:
		return "yes", fmt.Sprintf("no: exit %d: %s", out.Exit, strings.TrimSpace(out.Stderr))
	}
	return "yes", strings.TrimSpace(out.Stdout)
}

// Ready tells whether the node is usable: its VM running, answering SSH
// and Docker.
func (n NodeStatus) Ready() bool {
	return n.VM == "running" && n.SSH == "yes" && n.Docker != "-" && !strings.HasPrefix(n.Docker, "no")
}

// SeatReport is one seat's reports of a check.
type SeatReport struct {
	Seat    int               `json:"seat"`
	Lab     string            `json:"lab"`
	Reports []exercise.Report `json:"reports"`
	Error   string            `json:"error,omitempty"`
	// TimedOut: the seat's checks ran past SeatTimeout and were stopped.
	TimedOut bool `json:"timed_out,omitempty"`
}

// DefaultSeatTimeout bounds the checks of one seat.
const DefaultSeatTimeout = 10 * time.Minute

// Check runs the exercises on every seat at once (Parallel at a time):
// built and taken down as 'lab run' does, or with checkOnly only their
// checks against what each student built.
func (w *Runner) Check(ctx context.Context, run []*exercise.Exercise, checkOnly bool) ([]SeatReport, error) {
	seats, err := w.Seats()
	if err != nil {
		return nil, err
	}
	out := make([]SeatReport, len(seats))
	for i, s := range seats {
		out[i] = SeatReport{Seat: s.N, Lab: s.Lab}
	}
	idx := map[int]int{}
	for i, s := range seats {
		idx[s.N] = i
	}
	limit := w.SeatTimeout
	if limit <= 0 {
		limit = DefaultSeatTimeout
	}
	fanout.Each(ctx, seats, w.parallel(), func(s Seat) string { return s.Lab }, func(pctx context.Context, s Seat) error {
		ctx, cancel := context.WithTimeout(pctx, limit)
		defer cancel()
		sr := &out[idx[s.N]]
		l, err := w.open(s, "labctl workshop check")
		if err != nil {
			sr.Error = err.Error()
			return nil
		}
		defer l.Close()
		if checkOnly {
			sr.Reports, err = l.CheckLabs(ctx, run, 0)
		} else {
			sr.Reports, err = l.RunLabs(ctx, run, lab.RunOptions{})
		}
		switch {
		case pctx.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
			sr.TimedOut = true
			sr.Error = fmt.Sprintf("timed out: the seat's checks did not finish within %s (stopped; the other seats went on)", limit)
		case err != nil:
			sr.Error = err.Error()
		}
		return nil
	})
	return out, ctx.Err()
}
