package main

import (
	"encoding/json"
	"fmt"
	"time"

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
networks, each node's copy-on-write disk and cloud-init seed, and its domain;
start everything and wait until each node's SSH server answers on its
host-only address. Then provision every node over SSH: Docker installed
(from the offline bundle, or online with --docker online), the lab user in
the docker group, the busybox and nginx images loaded, and the Docker API
checked through the SSH connection. Afterwards 'ssh node1' and
'docker -H ssh://node1' work once 'labctl ssh-config --install' was run.

'up' keeps what exists and creates what is missing: after Ctrl-C or a crash,
run it again and it carries on. Before creating anything it checks that the
lab's subnets are free on this host. The image must be in the cache
('sudo labctl image build debian-12' or 'labctl image pull ...').

Remove everything again with 'labctl down'.

With --output json, progress is printed as JSON lines {"type":"event",...}
and the last line is {"type":"result",...} with the per-phase timings.`,
		Example: `  sudo labctl up
  sudo labctl up --lab workshop-3 -f lab.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			g.topologyChangeOK = true // up applies a changed file
			s, err := g.openLab("labctl up")
			if err != nil {
				return err
			}
			defer s.close()
			s.recordTopology = true
			if dockerMode != provision.InstallOffline && dockerMode != provision.InstallOnline {
				return usageErr("--docker %q: use offline or online", dockerMode)
			}
			if err := s.openCache(); err != nil {
				return err
			}
			if err := s.connect(ctx); err != nil {
				return err
			}
			if err := s.preflight(ctx); err != nil {
				return err
			}
			start := time.Now()
			m := vm.NewManager(s.conn, s.plan, vm.Options{
				StateDir: s.dir.Path, Keys: s.keys(), Cache: s.cache, Parallel: parallel,
				Log: g.log, Phase: s.recordPhase, Boot: bootTimeout, Progress: s.progress,
				DockerConfig: provision.DaemonJSON(s.plan),
			})
			s.st.Phases = nil
			if err := provision.WriteSSHFiles(s.plan, s.dir); err != nil {
				return err
			}
			err = m.Up(ctx)
			if err == nil && !noProvision {
				err = provision.Provision(ctx, provision.Options{
					Plan: s.plan, Keys: s.keys(), Progress: s.progress, Phase: s.recordPhase, Parallel: parallel, Log: g.log,
					Docker: provision.DockerOptions{
						Plan: s.plan, Cache: s.cache, Mode: dockerMode,
						Bundle: "docker.io-debian-12", Images: []string{"busybox", "nginx"},
					},
				})
			}
			s.recordPhase("up", "", start, time.Since(start), err)
			if serr := s.save(); serr != nil && err == nil {
				err = serr
			}
			if err != nil {
				return fmt.Errorf("lab %s: up: %w\n(run 'labctl up' again to carry on, or 'labctl down' to remove what was created)", s.plan.Lab, err)
			}
			if g.output == "json" {
				return json.NewEncoder(g.stdout).Encode(struct {
					Type string `json:"type"`
					state.State
				}{"result", s.st})
			}
			fmt.Fprintf(g.stdout, "lab %s is up (%d nodes) in %s\n", s.plan.Lab, len(s.plan.Nodes), time.Since(start).Round(time.Second))
			printPhases(g, s.st.Phases)
			return nil
		},
	}
	cmd.Flags().IntVar(&parallel, "parallel", 3, "nodes created, started and provisioned at once (1: one after another)")
	cmd.Flags().DurationVar(&bootTimeout, "boot-timeout", 10*time.Minute, "how long a node may take to answer on SSH")
	cmd.Flags().StringVar(&dockerMode, "docker", provision.InstallOffline, "how to install Docker: offline (the cached bundle) or online (the guest's package archive)")
	cmd.Flags().BoolVar(&noProvision, "no-provision", false, "only create and start the VMs")
	return cmd
}
