package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/internal/atomicfile"
	"github.com/labctl/labctl/internal/termtext"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/provision"
	"github.com/labctl/labctl/topology"
	"github.com/labctl/labctl/vm"
	"github.com/labctl/labctl/workshop"
	"github.com/spf13/cobra"
)

func newWorkshopCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workshop",
		Short: "Many identical labs (seats) from one topology",
		Long: `A workshop is N labs ("seats") made from one topology: seat N is the lab
NAME-sNN (--lab is NAME). Everything of a seat that meets the host - its
libvirt names, bridges and MACs, its NAT and host-only subnets, the ipvlan L3
subnets the host routes - is derived from the seat's number, so seats never
overlap; what lives inside a seat's own networks (VLANs, Docker's pools, the
tutorial's container addresses) stays as the topology has it.`,
	}
	cmd.AddCommand(newWorkshopPlanCmd(g), newWorkshopUpCmd(g), newWorkshopStatusCmd(g), newWorkshopCheckCmd(g), newWorkshopCardsCmd(g), newWorkshopResetCmd(g), newWorkshopSnapshotCmd(g), newWorkshopServeCmd(g), newWorkshopDownCmd(g))
	return cmd
}

func newWorkshopPlanCmd(g *globals) *cobra.Command {
	var wf workshopFlags
	cmd := &cobra.Command{
		Use:   "plan --seats N [--hypervisor NAME=CPUS,MEMORY]...",
		Short: "Show each seat's lab, subnets and hypervisor, without creating anything",
		Long: `Plan the seats: each seat's lab name, NAT and host-only subnets (from
--space, two per seat), ipvlan L3 subnets (from --l3-space) and the
hypervisor it goes to. With --hypervisor (repeatable) seats are placed whole
on the hypervisor with the most free memory that fits them, within each
one's CPUs and memory; without, all seats are on this machine: its memory,
less 1 GiB for itself, is never overcommitted, and its CPUs carry up to
--cpu-overcommit vCPUs each (4 unless given; idle seats need little CPU,
but seats come up more slowly the more share a CPU). Every seat's
topology is validated; nothing is created.`,
		Example: `  labctl workshop plan --lab ws --seats 20
  labctl workshop plan --lab ws --seats 20 --cpu-overcommit 10
  labctl workshop plan --lab ws --seats 40 --hypervisor hv1=48,96GiB --hypervisor hv2=48,96GiB -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, _, err := g.workshopPlan(wf)
			if err != nil {
				return err
			}
			return g.emit(p, func() error {
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SEAT\tLAB\tHYPERVISOR\tCPUS\tMEMORY\tNAT\tHOST-ONLY\tIPVLAN L3")
				for _, s := range p.Seats {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%dMiB\t%s\t%s\t%s\n", s.N, s.Lab, s.Hypervisor, s.CPUs, s.MemoryMiB, s.NAT, s.HostOnly, strings.Join(s.L3, ","))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(g.stdout)
				tw = tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "HYPERVISOR\tSEATS\tCPUS USED\tMEMORY USED")
				for _, l := range p.Load {
					capCPU, capMem := "-", "-"
					if l.CPUs > 0 || l.MemoryMiB > 0 {
						capCPU, capMem = strconv.Itoa(l.CPUs), fmt.Sprintf("%dMiB", l.MemoryMiB)
					}
					fmt.Fprintf(tw, "%s\t%d\t%d of %s\t%dMiB of %s\n", l.Name, len(l.Seats), l.UsedCPUs, capCPU, l.UsedMemoryMiB, capMem)
				}
				return tw.Flush()
			})
		},
	}
	wf.add(cmd)
	return cmd
}

// workshopFlags are how a workshop is planned: 'workshop plan' and
// 'workshop up' take the same, so that up brings up what plan showed.
type workshopFlags struct {
	seats          int
	hypervisors    []string
	space, l3space string
	overcommit     int
}

func (wf *workshopFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVar(&wf.seats, "seats", 0, "how many seats (1 to 999)")
	cmd.Flags().StringArrayVar(&wf.hypervisors, "hypervisor", nil, "NAME=CPUS,MEMORY of a hypervisor to place seats on (repeatable), e.g. hv1=48,96GiB")
	cmd.Flags().StringVar(&wf.space, "space", "", "where the seats' NAT and host-only subnets come from (default "+workshop.DefaultSpace.String()+")")
	cmd.Flags().StringVar(&wf.l3space, "l3-space", "", "where the seats' ipvlan L3 subnets come from (default "+workshop.DefaultL3Space.String()+")")
	cmd.Flags().IntVar(&wf.overcommit, "cpu-overcommit", workshop.DefaultCPUOvercommit, fmt.Sprintf("seats on this machine: vCPUs allowed per CPU, 1 to %d (idle seats need little CPU; bringing many up at once is slower)", workshop.MaxCPUOvercommit))
}

// options checks the flags, each error naming the flag as the user wrote
// it, and returns the workshop's options.
func (wf *workshopFlags) options(name string) (workshop.Options, error) {
	o := workshop.Options{Name: name, Seats: wf.seats, CPUOvercommit: wf.overcommit}
	if wf.seats < 1 || wf.seats > 999 {
		return o, usageErr("--seats %d: 1 to 999 seats", wf.seats)
	}
	if err := workshop.CheckCPUOvercommit(wf.overcommit); err != nil {
		return o, usageErr("--cpu-overcommit %d: %v", wf.overcommit, err)
	}
	if wf.overcommit != workshop.DefaultCPUOvercommit && len(wf.hypervisors) > 0 {
		return o, usageErr("--cpu-overcommit is for seats on this machine; with --hypervisor, CPUS is the vCPUs each one may carry")
	}
	seen := map[string]bool{}
	for _, h := range wf.hypervisors {
		hv, err := parseHypervisor(h)
		if err != nil {
			return o, usageErr("--hypervisor %s: %v", topology.Quote(h), err)
		}
		if seen[hv.Name] {
			return o, usageErr("--hypervisor %s: hypervisor %s is given twice", topology.Quote(h), hv.Name)
		}
		seen[hv.Name] = true
		o.Hypervisors = append(o.Hypervisors, hv)
	}
	for _, s := range []struct {
		flag, v string
		dst     *netip.Prefix
	}{{"--space", wf.space, &o.Space}, {"--l3-space", wf.l3space, &o.L3Space}} {
		if s.v == "" {
			continue
		}
		p, err := workshop.ParseSpace(s.v)
		if err != nil {
			return o, usageErr("%s %s: %v", s.flag, topology.Quote(s.v), err)
		}
		*s.dst = p
	}
	return o, nil
}

// parseHypervisor reads NAME=CPUS,MEMORY.
func parseHypervisor(s string) (workshop.Hypervisor, error) {
	name, rest, ok := strings.Cut(s, "=")
	cpus, mem, ok2 := strings.Cut(rest, ",")
	if !ok || !ok2 || name == "" {
		return workshop.Hypervisor{}, fmt.Errorf("use NAME=CPUS,MEMORY, e.g. hv1=48,96GiB")
	}
	if !hypervisorNameRE.MatchString(name) {
		return workshop.Hypervisor{}, fmt.Errorf("NAME %s: lowercase letters, digits and '-', at most 24", topology.Quote(name))
	}
	n, err := strconv.Atoi(cpus)
	if err != nil || n < 1 || n > 4096 {
		return workshop.Hypervisor{}, fmt.Errorf("CPUS %s: a whole number of vCPUs, 1 to 4096", topology.Quote(cpus))
	}
	b, err := topology.Size(mem).Bytes()
	if err != nil {
		return workshop.Hypervisor{}, fmt.Errorf("MEMORY %s: %v", topology.Quote(mem), err)
	}
	if b < 256<<20 || b > 1<<50 {
		return workshop.Hypervisor{}, fmt.Errorf("MEMORY %s: 256MiB to 1PiB", topology.Quote(mem))
	}
	return workshop.Hypervisor{Name: name, CPUs: n, MemoryMiB: b >> 20}, nil
}

var hypervisorNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$`)

// workshopPlan plans the workshop the flags name.
func (g *globals) workshopPlan(wf workshopFlags) (*workshop.Plan, workshop.Record, error) {
	o, err := wf.options(g.lab)
	if err != nil {
		return nil, workshop.Record{}, err
	}
	if len(o.Hypervisors) == 0 {
		if o.Machine, err = workshop.ThisMachine(); err != nil {
			return nil, workshop.Record{}, fmt.Errorf("the size of this machine: %w", err)
		}
	}
	t, _, err := g.loadPlan(true)
	if err != nil {
		return nil, workshop.Record{}, err
	}
	p, err := workshop.New(t, o)
	if err != nil {
		return nil, workshop.Record{}, err
	}
	for _, w := range p.Warnings {
		fmt.Fprintln(g.stderr, "labctl: warning: "+w)
	}
	space, l3 := workshop.DefaultSpace, workshop.DefaultL3Space
	if o.Space.IsValid() {
		space = o.Space
	}
	if o.L3Space.IsValid() {
		l3 = o.L3Space
	}
	rec := workshop.Record{Name: g.lab, Seats: o.Seats, Space: space.String(), L3Space: l3.String(), Topology: t.File()}
	return p, rec, nil
}

func (g *globals) workshopRunner(parallel int) *workshop.Runner {
	return &workshop.Runner{Name: g.lab, Parallel: parallel, Log: g.log, Progress: func(seat, node, msg string) {
		g.progress(seat+"/"+node, msg)
	}, OpenHypervisor: g.openHypervisor, ConnectNodes: g.connectNodes, OpenJumpHost: g.openJumpHost}
}

func newWorkshopUpCmd(g *globals) *cobra.Command {
	var wf workshopFlags
	var parallel int
	var docker, jump string
	var noProvision bool
	cmd := &cobra.Command{
		Use:   "up --seats N [--jump ADDRESS[:PORT]]",
		Short: "Bring every seat up (several at once); again carries on, and adds seats",
		Long: `Plan the seats (as 'workshop plan' shows them), write each seat's topology
into the workshop's state directory, and bring the seats up --parallel at a
time, each as 'labctl up' does: VMs, SSH with pinned host keys, Docker. Every
seat has its own key pair; 'labctl --lab NAME-sNN ...' works on one seat.
Running it again carries on after a failure; a larger --seats adds seats.

Students on their own laptops: --jump ADDRESS[:PORT] (port 2222 unless
given) is this machine's address on the room's network. labctl runs an sshd
of its own there, a jump host whose only use is forwarding each seat's key
to its own nodes' SSH (no shell, no other seat, no other address or port);
the cards' ssh_config goes through it, so 'ssh -F seat-07/ssh_config node1'
works from any laptop with OpenSSH that reaches that address. Up again
without --jump keeps it; 'workshop down' removes it.

Seats on several hypervisors: list them in the topology (hypervisors:, each
with name, uri, address, cpus and memory). Each seat goes whole to one (its
gateway there; seats never span hypervisors), as 'workshop plan' shows, and
the hypervisors bring their seats up at once, --parallel each. Every
hypervisor runs a jump host for its seats at its address (port 2222, or
--jump :PORT).`,
		Example: `  sudo labctl --lab ws workshop up --seats 2
  sudo labctl --lab ws workshop up --seats 30 --jump 192.168.1.20
  sudo labctl --lab ws workshop cards ./cards`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, rec, err := g.workshopPlan(wf)
			if err != nil {
				return err
			}
			if jump != "" {
				ap, err := parseJump(jump)
				if err != nil {
					return usageErr("--jump %s: %v", topology.Quote(jump), err)
				}
				spread := len(p.Seats) > 0 && len(p.Seats[0].Plan.Hypervisors) > 0
				if spread && !ap.Addr().IsUnspecified() {
					return usageErr("--jump %s: the seats are on the topology's hypervisors, whose jump hosts listen at each one's address: give only the port (--jump :%d)", topology.Quote(jump), ap.Port())
				}
				if !spread && ap.Addr().IsUnspecified() {
					return usageErr("--jump %s: give the address students reach this machine at, e.g. 192.168.1.20:%d", topology.Quote(jump), ap.Port())
				}
				rec.Jump = ap.String()
			}
			start := time.Now()
			var names []string
			for _, s := range p.Seats {
				for _, n := range s.Plan.Nodes {
					names = append(names, s.Lab+"/"+n.Name)
				}
			}
			g.startLive("seat nodes", names, dockerReady(noProvision))
			err = g.workshopRunner(parallel).Up(cmd.Context(), p, rec, lab.UpOptions{Docker: docker, NoProvision: noProvision})
			g.stopLive()
			if err != nil {
				return fmt.Errorf("workshop %s: up: %w\n(run 'labctl --lab %s workshop up' again with the same flags to carry on)", g.lab, err, g.lab)
			}
			fmt.Fprintf(g.stdout, "workshop %s: %d seats up in %s\n", g.lab, rec.Seats, time.Since(start).Round(time.Second))
			return nil
		},
	}
	wf.add(cmd)
	cmd.Flags().IntVar(&parallel, "parallel", 2, "seats brought up at once")
	cmd.Flags().StringVar(&docker, "docker", provision.InstallOffline, "how to install Docker: offline or online")
	cmd.Flags().BoolVar(&noProvision, "no-provision", false, "only create and start the seats' VMs (no Docker, no reset snapshot: a later 'workshop up' adds both)")
	cmd.Flags().StringVar(&jump, "jump", "", "ADDRESS[:PORT] of this machine on the room's network, where students' laptops log in (a jump host; port 2222 unless given)")
	return cmd
}

// parseJump reads ADDRESS[:PORT], an IPv4 address of this machine and a
// port (workshop.DefaultJumpPort unless given).
func parseJump(s string) (netip.AddrPort, error) {
	if port, ok := strings.CutPrefix(s, ":"); ok {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return netip.AddrPort{}, fmt.Errorf("port %s: 1 to 65535", topology.Quote(port))
		}
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(n)), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if !ap.Addr().Is4() || ap.Port() == 0 {
			return ap, fmt.Errorf("an IPv4 address and a port from 1 to 65535, e.g. 192.168.1.20:2222")
		}
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || a.IsUnspecified() || a.IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("the IPv4 address students reach this machine at, with an optional :PORT, e.g. 192.168.1.20 or 192.168.1.20:2222")
	}
	return netip.AddrPortFrom(a, workshop.DefaultJumpPort), nil
}

func newWorkshopDownCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "down",
		Example: "  sudo labctl --lab ws workshop down",
		Short:   "Remove every seat (also without the workshop's state), then its state",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, p, err := g.loadPlan(true)
			if err != nil {
				return err
			}
			removed, err := g.workshopRunner(4).Down(cmd.Context(), p)
			fmt.Fprintf(g.stdout, "workshop %s: removed %d seats %s\n", g.lab, len(removed), strings.Join(removed, " "))
			return err
		},
	}
}

func newWorkshopStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "status",
		Example: "  sudo labctl --lab ws workshop status\n  sudo labctl --lab ws workshop status -o json",
		Short:   "Seats x nodes: the VM running, SSH answering, Docker answering",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rows, err := g.workshopRunner(4).Status(cmd.Context())
			if err != nil && rows == nil {
				return err
			}
			bad := false
			notReady := map[int]bool{}
			var seats []int
			for _, r := range rows {
				if len(seats) == 0 || seats[len(seats)-1] != r.Seat {
					seats = append(seats, r.Seat)
				}
				if !r.Ready() {
					bad, notReady[r.Seat] = true, true
				}
			}
			rerr := g.emit(map[string]any{"nodes": rows}, func() error {
				tw := tabwriter.NewWriter(termtext.Writer(g.stdout), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SEAT\tLAB\tNODE\tVM\tSSH\tDOCKER")
				for _, r := range rows {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Seat, r.Lab, r.Node, r.VM, r.SSH, r.Docker)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(g.stdout, readySummary(seats, notReady))
				return nil
			})
			if rerr != nil {
				return rerr
			}
			if err != nil {
				return err
			}
			if bad {
				return &exitError{code: 1, msg: "some seats are not ready (see above)"}
			}
			return nil
		},
	}
}

func newWorkshopCheckCmd(g *globals) *cobra.Command {
	var checkOnly bool
	var seatTimeout time.Duration
	var parallel int
	var html string
	cmd := &cobra.Command{
		Use:   "check NAME...|FILE...",
		Short: "Run labs on every seat at once and print a seats x checks matrix",
		Long: `Run the labs on every seat, --parallel seats at a time, and print a matrix:
a row per seat, a column per check, pass or FAIL, then the evidence of
every failed check per seat. --check-only runs only the checks against what
each student built (see 'labctl lab check'), instead of building it.`,
		Example: `  labctl --lab ws workshop check bridge
  labctl --lab ws workshop check user-bridge --check-only -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.catalog()
			if err != nil {
				return err
			}
			run, err := c.Resolve(args)
			if err != nil {
				return usageErr("workshop check: %v", err)
			}
			w := g.workshopRunner(parallel)
			w.SeatTimeout = seatTimeout
			srs, err := w.Check(cmd.Context(), run, checkOnly)
			if err != nil && srs == nil {
				return err
			}
			m := workshop.NewMatrix(g.lab, srs)
			if html != "" {
				var b bytes.Buffer
				if err := m.WriteHTML(&b); err != nil {
					return err
				}
				if err := atomicfile.Write(html, b.Bytes(), 0o644); err != nil {
					return err
				}
			}
			// After the progress events, one line each (as 'lab run'): the
			// result, one line too.
			if g.output == "json" {
				if err := g.writeJSONLine(workshopCheckResult{Type: "result", Columns: m.Columns, Seats: srs}); err != nil {
					return err
				}
			} else {
				writeMatrix(g, m)
			}
			if m.Failed() {
				return &exitError{code: 1}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&checkOnly, "check-only", false, "only the checks, against what each student built")
	cmd.Flags().StringVar(&html, "html", "", "also write the matrix as one self-contained HTML page to FILE")
	cmd.Flags().IntVar(&parallel, "parallel", 2, "seats at once")
	cmd.Flags().DurationVar(&seatTimeout, "seat-timeout", workshop.DefaultSeatTimeout, "stop checking a seat after this long and mark it timed out (each check also stops after its own deadline)")
	return cmd
}

// workshopCheckResult is what 'workshop check -o json' ends with.
type workshopCheckResult struct {
	Type    string                `json:"type"` // "result"
	Columns []string              `json:"columns"`
	Seats   []workshop.SeatReport `json:"seats"`
}

// writeMatrix prints seats x checks and the failures' evidence.
func writeMatrix(g *globals, m workshop.Matrix) {
	out := termtext.Writer(g.stdout) // names and errors come from seats
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	head := "SEAT"
	for i := range m.Columns {
		head += fmt.Sprintf("\tC%d", i+1)
	}
	fmt.Fprintln(tw, head+"\tPASSED\tFAILED")
	for _, r := range m.Rows {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\n", r.Seat, strings.Join(r.Cells, "\t"), r.Passed, r.Failed)
	}
	tw.Flush()
	fmt.Fprintln(out)
	for i, c := range m.Columns {
		fmt.Fprintf(out, "C%d  %s\n", i+1, c)
	}
	for _, r := range m.Rows {
		if r.Failed == 0 {
			continue
		}
		fmt.Fprintf(out, "\nseat %d (%s):\n", r.Seat, r.Lab)
		if r.Error != "" {
			fmt.Fprintf(out, "  %s\n", r.Error)
		}
		if len(r.Failures) > 0 {
			exercise.WriteText(out, r.Failures)
		}
	}
}

func newWorkshopCardsCmd(g *globals) *cobra.Command {
	var names, serveAt, certFile string
	cmd := &cobra.Command{
		Use:   "cards DIR [--names FILE]",
		Short: "Write an access card per seat (HTML, text, JSON, with its key and ssh_config), an index and a printable sheet",
		Long: `Write into DIR one folder per seat: card.html (printable, self-contained),
card.txt and card.json - the seat, the ssh command per node, the addresses,
each lab with the commands that build it on this seat - with the seat's
private key, ssh_config and known_hosts (its nodes' and the jump host's
keys) beside them; index.html for the instructor and cards.html, every card
on one printable sheet, a page each. Hand each student their folder: from
where it is saved, 'ssh -F seat-07/ssh_config node1' works with plain
OpenSSH (Linux, macOS, Windows 10 and later) and strict host key checking;
one seat's key opens no other seat. Without 'workshop up --jump' the
commands work on this machine only.

--names FILE puts a student's name on each card: one per line, seat 1 first
(a blank line leaves a seat without one).

--url https://HOST:PORT, where 'workshop serve' is (or will be) reached, puts
on each card the seat's browser link with its token, as text and as a QR
code, and the SHA-256 fingerprint of the server's certificate: its own
(made now if serve has not made it yet, for HOST) or the one of --cert.`,
		Example: `  labctl --lab ws workshop cards ./cards && xdg-open cards/index.html
  labctl --lab ws workshop cards ./cards --names students.txt
  labctl --lab ws workshop cards ./cards --url https://192.0.2.10:8443`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.catalog()
			if err != nil {
				return err
			}
			w := g.workshopRunner(1)
			o := workshop.CardOptions{Exercises: c.All()}
			if names != "" {
				seats, err := w.Seats()
				if err != nil {
					return err
				}
				if o.Names, err = workshop.ReadNames(names, len(seats)); err != nil {
					return usageErr("--names: %v", err)
				}
			}
			if serveAt != "" {
				if o.Browser, o.Fingerprint, err = g.browserLinks(w, serveAt, certFile); err != nil {
					return err
				}
			}
			cards, err := w.Cards(args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%d cards in %s (index: %s, every card to print: %s)\n", len(cards), args[0],
				filepath.Join(args[0], "index.html"), filepath.Join(args[0], "cards.html"))
			return nil
		},
	}
	cmd.Flags().StringVar(&names, "names", "", "a file of students' names, one per line in seat order")
	cmd.Flags().StringVar(&serveAt, "url", "", "https://HOST:PORT of 'workshop serve': each card gets its seat's browser link and QR code")
	cmd.Flags().StringVar(&certFile, "cert", "", "with --url: the certificate serve is given (--cert), for its fingerprint on the cards")
	return cmd
}

func newWorkshopResetCmd(g *globals) *cobra.Command {
	var stage string
	cmd := &cobra.Command{
		Use:   "reset SEAT [--stage NAME]",
		Short: "Put a seat back to right after its up, or to a stage's snapshot (memory included)",
		Long: `Revert every node of seat SEAT to the snapshot 'workshop up' took when the
seat first came up (disk and memory: no boot), or with --stage to the
stage's snapshot 'workshop snapshot NAME' took, and set the nodes' clocks
to now. What the student did on the seat since is gone; the seat's keys,
addresses and access card stay valid.`,
		Example: `  sudo labctl --lab ws workshop reset 7
  sudo labctl --lab ws workshop reset 7 --stage after-bridge`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil {
				return usageErr("workshop reset: %q is not a seat number", args[0])
			}
			if stage != "" {
				if err := vm.ValidStage(stage); err != nil {
					return usageErr("--stage: %v", err)
				}
			}
			start := time.Now()
			if err := g.workshopRunner(1).ResetTo(cmd.Context(), n, stage); err != nil {
				return err
			}
			to := ""
			if stage != "" {
				to = " to stage " + stage
			}
			fmt.Fprintf(g.stdout, "workshop %s: seat %d reset%s in %s\n", g.lab, n, to, time.Since(start).Round(100*time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&stage, "stage", "", "the stage to go back to (taken by 'workshop snapshot NAME'); default: right after up")
	return cmd
}

func newWorkshopSnapshotCmd(g *globals) *cobra.Command {
	var parallel int
	cmd := &cobra.Command{
		Use:   "snapshot STAGE",
		Short: "Snapshot every seat as it is now, as a stage any seat can be reset to",
		Long: `Take a snapshot of every node of every seat (disk and memory), named by
STAGE, replacing that stage's earlier snapshot: 'workshop reset SEAT --stage
STAGE' then puts one seat back to it, for a student who is lost after the
class has moved on. A stage's name is 1 to 32 lower-case letters, digits and
dashes. The snapshot pauses each node for a moment.`,
		Example: `  sudo labctl --lab ws workshop snapshot after-bridge`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := vm.ValidStage(args[0]); err != nil {
				return usageErr("workshop snapshot: %v", err)
			}
			start := time.Now()
			if err := g.workshopRunner(parallel).SnapshotStage(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "workshop %s: every seat's snapshot of stage %s taken in %s\n", g.lab, args[0], time.Since(start).Round(100*time.Millisecond))
			return nil
		},
	}
	cmd.Flags().IntVar(&parallel, "parallel", 4, "seats at once")
	return cmd
}

// readySummary is status's last line: "27/30 seats ready; not ready: 4,
// 18, 22".
func readySummary(seats []int, notReady map[int]bool) string {
	var bad []string
	for _, s := range seats {
		if notReady[s] {
			bad = append(bad, strconv.Itoa(s))
		}
	}
	line := fmt.Sprintf("%d/%d seats ready", len(seats)-len(bad), len(seats))
	if len(bad) > 0 {
		line += "; not ready: " + strings.Join(bad, ", ")
	}
	return line
}
