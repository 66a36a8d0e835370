package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/labctl/labctl/lab"
)

// TCGOptions say what TCGCache measures.
type TCGOptions struct {
	Lab   lab.Options // the lab; its first node is brought up
	Sizes []int       // translation cache sizes in MiB (0: QEMU's default, 1 GiB)
	Runs  int
	Say   func(string)
}

// TCGRun is one node brought up with one translation cache size.
type TCGRun struct {
	SizeMiB int        `json:"tb_cache_mib"`
	UpS     float64    `json:"up_seconds"` // until Docker is ready
	Memory  NodeMemory `json:"memory"`     // right after it is ready
}

// TCGSize is the medians of one size.
type TCGSize struct {
	SizeMiB      int     `json:"tb_cache_mib"`
	MedianUpS    float64 `json:"median_up_seconds"`
	QEMURSSMiB   float64 `json:"median_qemu_rss_mib"`
	GuestUsedMiB float64 `json:"median_guest_used_mib"`
	IdleRSSMiB   float64 `json:"median_idle_qemu_rss_mib"` // QEMU's, after IdleSettle idle
	// UpOverDefault is the median up time over that of QEMU's default
	// cache (size 0), when it was measured.
	UpOverDefault float64 `json:"up_over_default,omitempty"`
}

// TCGReport is what TCGCache measured.
type TCGReport struct {
	Lab     string    `json:"lab"`
	Image   string    `json:"image"`
	CPUs    int       `json:"host_cpus"`
	Started time.Time `json:"started"`
	Runs    []TCGRun  `json:"runs"`
	Sizes   []TCGSize `json:"sizes"`
}

// TCGCache brings the lab's first node up from the Docker-ready image
// with each translation cache size in turn, round after round, and
// measures the time until Docker is ready and the node's memory then.
// The size reaches the node's domain as labctl up gives it,
// through LABCTL_TCG_CACHE_MIB, set in this process for each run.
func TCGCache(ctx context.Context, o TCGOptions) (TCGReport, error) {
	if o.Say == nil {
		o.Say = func(string) {}
	}
	t, _, virt, err := openBenchable(ctx, o.Lab)
	if err != nil {
		return TCGReport{}, err
	}
	if virt != "qemu" {
		return TCGReport{}, fmt.Errorf("bench --tcg-cache: the nodes here run under %s, not software emulation: there is no translation cache to size", virt)
	}
	rep := TCGReport{Lab: o.Lab.Name, Image: "debian-12-docker", CPUs: runtime.NumCPU(), Started: time.Now().UTC()}
	old, had := os.LookupEnv("LABCTL_TCG_CACHE_MIB")
	defer func() {
		if had {
			os.Setenv("LABCTL_TCG_CACHE_MIB", old)
		} else {
			os.Unsetenv("LABCTL_TCG_CACHE_MIB")
		}
	}()
	co := CompareOptions{Lab: o.Lab, Say: o.Say}
	for i := 0; i < o.Runs; i++ {
		for _, size := range o.Sizes {
			o.Say(fmt.Sprintf("bench: round %d: translation cache %d MiB", i+1, size))
			os.Setenv("LABCTL_TCG_CACHE_MIB", strconv.Itoa(size))
			r, err := labctlRun(ctx, co, t, rep.Image, 1)
			run := TCGRun{SizeMiB: size, UpS: r.UpS}
			if len(r.Memory) > 0 {
				run.Memory = r.Memory[0]
			}
			rep.Runs = append(rep.Runs, run)
			if err != nil {
				return rep, fmt.Errorf("bench --tcg-cache %d, round %d: %w", size, i+1, err)
			}
		}
	}
	var def float64
	for _, size := range o.Sizes {
		var ups, rss, used, idle []float64
		for _, r := range rep.Runs {
			if r.SizeMiB == size {
				ups, rss, used, idle = append(ups, r.UpS), append(rss, r.Memory.QEMURSSMiB), append(used, r.Memory.GuestUsedMiB), append(idle, r.Memory.IdleQEMURSSMiB)
			}
		}
		s := TCGSize{SizeMiB: size, MedianUpS: median(ups), QEMURSSMiB: median(rss), GuestUsedMiB: median(used), IdleRSSMiB: median(idle)}
		if size == 0 {
			def = s.MedianUpS
		}
		rep.Sizes = append(rep.Sizes, s)
	}
	for i := range rep.Sizes {
		if def > 0 {
			rep.Sizes[i].UpOverDefault = round2(rep.Sizes[i].MedianUpS / def)
		}
	}
	return rep, nil
}
