package main

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/provision"
	"github.com/labctl/labctl/state"
	"github.com/labctl/labctl/vm"
	"github.com/spf13/cobra"
)

func newUpCmd(g *globals) *cobra.Command {
	var parallel int
	var bootTimeout time.Duration
	var dockerMode string
	var noProvision bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create and start the lab's VMs (whatever is missing), and wait until they answer on SSH",
		Long: `Create the lab: the storage pool and base image volume, the NAT and host-only
networks, each node's copy-on-write disk and first-boot seed, and its domain;
start everything and wait until each node's SSH server answers on its
host-only address. Then provision every node over SSH: Docker installed
(from the offline bundle, or online with --docker online), the lab user in
the docker group, the busybox and nginx images loaded, and the Docker API
checked through the SSH connection. Afterwards 'ssh node1' and
'docker -H ssh://node1' work once 'labctl ssh-config --install' was run.

A topology with hypervisors: spreads the nodes over several libvirt hosts:
up connects to each (qemu+ssh://, its host key pinned on first use), checks
them all before creating anything, then on each at once makes the networks,
the VXLAN devices joining them to the other hypervisors, and its nodes. An
error names the hypervisor; up again carries on (see 'labctl plan').

'up' keeps what exists and creates what is missing: after Ctrl-C or a crash,
run it again and it carries on. Before creating anything it checks that the
lab's subnets are free on this host. The image must be in the cache
('sudo labctl image build' or 'labctl image pull ...'). A topology that
names no image boots the Docker-ready image debian-12-docker when the cache
has it, else debian-12 with Docker installed from the offline bundle; up
says which, and the lab keeps that choice until 'labctl down'.

Under software emulation (no KVM) nodes get a translation cache of ` + strconv.Itoa(vm.DefaultTBCacheMiB) + ` MiB
(LABCTL_TCG_CACHE_MIB=N sets it) and boot with norandmaps, so that QEMU
reuses what it translated from one run of a program to the next
(LABCTL_GUEST_ASLR=1 keeps address space randomisation). KVM nodes get a
balloon that hands the pages their guest frees back to the host
(LABCTL_FREE_PAGE_REPORTING=1 gives it to emulated nodes too, at some
cost in speed; 0 to none).

Remove everything again with 'labctl down'.

With --output json, progress is printed as JSON lines {"type":"event",...}
and the last line is {"type":"result",...} with the per-phase timings.`,
		Example: `  sudo labctl up
  sudo labctl up --lab workshop-3 -f lab.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dockerMode != provision.InstallOffline && dockerMode != provision.InstallOnline {
				return usageErr("--docker %q: use offline or online", dockerMode)
			}
			l, err := g.openLab("labctl up", true) // up applies a changed file
			if err != nil {
				return err
			}
			defer l.Close()
			start := time.Now()
			var names []string
			for _, n := range l.Plan.Nodes {
				names = append(names, n.Name)
			}
			g.startLive("nodes", names, dockerReady(noProvision))
			err = l.Up(cmd.Context(), lab.UpOptions{Parallel: parallel, BootTimeout: bootTimeout, Docker: dockerMode, NoProvision: noProvision})
			g.stopLive()
			if err != nil {
				return err
			}
			st := l.State()
			if g.output == "json" {
				nodes, err := l.Status(cmd.Context())
				if err != nil {
					return err
				}
				return g.writeJSONLine(newUpResult(l.Plan, st, nodes, time.Since(start)))
			}
			fmt.Fprintf(g.stdout, "lab %s is up (%s) in %s\n", l.Name, plan.NodeCount(len(l.Plan.Nodes)), time.Since(start).Round(time.Second))
			printPhases(g, st.Phases)
			return nil
		},
	}
	cmd.Flags().IntVar(&parallel, "parallel", 3, "nodes created, started and provisioned at once (1: one after another)")
	cmd.Flags().DurationVar(&bootTimeout, "boot-timeout", 10*time.Minute, "how long a node may take to answer on SSH")
	cmd.Flags().StringVar(&dockerMode, "docker", provision.InstallOffline, "how to install Docker: offline (the cached bundle) or online (the guest's package archive)")
	cmd.Flags().BoolVar(&noProvision, "no-provision", false, "only create and start the VMs")
	return cmd
}

// upResult is the last line of 'up --output json': the lab's record (its
// topology, when, each phase and how long it took) with its nodes as
// 'status' shows them and the whole up's time.
type upResult struct {
	Type string `json:"type"` // "result"
	state.State
	Seconds float64         `json:"seconds"`
	Nodes   []vm.NodeStatus `json:"nodes"`
}

func newUpResult(p *plan.Plan, st state.State, nodes []vm.NodeStatus, took time.Duration) upResult {
	// The phases by where they ran - each hypervisor, then each node, in
	// the plan's order, then the whole lab's - each place's in the order
	// they happened (the places run at once: their record interleaves as
	// they finish).
	parts := p.Parts()
	rank := map[string]int{}
	for i, pt := range parts {
		rank[pt.Hypervisor.Name] = i
	}
	for i, n := range p.Nodes {
		rank[n.Name] = len(parts) + i
	}
	where := func(ph state.Phase) int {
		if r, ok := rank[ph.Node]; ok && ph.Node != "" {
			return r
		}
		return len(parts) + len(p.Nodes)
	}
	st.Phases = slices.Clone(st.Phases)
	slices.SortStableFunc(st.Phases, func(a, b state.Phase) int { return where(a) - where(b) })
	return upResult{Type: "result", State: st, Seconds: float64(took.Round(time.Millisecond)) / float64(time.Second), Nodes: nodes}
}
