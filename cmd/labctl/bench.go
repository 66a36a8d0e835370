package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/labctl/labctl/bench"
	"github.com/labctl/labctl/vm"
	"github.com/labctl/labctl/workshop"

	"github.com/labctl/labctl/internal/atomicfile"

	"github.com/spf13/cobra"
)

func newBenchCmd(g *globals) *cobra.Command {
	var runs int
	var report string
	var noLabs, sequential, single, withVagrant bool
	var subnet string
	var counts, tcg, seats []int
	var parallel, overcommit int
	var ksm time.Duration
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure up (concurrent and one node at a time), the labs and down; write a JSON report",
		Long: `Brings the lab up, runs every lab, and takes it down again, measuring each
phase; then (with --sequential, the default) does the same 'up' with one node
at a time (--parallel 1), and (with --single) with the first node alone. Each
is repeated --runs times and the report gives the median per mode and the
ratios: sequential/concurrent (above 1: concurrent is faster) and
concurrent/single (how much three nodes cost over one).

bench does what 'up', 'lab run all' and 'down' do, in this process, so the
figures include everything a user waits for. It creates and
removes the lab, so it refuses a lab that exists already: use another --lab
(it must not overlap a lab that is up) or 'labctl down' first. Caches are
kept: build or pull the image first, or the first run measures that too.

With --vagrant, bench compares labctl with vagrant-libvirt on this machine,
in one run: each round brings up, at each node count (--nodes, default 1 and
all of the topology's), labctl's nodes from the Docker-ready image, labctl's
nodes from the plain image with Docker installed from the offline bundle,
and Vagrant's nodes twice, timing each until Docker is ready on every node,
and then removes them. Vagrant boots a box made from labctl's plain image
(same kernel by direct kernel boot, same root file system, no cloud-init),
with the same CPUs and memory, and its shell provisioner installs the same
docker.io packages from the same bundle and loads the same images; then a
box made from the Docker-ready image, whose only provisioner waits for
Docker to answer (labctl's orchestration against Vagrant's on one image).
The report has the medians, the ratios against Vagrant, the targets and each
node's memory (the guest's used memory and QEMU's resident size right after
it is ready, and QEMU's again after 15 s idle).
It needs vagrant and vagrant-libvirt (Debian: apt install vagrant
vagrant-libvirt) and the images debian-12, debian-12-docker,
docker.io-debian-12, busybox and nginx in the cache.

With --tcg-cache SIZES (MiB, 0 for QEMU's default of 1 GiB), bench sizes
QEMU's translation cache under software emulation: each round brings the
first node up from the Docker-ready image once per size, timing it until
Docker is ready and measuring its memory then (QEMU's resident size, the
guest's used memory) and QEMU's again after 15 s idle; the report has the
medians per size and each size's up time over that of QEMU's default. 'labctl up' gives emulated nodes
` + strconv.Itoa(vm.DefaultTBCacheMiB) + ` MiB (LABCTL_TCG_CACHE_MIB overrides it).

With --workshop COUNTS (e.g. 1,2,4), bench measures a workshop's cost as it
grows: each round runs, for each count, 'workshop up' of that many seats of
one node (the lab's first, from the Docker-ready image; --parallel seats at
once, as workshop up does), timing it until every seat is Docker-ready and
its reset snapshot taken, sampling the host's memory in use every second
(the peak, over what was in use before), and reading each node's QEMU
resident size, the share of the host's CPUs busy over 10 s and the host's
memory still available while the seats idle; then 'workshop reset' of seat
1, then 'workshop down'. The workshop is named after --lab, so it refuses
one that exists. The report has the curve (medians per count, each over one
seat) and the targets. How many idle seats fit this machine: one count as
large as its memory takes, with --cpu-overcommit as workshop up would need
it (e.g. --workshop 20 --cpu-overcommit 10 --runs 1).
--ksm 90s turns the kernel's same-page merging on for that long once the
seats are idle (before the reset), reports the memory it saved and ksmd's
CPU time, and puts the machine's KSM settings back (unmerging if KSM was
off).`,
		Example: `  sudo labctl bench --lab bench --runs 3 --report bench.json
  sudo labctl bench -f lab.yaml --no-labs --single
  sudo labctl bench --lab bench --vagrant --runs 3 --report vagrant.json
  sudo labctl bench --lab bench --tcg-cache 0,64,128,256 --runs 3 --report tcg.json
  sudo labctl bench --lab wsb --workshop 1,2,4 --runs 3 --report workshop.json
  sudo labctl bench --lab wsb --workshop 4 --ksm 90s
  sudo labctl bench --lab wsb --workshop 20 --cpu-overcommit 10 --runs 1 --report seats20.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runs < 1 {
				return usageErr("--runs %d: must be 1 or more", runs)
			}
			if withVagrant {
				return runCompare(cmd, g, runs, counts, subnet, report)
			}
			if len(tcg) > 0 {
				return runTCG(cmd, g, runs, tcg, report)
			}
			if len(seats) > 0 {
				return runWorkshopBench(cmd, g, runs, seats, parallel, overcommit, ksm, report)
			}
			rep, err := bench.Run(cmd.Context(), bench.Options{
				Lab: g.labOptions("", true), Runs: runs, Labs: !noLabs, Sequential: sequential, Single: single,
				Say: func(m string) { fmt.Fprintln(g.stderr, m) },
			})
			if rep.Lab == "" {
				return err // nothing measured
			}
			if werr := writeBenchReport(report, rep); werr != nil && err == nil {
				err = werr
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "lab %s, %d nodes, %s, %d host CPUs, %d run(s) per mode\n", rep.Lab, rep.Runs[0].Nodes, rep.Virtualisation, rep.CPUs, runs)
			for _, m := range rep.Modes {
				fmt.Fprintf(g.stdout, "  %-10s median up (Docker-ready): %6.1f s\n", m, rep.Median[m])
			}
			if rep.SeqOverConc > 0 {
				fmt.Fprintf(g.stdout, "  one node at a time takes %.2f times as long as all at once\n", rep.SeqOverConc)
			}
			if rep.ConcOverSingle > 0 {
				fmt.Fprintf(g.stdout, "  %d nodes take %.2f times as long as one\n", rep.Runs[0].Nodes, rep.ConcOverSingle)
			}
			for _, r := range rep.Runs {
				if r.Failed > 0 {
					fmt.Fprintf(g.stdout, "  labs: %d passed, %d failed\n", r.Passed, r.Failed)
					return &exitError{code: 1}
				}
				if r.LabsS > 0 {
					fmt.Fprintf(g.stdout, "  labs: %d passed, %d failed in %.0f s\n", r.Passed, r.Failed, r.LabsS)
				}
			}
			if report != "" {
				fmt.Fprintf(g.stdout, "report: %s\n", report)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&runs, "runs", 1, "measure each mode this many times (the report gives medians)")
	cmd.Flags().StringVar(&report, "report", "bench.json", "write the JSON report to FILE (\"\" for none)")
	cmd.Flags().BoolVar(&noLabs, "no-labs", false, "do not run the labs (measure up and down only)")
	cmd.Flags().BoolVar(&sequential, "sequential", true, "also measure creating and provisioning one node at a time")
	cmd.Flags().BoolVar(&single, "single", false, "also measure the first node alone")
	cmd.Flags().BoolVar(&withVagrant, "vagrant", false, "compare with vagrant-libvirt side by side (see above)")
	cmd.Flags().IntSliceVar(&counts, "nodes", nil, "with --vagrant: node counts to measure (default 1 and all the topology's nodes)")
	cmd.Flags().StringVar(&subnet, "vagrant-subnet", "192.168.121.0/24", "with --vagrant: Vagrant's management network")
	cmd.Flags().IntSliceVar(&seats, "workshop", nil, "measure workshop up of each of these seat counts (1-node seats), reset and down (see above)")
	cmd.Flags().IntVar(&parallel, "parallel", 2, "with --workshop: seats brought up at once")
	cmd.Flags().IntVar(&overcommit, "cpu-overcommit", workshop.DefaultCPUOvercommit, "with --workshop: vCPUs allowed per CPU, as workshop up's --cpu-overcommit")
	cmd.Flags().DurationVar(&ksm, "ksm", 0, "with --workshop: turn kernel same-page merging on for this long once the seats are idle, and report what it saved (e.g. 90s)")
	cmd.Flags().IntSliceVar(&tcg, "tcg-cache", nil, "measure one node with each of these translation cache sizes in MiB (0: QEMU's default; see above)")
	return cmd
}

// runTCG is bench --tcg-cache.
func runTCG(cmd *cobra.Command, g *globals, runs int, sizes []int, report string) error {
	for _, s := range sizes {
		if s < 0 || s > 4096 {
			return usageErr("--tcg-cache %d: give MiB from 0 (QEMU's default) to 4096", s)
		}
	}
	rep, err := bench.TCGCache(cmd.Context(), bench.TCGOptions{Lab: g.labOptions("", true), Sizes: sizes, Runs: runs,
		Say: func(m string) { fmt.Fprintln(g.stderr, m) }})
	if rep.Lab == "" {
		return err
	}
	return g.reportMeasured(report, rep, func(w io.Writer) { writeTCGTable(w, rep, runs) }, err)
}

// writeTCGTable prints bench --tcg-cache's medians, one row per size.
// OVER DEFAULT is "-" unless QEMU's default (size 0) was measured too.
func writeTCGTable(w io.Writer, rep bench.TCGReport, runs int) {
	fmt.Fprintf(w, "one node from %s, %d host CPUs, %d round(s), started %s\n", rep.Image, rep.CPUs, runs, rep.Started.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TB CACHE\tMEDIAN UP\tOVER DEFAULT\tQEMU RSS\tIDLE QEMU RSS\tGUEST USED")
	for _, s := range rep.Sizes {
		name := fmt.Sprintf("%d MiB", s.SizeMiB)
		if s.SizeMiB == 0 {
			name = "QEMU's (1 GiB)"
		}
		over := "-"
		if s.UpOverDefault > 0 {
			over = fmt.Sprintf("%.2f", s.UpOverDefault)
		}
		fmt.Fprintf(tw, "%s\t%.1f s\t%s\t%.0f MiB\t%.0f MiB\t%.0f MiB\n", name, s.MedianUpS, over, s.QEMURSSMiB, s.IdleRSSMiB, s.GuestUsedMiB)
	}
	tw.Flush()
}

// runWorkshopBench is bench --workshop.
func runWorkshopBench(cmd *cobra.Command, g *globals, runs int, seats []int, parallel, overcommit int, ksm time.Duration, report string) error {
	for _, n := range seats {
		if n < 1 || n > 999 {
			return usageErr("--workshop %d: give seat counts from 1 to 999", n)
		}
	}
	if parallel < 1 {
		return usageErr("--parallel %d: must be 1 or more", parallel)
	}
	if ksm < 0 {
		return usageErr("--ksm %s: give a duration such as 90s", ksm)
	}
	if err := workshop.CheckCPUOvercommit(overcommit); err != nil {
		return usageErr("--cpu-overcommit %d: %v", overcommit, err)
	}
	rep, err := bench.Workshop(cmd.Context(), bench.WorkshopOptions{Lab: g.labOptions("", true), Seats: seats, Parallel: parallel, Runs: runs, KSM: ksm, CPUOvercommit: overcommit,
		Say: func(m string) { fmt.Fprintln(g.stderr, m) }})
	if rep.Workshop == "" {
		return err
	}
	return g.reportMeasured(report, rep, func(w io.Writer) { writeWorkshopTable(w, rep, runs) }, err)
}

// writeWorkshopTable prints bench --workshop's curve and targets.
func writeWorkshopTable(w io.Writer, rep bench.WorkshopReport, runs int) {
	fmt.Fprintf(w, "workshop %s: 1-node seats from %s, %s, %d host CPUs, %.0f MiB, --parallel %d, %d round(s), started %s\n",
		rep.Workshop, rep.Image, rep.Virtualisation, rep.CPUs, rep.HostMemoryMiB, rep.Parallel, runs, rep.Started.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEATS\tMEDIAN UP\tOVER 1 SEAT\tPEAK HOST MEMORY\tQEMU RSS PER NODE\tKSM SAVED PER NODE\tIDLE: HOST CPU BUSY\tIDLE: HOST MEMORY AVAILABLE\tRESET SEAT 1")
	for _, p := range rep.Points {
		over, ksm := "-", "-"
		if p.OverOneSeat > 0 {
			over = fmt.Sprintf("%.2f", p.OverOneSeat)
		}
		if p.KSMSavedMiB > 0 {
			ksm = fmt.Sprintf("%.0f MiB", p.KSMSavedMiB)
		}
		fmt.Fprintf(tw, "%d\t%.1f s\t%s\t%.0f MiB\t%.0f MiB\t%s\t%.0f%%\t%.0f MiB\t%.1f s\n", p.Seats, p.MedianUpS, over, p.PeakHostUsedMiB, p.QEMURSSMiB, ksm, 100*p.IdleHostCPU, p.IdleHostAvailableMiB, p.MedianResetS)
	}
	tw.Flush()
	writeTargets(w, rep.Targets)
}

// writeTargets prints the targets a bench measured, if any.
func writeTargets(w io.Writer, targets []bench.Target) {
	if len(targets) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tMEASURED\tLIMIT\tMET")
	for _, t := range targets {
		unit := " " + t.Unit
		if t.Unit == "x" {
			unit = "x"
		}
		fmt.Fprintf(tw, "%s\t%.2f%s\t%.2f%s\t%s\n", t.What, t.Value, unit, t.Limit, unit, yesNo(t.Met))
	}
	tw.Flush()
}

// writeBenchReport writes the report as JSON to path ("" for none).
func writeBenchReport(path string, rep bench.Report) error { return writeJSONReport(path, rep) }

// reportMeasured ends a bench that measured something, err or not: the
// JSON report written (when asked), the table printed, where the report
// is said; err wins over a failure to write the report.
func (g *globals) reportMeasured(path string, rep any, table func(io.Writer), err error) error {
	if werr := writeJSONReport(path, rep); werr != nil && err == nil {
		err = werr
	}
	table(g.stdout)
	if path != "" {
		fmt.Fprintf(g.stdout, "report: %s\n", path)
	}
	return err
}

// writeJSONReport writes v as indented JSON to path ("" for none).
func writeJSONReport(path string, rep any) error {
	if path == "" {
		return nil
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(data, '\n'), 0o644)
}

// runCompare is bench --vagrant.
func runCompare(cmd *cobra.Command, g *globals, runs int, counts []int, subnet, report string) error {
	rep, err := bench.CompareVagrant(cmd.Context(), bench.CompareOptions{
		Lab: g.labOptions("", true), Runs: runs, Counts: counts, Subnet: subnet,
		Say: func(m string) { fmt.Fprintln(g.stderr, m) }, Out: g.stderr,
	})
	if rep.Lab == "" {
		return err // nothing measured
	}
	return g.reportMeasured(report, rep, func(w io.Writer) { printCompare(w, rep) }, err)
}

// printCompare writes the medians, the targets and the memory as text.
func printCompare(w io.Writer, rep bench.CompareReport) {
	fmt.Fprintf(w, "%s, %d CPUs, %s, %s virtualisation, %s\n", rep.CPUModel, rep.CPUs, rep.Kernel, rep.Virtualisation, rep.Vagrant)
	fmt.Fprintf(w, "started %s; lab %s\n\n", rep.Started.Format(time.RFC3339), rep.Lab)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIANT\tNODES\tVCPUS\tMEDIAN UP\tRUNS (s)\tGUEST USED\tQEMU RSS\tIDLE QEMU RSS")
	for _, v := range rep.Variants {
		var runs []string
		for _, u := range v.Ups {
			runs = append(runs, fmt.Sprintf("%.1f", u))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f s\t%s\t%.0f MiB\t%.0f MiB\t%.0f MiB\n", v.Variant, v.Nodes, v.VCPUs, v.MedianUpS, strings.Join(runs, " "), v.GuestUsedMiB, v.QEMURSSMiB, v.IdleRSSMiB)
	}
	tw.Flush()
	writeTargets(w, rep.Targets)
}
