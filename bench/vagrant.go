package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/labctl/labctl/lab"

	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/provision"
	"github.com/labctl/labctl/state"
	"github.com/labctl/labctl/topology"
	"github.com/labctl/labctl/vagrant"
	"github.com/labctl/labctl/vm"
)

// The images the comparison boots: labctl's Docker-ready image, and its
// plain image with Docker installed from the offline bundle (labctl over
// SFTP, Vagrant by its provisioner, from the same files).
const (
	DockerReadyImage = "debian-12-docker"
	PlainImage       = "debian-12"
)

// The three variants measured side by side.
const (
	VariantDockerReady = "labctl, Docker-ready image"
	VariantBundle      = "labctl, plain image + offline bundle"
	VariantVagrant     = "vagrant-libvirt, plain image + provisioner"
	// VariantVagrantReady is vagrant-libvirt on a box of the Docker-ready
	// image, with no provisioner but a wait for Docker: labctl's
	// orchestration against Vagrant's on the same image.
	VariantVagrantReady = "vagrant-libvirt, Docker-ready image"
)

// variants are measured in this order in every round.
var variants = []string{VariantDockerReady, VariantBundle, VariantVagrant, VariantVagrantReady}

// CompareOptions say what CompareVagrant measures.
type CompareOptions struct {
	Lab    lab.Options // the lab's name and topology; the bench uses its first nodes
	Runs   int         // rounds; each measures every variant at every node count
	Counts []int       // node counts (default: 1 and all the topology's nodes)
	Subnet string      // Vagrant's management network (default 192.168.121.0/24)
	Say    func(string)
	Out    io.Writer // Vagrant's own output; nil drops it
}

// NodeMemory is one node's memory right after it is ready, and its QEMU's
// once it has been idle for IdleSettle.
type NodeMemory struct {
	Node          string  `json:"node"`
	GuestUsedMiB  float64 `json:"guest_used_mib"` // MemTotal - MemAvailable in the guest
	GuestTotalMiB float64 `json:"guest_total_mib"`
	QEMURSSMiB    float64 `json:"qemu_rss_mib"` // resident memory of its QEMU process on the host
	// IdleQEMURSSMiB is QEMURSSMiB again after IdleSettle: what an idle
	// node holds once a balloon has handed its free pages back.
	IdleQEMURSSMiB float64 `json:"idle_qemu_rss_mib"`
}

// IdleSettle is how long a node is left idle before its idle memory is
// read: free page reporting hands pages back in batches, seconds apart.
var IdleSettle = 15 * time.Second

// settle waits IdleSettle and reads each node's QEMU resident size again.
func settle(ctx context.Context, mem []NodeMemory, domains []string) error {
	names := make([]string, len(mem))
	for i, m := range mem {
		names[i] = m.Node
	}
	rss, err := idleRSS(ctx, names, domains)
	for i := range rss {
		mem[i].IdleQEMURSSMiB = rss[i]
	}
	return err
}

// idleRSS waits IdleSettle, then reads the QEMU resident size of each
// domain (MiB), named in errors by names.
func idleRSS(ctx context.Context, names, domains []string) ([]float64, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(IdleSettle):
	}
	var out []float64
	for i, d := range domains {
		rss, err := qemuRSS(d)
		if err != nil {
			return out, fmt.Errorf("%s: %w", names[i], err)
		}
		out = append(out, kib2mib(rss))
	}
	return out, nil
}

// CompareRun is one variant brought up (timed until Docker is ready on
// every node), measured, and removed.
type CompareRun struct {
	Round   int    `json:"round"`
	Variant string `json:"variant"`
	Nodes   int    `json:"nodes"`
	// VCPUs of each node: labctl's up and the Vagrantfile give the same
	// (vm.VCPUs for this machine's CPUs).
	VCPUs  int           `json:"vcpus"`
	UpS    float64       `json:"up_seconds"`
	Phases []state.Phase `json:"phases,omitempty"`
	Memory []NodeMemory  `json:"memory"`
	DownS  float64       `json:"down_seconds"`
}

// CompareVariant is the medians of one variant at one node count.
type CompareVariant struct {
	Variant      string    `json:"variant"`
	Nodes        int       `json:"nodes"`
	VCPUs        int       `json:"vcpus"` // of each node
	Ups          []float64 `json:"up_seconds"`
	MedianUpS    float64   `json:"median_up_seconds"`
	GuestUsedMiB float64   `json:"median_guest_used_mib"`
	QEMURSSMiB   float64   `json:"median_qemu_rss_mib"`
	IdleRSSMiB   float64   `json:"median_idle_qemu_rss_mib"`
}

// Target is one of the speed targets and where the medians put it.
type Target struct {
	What  string  `json:"what"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Unit  string  `json:"unit"` // "x" (a ratio), "s" or "MiB"
	Met   bool    `json:"met"`
}

// addTarget appends a target measured (value > 0): met when value is at
// most limit. An unmeasured value adds nothing.
func addTarget(ts []Target, what string, value, limit float64, unit string) []Target {
	if value <= 0 {
		return ts
	}
	return append(ts, Target{What: what, Value: round2(value), Limit: limit, Unit: unit, Met: value <= limit})
}

// CompareReport is what CompareVagrant measured.
type CompareReport struct {
	Lab            string           `json:"lab"`
	Virtualisation string           `json:"virtualisation"`
	CPUs           int              `json:"host_cpus"`
	CPUModel       string           `json:"host_cpu_model"`
	Kernel         string           `json:"host_kernel"`
	Vagrant        string           `json:"vagrant"`
	Started        time.Time        `json:"started"`
	Runs           []CompareRun     `json:"runs"`
	Variants       []CompareVariant `json:"variants"`
	Targets        []Target         `json:"targets"`
}

// CompareVagrant measures labctl against vagrant-libvirt on this machine
// in one run: the same nodes (count, CPUs, memory), the same kernel and
// root file system (the Vagrant box is made from labctl's plain image),
// the same Docker packages and container images. Each round brings every
// variant up at every node count and removes it again, so that whatever
// else the machine does weighs on all of them alike; the report gives
// medians, ratios, the targets and each idle node's memory.
func CompareVagrant(ctx context.Context, o CompareOptions) (rep CompareReport, err error) {
	if o.Say == nil {
		o.Say = func(string) {}
	}
	if o.Runs < 1 {
		return rep, fmt.Errorf("bench: %d runs: must be 1 or more", o.Runs)
	}
	if o.Subnet == "" {
		o.Subnet = "192.168.121.0/24"
	}
	l, err := lab.Open(o.Lab)
	if err != nil {
		return rep, err
	}
	defer l.Close()
	t, p := l.Topology, l.Plan
	version, err := compareChecks(l, o)
	if err != nil {
		return rep, err
	}
	if len(o.Counts) == 0 {
		o.Counts = []int{1}
		if len(t.Nodes) > 1 {
			o.Counts = append(o.Counts, len(t.Nodes))
		}
	}
	for _, n := range o.Counts {
		if n < 1 || n > len(t.Nodes) {
			return rep, fmt.Errorf("bench: %d nodes: the topology has %d", n, len(t.Nodes))
		}
	}
	accel, err := benchable(ctx, l)
	if err != nil {
		return rep, err
	}
	rep = CompareReport{Lab: p.Lab, Virtualisation: accel, CPUs: runtime.NumCPU(), CPUModel: cpuModel(), Kernel: kernelRelease(), Vagrant: version, Started: time.Now().UTC()}

	// Everything Vagrant needs, made before any timing starts.
	cache, err := l.Cache()
	if err != nil {
		return rep, err
	}
	work, err := cache.TempDir("vagrant-bench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(work)
	key, err := keys.Generate("labctl bench --vagrant")
	if err != nil {
		return rep, err
	}
	mgr, err := l.GatewayVMs(ctx)
	if err != nil {
		return rep, err
	}
	base := vagrant.Spec{
		PrivateKey: filepath.Join(work, "id_ed25519"), Driver: accel, Pool: p.Libvirt.Pool,
		Prefix: "vagrant-" + p.Lab + "-", Network: "vagrant-" + p.Lab, Subnet: o.Subnet,
		Bundle:     filepath.Join(work, "bundle.tar"),
		DaemonJSON: string(provision.DaemonJSON(p)), Out: o.Out,
	}
	if err := os.WriteFile(base.PrivateKey, key.PrivatePEM, 0o600); err != nil {
		return rep, err
	}
	if base.Archives, base.Packages, err = vagrant.BundleTar(ctx, cache, lab.DockerBundle, lab.LabImages, base.Bundle, discard(o.Out)); err != nil {
		return rep, err
	}
	// The command line labctl's own nodes boot with (norandmaps under
	// emulation), so that both sides run the same guest.
	aslr, err := vm.GuestASLR()
	if err != nil {
		return rep, err
	}
	specs := map[string]vagrant.Spec{}
	for _, v := range []struct {
		variant, image string
		ready          bool
	}{{VariantVagrant, PlainImage, false}, {VariantVagrantReady, DockerReadyImage, true}} {
		spec := base
		spec.Dir, spec.Box, spec.BoxFile, spec.DockerReady = filepath.Join(work, v.image), "labctl-bench-"+v.image, filepath.Join(work, v.image+".box"), v.ready
		o.Say("bench: making the Vagrant box from " + v.image)
		if err := vagrant.BuildBox(ctx, cache, v.image, key.AuthorizedKey(), spec.BoxFile, discard(o.Out)); err != nil {
			return rep, err
		}
		// Both images in the pool before any timing, as after a first up
		// (and their kernel and initrd for the box).
		_, boot, berr := mgr.Base(ctx, v.image)
		if berr != nil {
			return rep, berr
		}
		if boot.Kernel == "" {
			return rep, fmt.Errorf("image %s does not boot by direct kernel boot: the comparison needs its kernel and initrd", v.image)
		}
		spec.Kernel, spec.Initrd, spec.Cmdline = boot.Kernel, boot.Initrd, vm.KernelCmdline(boot.Cmdline, accel, aslr)
		if err := spec.Write(); err != nil {
			return rep, err
		}
		o.Say("bench: vagrant box add " + spec.Box)
		if err := spec.AddBox(ctx); err != nil {
			return rep, err
		}
		defer func() {
			// The box's volume in the pool (vagrant-libvirt uploads it on the
			// first up and leaves it) goes with the bench.
			gone, derr := mgr.DeleteVolumes(context.WithoutCancel(ctx), spec.Box+"_vagrant_box_image")
			if derr != nil {
				err = errors.Join(err, fmt.Errorf("remove the box's volume from pool %s: %w", p.Libvirt.Pool, derr))
			} else if len(gone) > 0 {
				o.Say("bench: removed " + strings.Join(gone, ", ") + " from pool " + p.Libvirt.Pool)
			}
		}()
		// vagrant-libvirt uploads the box into the pool on its first up: a
		// node brought up and destroyed before any timing, so that no round
		// measures that (labctl's images are in the pool already).
		o.Say("bench: warming up: vagrant up of one node of " + spec.Box + " without provisioning (puts the box into the pool; not timed)")
		warm := spec
		warm.Nodes = vagrantNodes(t, 1)
		if err := warm.Write(); err != nil {
			return rep, err
		}
		werr := warm.Vagrant(ctx, "up", "--provider=libvirt", "--no-provision")
		if derr := warm.Destroy(context.WithoutCancel(ctx)); werr == nil {
			werr = derr
		}
		if werr != nil {
			return rep, fmt.Errorf("bench: warming up vagrant: %w", werr)
		}
		specs[v.variant] = spec
	}

	for round := 1; round <= o.Runs; round++ {
		for _, n := range o.Counts {
			for _, v := range variants {
				o.Say(fmt.Sprintf("bench: round %d of %d: %d node(s): %s", round, o.Runs, n, v))
				var r CompareRun
				if spec, ok := specs[v]; ok {
					r, err = vagrantRun(ctx, spec, t, n)
				} else {
					img := DockerReadyImage
					if v == VariantBundle {
						img = PlainImage
					}
					r, err = labctlRun(ctx, o, t, img, n)
				}
				r.Round, r.Variant, r.Nodes, r.VCPUs = round, v, n, benchVCPUs(t.Nodes[0], n)
				rep.Runs = append(rep.Runs, r)
				if err != nil {
					rep.summarise(o.Counts)
					return rep, fmt.Errorf("bench round %d, %d node(s), %s: %w", round, n, v, err)
				}
			}
		}
	}
	rep.summarise(o.Counts)
	return rep, nil
}

// compareChecks refuses what the comparison cannot measure fairly, before
// anything is made, and returns Vagrant's version.
func compareChecks(l *lab.Lab, o CompareOptions) (string, error) {
	if u := l.Plan.Libvirt.URI; u != "qemu:///system" {
		return "", fmt.Errorf("bench --vagrant: libvirt.uri is %s: the comparison runs both tools on this machine's qemu:///system", u)
	}
	sub, err := netip.ParsePrefix(o.Subnet)
	if err != nil || !sub.Addr().Is4() {
		return "", fmt.Errorf("--vagrant-subnet %q: want an IPv4 subnet such as 192.168.121.0/24", o.Subnet)
	}
	for _, n := range l.Plan.Networks {
		if q, err := netip.ParsePrefix(n.Subnet); err == nil && q.Overlaps(sub) {
			return "", fmt.Errorf("--vagrant-subnet %s overlaps the lab's network %s (%s): choose another", sub, n.Name, q)
		}
	}
	out, err := osexec.Command("vagrant", "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("bench --vagrant needs vagrant with the vagrant-libvirt plugin (Debian: apt install vagrant vagrant-libvirt): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// labctlRun is one labctl up of the first n nodes from image, measured.
func labctlRun(ctx context.Context, o CompareOptions, t *topology.Topology, image string, n int) (CompareRun, error) {
	one := *t
	one.SetImage(image) // as named, never swapped for the Docker-ready image
	one.Nodes = t.Nodes[:n]
	lo := o.Lab
	lo.Topology = &one
	var mem []NodeMemory
	br, err := benchRun(ctx, o.Say, lo, image, n, false, func(l *lab.Lab) error {
		var domains []string
		for _, node := range l.Plan.Nodes {
			c, err := l.Node(ctx, node.Name)
			if err != nil {
				return err
			}
			out, err := c.Run(ctx, "cat /proc/meminfo")
			c.Close()
			if err != nil {
				return err
			}
			m, err := nodeMemory(node.Name, node.Domain, out)
			if err != nil {
				return err
			}
			mem = append(mem, m)
			domains = append(domains, node.Domain)
		}
		return settle(ctx, mem, domains)
	})
	return CompareRun{UpS: br.UpS, Phases: br.Phases, Memory: mem, DownS: br.DownS}, err
}

// vagrantRun is one vagrant up of the first n nodes, measured, then
// vagrant destroy.
func vagrantRun(ctx context.Context, s vagrant.Spec, t *topology.Topology, n int) (r CompareRun, err error) {
	s.Nodes = vagrantNodes(t, n)
	if err := s.Write(); err != nil {
		return r, err
	}
	defer func() {
		ds := time.Now()
		derr := s.Destroy(context.WithoutCancel(ctx))
		r.DownS = round2(time.Since(ds).Seconds())
		err = errors.Join(err, derr)
	}()
	start := time.Now()
	if err := s.Up(ctx); err != nil {
		return r, err
	}
	r.UpS = round2(time.Since(start).Seconds())
	var domains []string
	for _, node := range s.Nodes {
		info, err := s.Meminfo(ctx, node.Name)
		if err != nil {
			return r, err
		}
		m, err := nodeMemory(node.Name, s.Domain(node.Name), info)
		if err != nil {
			return r, err
		}
		r.Memory = append(r.Memory, m)
		domains = append(domains, s.Domain(node.Name))
	}
	return r, settle(ctx, r.Memory, domains)
}

// vagrantNodes are the topology's first n nodes as Vagrant machines: the
// same names, CPUs and memory.
func vagrantNodes(t *topology.Topology, n int) []vagrant.Node {
	var ns []vagrant.Node
	for _, node := range t.Nodes[:n] {
		ns = append(ns, vagrant.Node{Name: node.Name, CPUs: benchVCPUs(node, n), MemoryMiB: int(node.Memory.MiB())})
	}
	return ns
}

// benchVCPUs is what labctl's up gives node in a lab of n nodes on this
// machine, so that Vagrant's nodes get as many.
func benchVCPUs(node topology.Node, n int) int {
	return vm.VCPUs(plan.Node{CPUs: node.CPUs, CPUsAuto: node.CPUsDefaulted()}, runtime.NumCPU(), 0, n)
}

// nodeMemory combines the guest's /proc/meminfo with its QEMU's resident
// size.
func nodeMemory(node, domain string, meminfo []byte) (NodeMemory, error) {
	info := parseMeminfo(meminfo)
	total, ok1 := info["MemTotal"]
	avail, ok2 := info["MemAvailable"]
	if !ok1 || !ok2 {
		return NodeMemory{}, fmt.Errorf("%s: /proc/meminfo has no MemTotal or MemAvailable", node)
	}
	rss, err := qemuRSS(domain)
	if err != nil {
		return NodeMemory{}, fmt.Errorf("%s: %w", node, err)
	}
	return NodeMemory{Node: node, GuestUsedMiB: kib2mib(total - avail), GuestTotalMiB: kib2mib(total), QEMURSSMiB: kib2mib(rss)}, nil
}

// qemuRSS is the resident memory (KiB) of a running domain's QEMU process,
// found by the pid file libvirt's QEMU driver keeps.
func qemuRSS(domain string) (int64, error) {
	pidFile := filepath.Join("/run/libvirt/qemu", domain+".pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("QEMU's pid: %w", err)
	}
	status, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(b)), "status"))
	if err != nil {
		return 0, fmt.Errorf("QEMU's status: %w", err)
	}
	if v, ok := parseMeminfo(status)["VmRSS"]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("no VmRSS in the status of QEMU (pid file %s)", pidFile)
}

// parseMeminfo reads "Name: value kB" lines (/proc/meminfo, and
// /proc/PID/status for VmRSS).
func parseMeminfo(b []byte) map[string]int64 {
	m := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			m[strings.TrimSpace(k)] = n
		}
	}
	return m
}

func kib2mib(k int64) float64 { return round2(float64(k) / 1024) }

// summarise computes the medians and the targets.
func (rep *CompareReport) summarise(counts []int) {
	rep.Variants, rep.Targets = nil, nil
	med := map[string]float64{}
	var dockerReadyRSS []float64
	key := func(v string, n int) string { return v + "/" + strconv.Itoa(n) }
	for _, n := range counts {
		for _, v := range variants {
			cv := CompareVariant{Variant: v, Nodes: n}
			var used, rss, idle []float64
			for _, r := range rep.Runs {
				if r.Variant != v || r.Nodes != n || r.UpS == 0 || len(r.Memory) == 0 {
					continue
				}
				cv.Ups, cv.VCPUs = append(cv.Ups, r.UpS), r.VCPUs
				for _, m := range r.Memory {
					used, rss, idle = append(used, m.GuestUsedMiB), append(rss, m.QEMURSSMiB), append(idle, m.IdleQEMURSSMiB)
				}
			}
			if len(cv.Ups) == 0 {
				continue
			}
			cv.MedianUpS, cv.GuestUsedMiB, cv.QEMURSSMiB, cv.IdleRSSMiB = median(cv.Ups), median(used), median(rss), median(idle)
			if v == VariantDockerReady {
				dockerReadyRSS = append(dockerReadyRSS, idle...)
			}
			med[key(v, n)] = cv.MedianUpS
			rep.Variants = append(rep.Variants, cv)
		}
	}
	target := func(what string, value, limit float64, unit string) {
		rep.Targets = addTarget(rep.Targets, what, value, limit, unit)
	}
	ratio := func(a, b string, n int) float64 {
		if med[key(b, n)] == 0 {
			return 0
		}
		return med[key(a, n)] / med[key(b, n)]
	}
	// The targets of the yardstick: Docker-ready in 35 s for one node and
	// 55 s for the largest count, at most a quarter of vagrant-libvirt's
	// time there, the plain image and the bundle at most 0.6x of it, the
	// largest count at most 1.5x one node, and each idle node's QEMU at
	// most 600 MiB.
	target("Docker-ready image, 1 node", med[key(VariantDockerReady, 1)], 35, "s")
	// labctl against vagrant-libvirt on the same Docker-ready image: at
	// most 0.6x, at every count.
	for _, n := range counts {
		target(fmt.Sprintf("Docker-ready image, %d node(s), over vagrant-libvirt on a box of it", n), ratio(VariantDockerReady, VariantVagrantReady, n), 0.6, "x")
	}
	if len(counts) > 1 {
		big := counts[len(counts)-1]
		target(fmt.Sprintf("Docker-ready image, %d nodes", big), med[key(VariantDockerReady, big)], 55, "s")
		target(fmt.Sprintf("Docker-ready image, %d nodes, over vagrant-libvirt", big), ratio(VariantDockerReady, VariantVagrant, big), 0.25, "x")
		target(fmt.Sprintf("plain image + offline bundle, %d nodes, over vagrant-libvirt", big), ratio(VariantBundle, VariantVagrant, big), 0.6, "x")
		if med[key(VariantDockerReady, 1)] > 0 {
			target(fmt.Sprintf("Docker-ready image, %d nodes over 1 node", big), med[key(VariantDockerReady, big)]/med[key(VariantDockerReady, 1)], 1.5, "x")
		}
	}
	target("QEMU RSS of an idle node (Docker-ready image)", median(dockerReadyRSS), 600, "MiB")
}

func discard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// cpuModel is the host CPU's model name, for the report.
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func kernelRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}
