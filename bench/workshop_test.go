package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The curve: medians per seat count over the rounds, each over one seat;
// failed runs (no up or no reset) count nowhere; the targets from the
// medians.
func TestWorkshopSummary(t *testing.T) {
	rep := WorkshopReport{Runs: []WorkshopRun{
		{Seats: 1, UpS: 60, PeakHostUsedMiB: 900, QEMURSSMiB: []float64{850}, ResetS: 2.5, IdleHostAvailableMiB: 20000, IdleHostCPU: 0.1},
		{Seats: 2, UpS: 100, PeakHostUsedMiB: 1800, QEMURSSMiB: []float64{840, 860}, ResetS: 2.9},
		{Seats: 4, UpS: 200, PeakHostUsedMiB: 3600, QEMURSSMiB: []float64{800, 810, 820, 830}, ResetS: 3.5},
		{Seats: 1, UpS: 62, PeakHostUsedMiB: 920, QEMURSSMiB: []float64{870}, ResetS: 2.7, IdleHostAvailableMiB: 21000, IdleHostCPU: 0.2},
		{Seats: 2, UpS: 110, PeakHostUsedMiB: 1700, QEMURSSMiB: []float64{850, 850}, ResetS: 3.1},
		{Seats: 4, UpS: 160, PeakHostUsedMiB: 3400, QEMURSSMiB: []float64{800, 800, 800, 800}, ResetS: 3.3, KSM: &KSMResult{SavedMiB: 400}},
		{Seats: 4, UpS: 0}, // up failed
	}}
	rep.summarise([]int{1, 2, 4})
	want := []WorkshopPoint{
		{Seats: 1, MedianUpS: 61, OverOneSeat: 1, PeakHostUsedMiB: 910, QEMURSSMiB: 860, MedianResetS: 2.6, IdleHostAvailableMiB: 20500, IdleHostCPU: 0.15},
		{Seats: 2, MedianUpS: 105, OverOneSeat: 1.72, PeakHostUsedMiB: 1750, QEMURSSMiB: 850, MedianResetS: 3},
		{Seats: 4, MedianUpS: 180, OverOneSeat: 2.95, PeakHostUsedMiB: 3500, QEMURSSMiB: 800, MedianResetS: 3.4, KSMSavedMiB: 100},
	}
	if len(rep.Points) != len(want) {
		t.Fatalf("points %+v", rep.Points)
	}
	for i, w := range want {
		if rep.Points[i] != w {
			t.Errorf("point %d: %+v, want %+v", i, rep.Points[i], w)
		}
	}
	met := map[string]bool{}
	for _, tg := range rep.Targets {
		met[tg.What] = tg.Met
	}
	for what, wantMet := range map[string]bool{
		"workshop up, 4 seats x 1 node, over 1 seat": false, // 2.95x
		"workshop reset of a seat":                   true,  // 3.0 s
		"QEMU RSS of an idle node":                   false, // 850 MiB
	} {
		got, ok := met[what]
		if !ok || got != wantMet {
			t.Errorf("target %q: met %v (present %v), want %v; targets %+v", what, got, ok, wantMet, rep.Targets)
		}
	}
	// Without one seat measured, no ratio is made up.
	rep.summarise([]int{2, 4})
	for _, p := range rep.Points {
		if p.OverOneSeat != 0 {
			t.Errorf("%d seats: over one seat %v without one seat measured", p.Seats, p.OverOneSeat)
		}
	}
}

// /proc/stat's first line: busy is every field but idle and iowait, over
// the first eight (guest time is counted in user time already).
func TestCPUTimes(t *testing.T) {
	busy, all, err := cpuTimes([]byte("cpu  100 5 50 1000 20 3 2 1 40 0\ncpu0 50 2 25 500 10 1 1 0 20 0\n"))
	if err != nil || busy != 161 || all != 1181 {
		t.Errorf("busy %d all %d err %v", busy, all, err)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu 1 2 x 4 5\n", "cpu 1 2\n"} {
		if _, _, err := cpuTimes([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// This machine's, over a short window: a share from 0 to 1.
	b, err := hostBusy(context.Background(), 200*time.Millisecond)
	if err != nil || b < 0 || b > 1 {
		t.Errorf("hostBusy: %v %v", b, err)
	}
}

// The peak is the highest sample, and at least what it started from.
func TestPeakSamplesHostMemory(t *testing.T) {
	now, err := hostUsedKiB()
	if err != nil {
		t.Fatal(err)
	}
	p := newPeak(0, time.Millisecond)
	time.Sleep(10 * time.Millisecond)
	if got := p.stop(); got <= 0 || got < now/2 {
		t.Errorf("peak %d KiB; in use now %d KiB", got, now)
	}
	p = newPeak(1<<60, time.Millisecond)
	if got := p.stop(); got != 1<<60 {
		t.Errorf("peak %d below its start", got)
	}
}

// KSM is turned on for the time asked, its savings read from
// pages_sharing, and the machine's settings put back, unmerging when KSM
// was off before.
func TestMeasureKSM(t *testing.T) {
	dir := t.TempDir()
	old := KSMRoot
	KSMRoot = dir
	defer func() { KSMRoot = old }()
	for k, v := range map[string]string{"run": "0\n", "pages_to_scan": "100\n", "sleep_millisecs": "200\n", "pages_sharing": "2560\n"} {
		os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644)
	}
	// What ksmd was told while it ran: read in measureKSM's wait itself,
	// not after a sleep that a loaded machine can outrun.
	var seen []string
	oldWait := ksmWait
	defer func() { ksmWait = oldWait }()
	ksmWait = func(ctx context.Context, d time.Duration) error {
		for _, k := range []string{"run", "pages_to_scan", "sleep_millisecs"} {
			b, _ := os.ReadFile(filepath.Join(dir, k))
			seen = append(seen, k+"="+string(b))
		}
		return oldWait(ctx, d)
	}
	r, err := measureKSM(context.Background(), 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != "run=1 pages_to_scan=1000 sleep_millisecs=20" {
		t.Errorf("while measuring: %v", seen)
	}
	if want := float64(2560*os.Getpagesize()) / (1 << 20); r.SavedMiB != want || r.Seconds < 0.2 {
		t.Errorf("saved %v MiB in %v s, want %v MiB", r.SavedMiB, r.Seconds, want)
	}
	for k, want := range map[string]string{"run": "0", "pages_to_scan": "100", "sleep_millisecs": "200"} {
		if b, _ := os.ReadFile(filepath.Join(dir, k)); string(b) != want {
			t.Errorf("%s left %q, want %q", k, b, want)
		}
	}
	os.Remove(filepath.Join(dir, "run"))
	if _, err := measureKSM(context.Background(), time.Millisecond); err == nil || !strings.Contains(err.Error(), "CONFIG_KSM") {
		t.Errorf("no KSM: %v", err)
	}
}

func TestStatCPUSeconds(t *testing.T) {
	stat := "55 (ksmd) S 2 0 0 0 -1 2129984 0 0 0 0 150 25 0 0 25 5 1 0 100 0 0"
	if got := statCPUSeconds(stat); got != 1.75 {
		t.Errorf("utime+stime: %v", got)
	}
	if got := statCPUSeconds("garbage"); got != 0 {
		t.Errorf("garbage: %v", got)
	}
}
