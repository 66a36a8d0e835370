package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/workshop"
)

// WorkshopOptions say what Workshop measures.
type WorkshopOptions struct {
	Lab      lab.Options // the topology a seat is made of (its first node only); its name names the workshop
	Seats    []int       // seat counts, e.g. 1, 2, 4
	Parallel int         // seats brought up at once, as workshop up --parallel
	Runs     int
	Say      func(string)
	// Sample is how often host memory is read during up (default 1 s).
	Sample time.Duration
	// KSM, when not zero, turns kernel same-page merging on for that long
	// once the seats are idle, and reports what it saved (KSMResult).
	KSM time.Duration
	// CPUOvercommit is workshop up's --cpu-overcommit (0: the default).
	CPUOvercommit int
}

// WorkshopRun is one workshop up of some seats, a reset of seat 1, and
// workshop down.
type WorkshopRun struct {
	Seats int     `json:"seats"`
	UpS   float64 `json:"up_seconds"` // until every seat's node is Docker-ready and its reset snapshot taken
	// PeakHostUsedMiB is the host's memory in use (MemTotal -
	// MemAvailable) at its highest during up, less what was in use before.
	PeakHostUsedMiB float64 `json:"peak_host_used_mib"`
	// QEMURSSMiB is each seat's node's QEMU resident size once idle for
	// IdleSettle after up.
	QEMURSSMiB []float64 `json:"qemu_rss_mib"`
	// IdleHostAvailableMiB is the host's MemAvailable then: what more
	// seats could still use.
	IdleHostAvailableMiB float64 `json:"idle_host_available_mib"`
	// IdleHostCPU is the share of the host's CPUs busy over IdleCPUWindow
	// while the seats sit idle (0 to 1): what idle seats cost in CPU.
	IdleHostCPU float64    `json:"idle_host_cpu"`
	ResetS      float64    `json:"reset_seconds"` // workshop reset of seat 1
	DownS       float64    `json:"down_seconds"`
	KSM         *KSMResult `json:"ksm,omitempty"`
}

// WorkshopPoint is the medians of one seat count: the curve.
type WorkshopPoint struct {
	Seats           int     `json:"seats"`
	MedianUpS       float64 `json:"median_up_seconds"`
	OverOneSeat     float64 `json:"over_one_seat,omitempty"` // median up over that of 1 seat, when measured
	PeakHostUsedMiB float64 `json:"median_peak_host_used_mib"`
	QEMURSSMiB      float64 `json:"median_qemu_rss_mib"` // per node
	// IdleHostAvailableMiB and IdleHostCPU are WorkshopRun's, medians.
	IdleHostAvailableMiB float64 `json:"median_idle_host_available_mib"`
	IdleHostCPU          float64 `json:"median_idle_host_cpu"`
	MedianResetS         float64 `json:"median_reset_seconds"`
	// KSMSavedMiB is what same-page merging saved per node (median), when
	// measured.
	KSMSavedMiB float64 `json:"median_ksm_saved_mib_per_node,omitempty"`
}

// WorkshopReport is what Workshop measured.
type WorkshopReport struct {
	Workshop       string          `json:"workshop"`
	Image          string          `json:"image"`
	Virtualisation string          `json:"virtualisation"`
	CPUs           int             `json:"host_cpus"`
	HostMemoryMiB  float64         `json:"host_memory_mib"`
	Parallel       int             `json:"parallel"`
	Started        time.Time       `json:"started"`
	Runs           []WorkshopRun   `json:"runs"`
	Points         []WorkshopPoint `json:"points"`
	Targets        []Target        `json:"targets"`
}

// Workshop measures a workshop's cost as it grows: for each seat count,
// workshop up of that many one-node seats from the Docker-ready image
// (time until every seat is Docker-ready, the host's peak memory, each
// node's QEMU resident size), workshop reset of seat 1, workshop down;
// round after round. It creates and removes the workshop, so it refuses
// one whose seats exist.
func Workshop(ctx context.Context, o WorkshopOptions) (WorkshopReport, error) {
	if o.Say == nil {
		o.Say = func(string) {}
	}
	if o.Sample <= 0 {
		o.Sample = time.Second
	}
	if o.Runs < 1 {
		return WorkshopReport{}, fmt.Errorf("bench --workshop: %d runs: must be 1 or more", o.Runs)
	}
	t, p, virt, err := openBenchable(ctx, o.Lab)
	if err != nil {
		return WorkshopReport{}, err
	}
	if _, err := workshop.LoadRecord(p.Lab); err == nil {
		return WorkshopReport{}, fmt.Errorf("workshop %s exists: bench creates and removes its workshop; use another --lab or run 'labctl --lab %s workshop down' first", p.Lab, p.Lab)
	}
	one := *t
	one.SetImage("debian-12-docker")
	one.Nodes = t.Nodes[:1]
	machine, err := workshop.ThisMachine()
	if err != nil {
		return WorkshopReport{}, err
	}
	rep := WorkshopReport{Workshop: p.Lab, Image: one.Image, Virtualisation: virt, CPUs: runtime.NumCPU(),
		HostMemoryMiB: float64(machine.MemoryMiB), Parallel: max(o.Parallel, 1), Started: time.Now().UTC()}
	w := &workshop.Runner{Name: p.Lab, Parallel: rep.Parallel, Log: o.Lab.Log, Progress: func(seat, node, msg string) {
		if o.Lab.Progress != nil {
			o.Lab.Progress(seat+"/"+node, msg)
		}
	}}
	for i := 0; i < o.Runs; i++ {
		for _, n := range o.Seats {
			wp, err := workshop.New(&one, workshop.Options{Name: p.Lab, Seats: n, Machine: machine, CPUOvercommit: o.CPUOvercommit})
			if err != nil {
				return rep, fmt.Errorf("bench --workshop %d seats: %w", n, err)
			}
			o.Say(fmt.Sprintf("bench: round %d: workshop up of %d seat(s)", i+1, n))
			r, err := workshopRun(ctx, w, wp, p, o.Sample, o.KSM, o.Say)
			rep.Runs = append(rep.Runs, r)
			if err != nil {
				return rep, fmt.Errorf("bench --workshop %d seats, round %d: %w", n, i+1, err)
			}
		}
	}
	rep.summarise(o.Seats)
	return rep, nil
}

// workshopRun is one workshop up, reset of seat 1 and down, measured.
func workshopRun(ctx context.Context, w *workshop.Runner, wp *workshop.Plan, ws *plan.Plan, every, ksm time.Duration, say func(string)) (r WorkshopRun, err error) {
	r.Seats = len(wp.Seats)
	rec := workshop.Record{Name: ws.Lab, Seats: len(wp.Seats), Space: workshop.DefaultSpace.String(), L3Space: workshop.DefaultL3Space.String()}
	defer func() {
		say(fmt.Sprintf("bench: workshop down (%d seat(s))", r.Seats))
		ds := time.Now()
		_, derr := w.Down(context.WithoutCancel(ctx), ws)
		r.DownS = round2(time.Since(ds).Seconds())
		err = errors.Join(err, derr)
	}()
	base, err := hostUsedKiB()
	if err != nil {
		return r, err
	}
	peak := newPeak(base, every)
	start := time.Now()
	err = w.Up(ctx, wp, rec, lab.UpOptions{})
	r.UpS = round2(time.Since(start).Seconds())
	r.PeakHostUsedMiB = kib2mib(peak.stop() - base)
	if err != nil {
		return r, err
	}
	var names, domains []string
	for _, s := range wp.Seats {
		for _, n := range s.Plan.Nodes {
			names, domains = append(names, s.Lab+"/"+n.Name), append(domains, n.Domain)
		}
	}
	if r.QEMURSSMiB, err = idleRSS(ctx, names, domains); err != nil {
		return r, err
	}
	if r.IdleHostCPU, err = hostBusy(ctx, IdleCPUWindow); err != nil {
		return r, err
	}
	m, err := meminfo()
	if err != nil {
		return r, err
	}
	r.IdleHostAvailableMiB = kib2mib(m["MemAvailable"])
	if ksm > 0 {
		say(fmt.Sprintf("bench: same-page merging on for %s (%d seat(s) idle)", ksm, r.Seats))
		k, err := measureKSM(ctx, ksm)
		if err != nil {
			return r, err
		}
		r.KSM = &k
	}
	say(fmt.Sprintf("bench: workshop reset of seat 1 (%d seat(s) up)", r.Seats))
	rs := time.Now()
	if err := w.Reset(ctx, 1); err != nil {
		return r, fmt.Errorf("reset seat 1: %w", err)
	}
	r.ResetS = round2(time.Since(rs).Seconds())
	return r, nil
}

// IdleCPUWindow is how long the host's CPU time is read while seats idle.
const IdleCPUWindow = 10 * time.Second

// hostBusy is the share of the host's CPU time not idle (nor waiting for
// I/O) over window, from /proc/stat.
func hostBusy(ctx context.Context, window time.Duration) (float64, error) {
	b1, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(window):
	}
	b2, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	busy1, all1, err1 := cpuTimes(b1)
	busy2, all2, err2 := cpuTimes(b2)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	if all2 <= all1 {
		return 0, fmt.Errorf("/proc/stat: no CPU time passed in %s", window)
	}
	return round2(float64(busy2-busy1) / float64(all2-all1)), nil
}

// cpuTimes reads /proc/stat's first line (all CPUs): the ticks not idle
// nor waiting for I/O, and all ticks (guest time is within user time).
func cpuTimes(stat []byte) (busy, all uint64, err error) {
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: no cpu line")
	}
	// user nice system idle iowait irq softirq steal [guest guest_nice]
	for i, v := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
		}
		all += n
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, all, nil
}

// meminfo is /proc/meminfo, in KiB, with MemTotal and MemAvailable.
func meminfo() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	m := parseMeminfo(b)
	if _, ok := m["MemTotal"]; !ok {
		return nil, fmt.Errorf("/proc/meminfo has no MemTotal")
	}
	if _, ok := m["MemAvailable"]; !ok {
		return nil, fmt.Errorf("/proc/meminfo has no MemAvailable")
	}
	return m, nil
}

// hostUsedKiB is this machine's memory in use: MemTotal - MemAvailable.
func hostUsedKiB() (int64, error) {
	m, err := meminfo()
	if err != nil {
		return 0, err
	}
	return m["MemTotal"] - m["MemAvailable"], nil
}

// peak samples hostUsedKiB until stopped and keeps the highest.
type peak struct {
	mu   sync.Mutex
	max  int64
	done chan struct{}
	wg   sync.WaitGroup
}

func newPeak(start int64, every time.Duration) *peak {
	p := &peak{max: start, done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-tick.C:
				p.sample()
			}
		}
	}()
	return p
}

func (p *peak) sample() {
	if v, err := hostUsedKiB(); err == nil {
		p.mu.Lock()
		p.max = max(p.max, v)
		p.mu.Unlock()
	}
}

// stop ends the sampling, with one last sample, and gives the peak.
func (p *peak) stop() int64 {
	close(p.done)
	p.wg.Wait()
	p.sample()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.max
}

// summarise computes the curve's medians and the targets.
func (rep *WorkshopReport) summarise(counts []int) {
	rep.Points, rep.Targets = nil, nil
	var oneSeat float64
	for _, n := range counts {
		pt := WorkshopPoint{Seats: n}
		var ups, peaks, rss, resets, saved, avail, busy []float64
		for _, r := range rep.Runs {
			if r.Seats != n || r.UpS == 0 || r.ResetS == 0 {
				continue
			}
			ups, peaks, resets = append(ups, r.UpS), append(peaks, r.PeakHostUsedMiB), append(resets, r.ResetS)
			rss = append(rss, r.QEMURSSMiB...)
			avail, busy = append(avail, r.IdleHostAvailableMiB), append(busy, r.IdleHostCPU)
			if r.KSM != nil && len(r.QEMURSSMiB) > 0 {
				saved = append(saved, r.KSM.SavedMiB/float64(len(r.QEMURSSMiB)))
			}
		}
		if len(ups) == 0 {
			continue
		}
		pt.MedianUpS, pt.PeakHostUsedMiB, pt.QEMURSSMiB, pt.MedianResetS = median(ups), median(peaks), median(rss), median(resets)
		pt.IdleHostAvailableMiB, pt.IdleHostCPU = median(avail), median(busy)
		if len(saved) > 0 {
			pt.KSMSavedMiB = round2(median(saved))
		}
		if n == 1 {
			oneSeat = pt.MedianUpS
		}
		rep.Points = append(rep.Points, pt)
	}
	for i := range rep.Points {
		if oneSeat > 0 {
			rep.Points[i].OverOneSeat = round2(rep.Points[i].MedianUpS / oneSeat)
		}
	}
	target := func(what string, value, limit float64, unit string) {
		rep.Targets = addTarget(rep.Targets, what, value, limit, unit)
	}
	for _, pt := range rep.Points {
		if pt.Seats == 4 {
			target("workshop up, 4 seats x 1 node, over 1 seat", pt.OverOneSeat, 2.5, "x")
		}
	}
	var resets, rss []float64
	for _, pt := range rep.Points {
		resets, rss = append(resets, pt.MedianResetS), append(rss, pt.QEMURSSMiB)
	}
	target("workshop reset of a seat", median(resets), 3, "s")
	target("QEMU RSS of an idle node", median(rss), 600, "MiB")
}
