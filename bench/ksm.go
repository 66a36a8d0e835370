package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// KSMRoot is the kernel's same-page merging control directory.
var KSMRoot = "/sys/kernel/mm/ksm"

// KSMResult is what kernel same-page merging gave identical idle nodes
// in a fixed time: QEMU marks guest memory mergeable, so turning ksmd on
// is all it takes.
type KSMResult struct {
	Seconds float64 `json:"seconds"` // how long ksmd ran
	// SavedMiB is the memory merging freed (pages_sharing: the pages
	// that point at a shared one instead of a copy of their own).
	SavedMiB float64 `json:"saved_mib"`
	// HostUsedDropMiB is the fall in the host's memory in use over the
	// same time (MemTotal - MemAvailable), the saving as the host sees it.
	HostUsedDropMiB float64 `json:"host_used_drop_mib"`
	// KsmdCPUSeconds is the CPU time ksmd took to find the pages.
	KsmdCPUSeconds float64 `json:"ksmd_cpu_seconds"`
}

// ksmSettings are the knobs KSM turns and restores.
var ksmSettings = []string{"run", "pages_to_scan", "sleep_millisecs"}

// ksmWait lets ksmd run for d: measureKSM's wait, with its settings in
// force (a test looks at them there).
var ksmWait = func(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// measureKSM turns ksmd on (scanning 1000 pages each 20 ms) for d, then
// gives the machine its settings back; the pages merged meanwhile are
// unmerged when KSM was off before (run=2, then the old run value).
func measureKSM(ctx context.Context, d time.Duration) (r KSMResult, err error) {
	old := map[string]string{}
	for _, k := range ksmSettings {
		b, err := os.ReadFile(filepath.Join(KSMRoot, k))
		if err != nil {
			return r, fmt.Errorf("KSM: %w (a kernel without CONFIG_KSM cannot merge pages)", err)
		}
		old[k] = strings.TrimSpace(string(b))
	}
	set := func(k, v string) error { return os.WriteFile(filepath.Join(KSMRoot, k), []byte(v), 0o644) }
	defer func() {
		if old["run"] == "0" {
			set("run", "2") // unmerge: the machine is left as it was
		}
		for _, k := range ksmSettings {
			if e := set(k, old[k]); e != nil && err == nil {
				err = fmt.Errorf("KSM: restore %s=%s: %w", k, old[k], e)
			}
		}
	}()
	before, err := hostUsedKiB()
	if err != nil {
		return r, err
	}
	cpu0 := ksmdCPU()
	for _, kv := range [][2]string{{"pages_to_scan", "1000"}, {"sleep_millisecs", "20"}, {"run", "1"}} {
		if err := set(kv[0], kv[1]); err != nil {
			return r, fmt.Errorf("KSM: %s: %w", kv[0], err)
		}
	}
	start := time.Now()
	if err := ksmWait(ctx, d); err != nil {
		return r, err
	}
	r.Seconds = round2(time.Since(start).Seconds())
	sharing, err := os.ReadFile(filepath.Join(KSMRoot, "pages_sharing"))
	if err != nil {
		return r, err
	}
	pages, _ := strconv.ParseInt(strings.TrimSpace(string(sharing)), 10, 64)
	r.SavedMiB = round2(float64(pages*int64(os.Getpagesize())) / (1 << 20))
	after, err := hostUsedKiB()
	if err != nil {
		return r, err
	}
	r.HostUsedDropMiB = kib2mib(before - after)
	r.KsmdCPUSeconds = round2(ksmdCPU() - cpu0)
	return r, nil
}

// ksmdCPU is ksmd's CPU time in seconds (0 when it cannot be read).
func ksmdCPU() float64 {
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range dirs {
		if b, err := os.ReadFile(c); err != nil || strings.TrimSpace(string(b)) != "ksmd" {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(c), "stat"))
		if err != nil {
			return 0
		}
		return statCPUSeconds(string(stat))
	}
	return 0
}

// statCPUSeconds reads utime+stime from a /proc/PID/stat line (clock
// ticks of 1/100 s, as on every Linux that labctl runs on).
func statCPUSeconds(stat string) float64 {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}
