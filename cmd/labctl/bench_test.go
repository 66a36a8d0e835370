package main

import (
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/bench"
)

// OVER DEFAULT is a ratio to QEMU's default cache only when that was
// measured: without it the column says "-", not a ratio of 0.
func TestTCGTableOverDefault(t *testing.T) {
	started := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		sizes []bench.TCGSize
		want  []string // one per size row, the OVER DEFAULT column
	}{
		{"without the default", []bench.TCGSize{
			{SizeMiB: 128, MedianUpS: 79.3, QEMURSSMiB: 734, GuestUsedMiB: 240},
			{SizeMiB: 256, MedianUpS: 65.9, QEMURSSMiB: 884, GuestUsedMiB: 238},
		}, []string{"-", "-"}},
		{"with the default", []bench.TCGSize{
			{SizeMiB: 0, MedianUpS: 60, QEMURSSMiB: 1750, GuestUsedMiB: 240, UpOverDefault: 1},
			{SizeMiB: 256, MedianUpS: 66, QEMURSSMiB: 884, GuestUsedMiB: 238, UpOverDefault: 1.1},
		}, []string{"1.00", "1.10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeTCGTable(&b, bench.TCGReport{Lab: "tb", Image: "debian-12-docker", CPUs: 2, Started: started, Sizes: tc.sizes}, 3)
			lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
			if len(lines) != 2+len(tc.sizes) {
				t.Fatalf("got %d lines, want %d:\n%s", len(lines), 2+len(tc.sizes), b.String())
			}
			if !strings.Contains(lines[0], "3 round(s)") || !strings.Contains(lines[0], "2026-12-03T08:00:00Z") {
				t.Errorf("heading %q", lines[0])
			}
			col := strings.Index(lines[1], "OVER DEFAULT")
			for i, want := range tc.want {
				row := lines[2+i]
				if col < 0 || col >= len(row) {
					t.Fatalf("row %q has no OVER DEFAULT column", row)
				}
				if got := strings.Fields(row[col:])[0]; got != want {
					t.Errorf("row %q: OVER DEFAULT %q, want %q", row, got, want)
				}
			}
		})
	}
}

// The workshop curve: one row per seat count, then the targets with their
// units (a ratio as "x", seconds, MiB).
func TestWorkshopTable(t *testing.T) {
	rep := bench.WorkshopReport{Workshop: "wsb", Image: "debian-12-docker", Virtualisation: "qemu", CPUs: 2, HostMemoryMiB: 24000, Parallel: 2,
		Points: []bench.WorkshopPoint{
			{Seats: 2, MedianUpS: 105, PeakHostUsedMiB: 1750, QEMURSSMiB: 850, MedianResetS: 3, IdleHostCPU: 0.123, IdleHostAvailableMiB: 20480.4},
			{Seats: 4, MedianUpS: 180, OverOneSeat: 2.95, PeakHostUsedMiB: 3500, QEMURSSMiB: 800, MedianResetS: 3.4},
		},
		Targets: []bench.Target{
			{What: "workshop up, 4 seats x 1 node, over 1 seat", Value: 2.95, Limit: 2.5, Unit: "x"},
			{What: "QEMU RSS of an idle node", Value: 825, Limit: 600, Unit: "MiB"},
		}}
	var b strings.Builder
	writeWorkshopTable(&b, rep, 3)
	out := b.String()
	for _, want := range []string{
		"workshop wsb: 1-node seats from debian-12-docker, qemu, 2 host CPUs, 24000 MiB, --parallel 2, 3 round(s)",
		"\n2      105.0 s    -            1750 MiB",
		"\n4      180.0 s    2.95         3500 MiB",
		"12%                  20480 MiB",
		"IDLE: HOST CPU BUSY  IDLE: HOST MEMORY AVAILABLE",

		"2.95x       2.50x       no",
		"825.00 MiB  600.00 MiB  no",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
