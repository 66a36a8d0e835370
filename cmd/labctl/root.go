package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/topology"
	"github.com/labctl/labctl/workshop"
	"github.com/spf13/cobra"
)

// globals are the flags every subcommand shares.
type globals struct {
	lab     string
	file    string
	output  string
	verbose int
	// inventory, when set, is the file of hosts the labs run on instead
	// of labctl's VMs.
	inventory string
	stdout    io.Writer
	stderr    io.Writer
	log       *slog.Logger
	// labFiles are lab files (or directories of them) beside the
	// built-in exercises ('labctl lab --labs').
	labFiles   []string
	progressMu sync.Mutex
	// live, while set, redraws progress in place (on a terminal).
	live *live
	// openHypervisor, when set, connects to the labs' hypervisors instead
	// of package hypervisor (tests give in-memory ones).
	openHypervisor func(context.Context, plan.Hypervisor) (lab.Hypervisor, error)
	// connectNodes, when set, gives the labs their nodes instead of SSH
	// (tests give in-memory ones).
	connectNodes func(context.Context, *plan.Plan) (*exercise.Env, func(), error)
	// openJumpHost, when set, reaches a hypervisor for a workshop's jump
	// host instead of package hypervisor (tests give in-memory ones).
	openJumpHost func(context.Context, plan.Hypervisor) (workshop.JumpHoster, error)
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	return newRoot(&globals{stdout: stdout, stderr: stderr})
}

// newRoot is labctl's command tree over g (its writers set, and for tests
// the hypervisors).
func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "labctl",
		Short: "Docker networking labs on real VMs, with checks that prove what each network mode does",
		Long: `labctl builds a small set of Linux VMs with libvirt (a NAT NIC carrying
802.1q VLANs and a host-only NIC with a fixed address each), installs Docker
on them over SSH, and runs labs for every Docker network mode: bridge,
user-defined bridge, host, macvlan, macvlan on 802.1q, ipvlan L2 and L3, none,
and a Swarm overlay across the nodes. Every lab ends in checks that pass or
fail with the evidence: the command, where it ran, and what it printed.

A lab is described by a topology file. Without -f labctl uses the built-in
default: three nodes node1..node3, NAT network 192.168.241.0/24 with the
gateway at .2 and the guest NIC named ens33, VLANs 20 and 30 on ens33.
Print it with 'labctl topology default' and start from there.`,
		Example: `  sudo labctl image build            # VM image, Docker bundle, busybox, nginx from Debian packages
  sudo labctl up                     # three VMs with Docker, reachable over SSH
  sudo labctl lab run all            # every network mode, every check, with evidence
  sudo labctl ssh node1              # look around
  sudo labctl down                   # remove it all

  labctl topology default > lab.yaml
  labctl validate -f lab.yaml        # every problem at once, with its field path
  labctl plan -f lab.yaml --output json`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			level := slog.LevelInfo
			if g.verbose > 0 {
				level = slog.LevelDebug
			}
			g.log = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
			switch g.output {
			case "text":
			case "json":
				if cmd.Annotations[jsonAnnotation] == "" {
					return usageErr("%s has no JSON output: leave out --output json (these have it: labctl %s)", cmd.CommandPath(), strings.Join(jsonCommands, ", labctl "))
				}
			default:
				return usageErr("--output %q: use text or json", g.output)
			}
			if err := topology.ValidateLabName(g.lab); err != nil {
				return usageErr("%v", err)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	defLab := os.Getenv("LABCTL_LAB")
	if defLab == "" {
		defLab = "default"
	}
	pf.StringVar(&g.lab, "lab", defLab, "name of the lab to act on ($LABCTL_LAB when set); several labs can exist side by side")
	pf.StringVarP(&g.file, "file", "f", "", "topology file (YAML); default: the file of the lab's last up, else the built-in topology")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text for people, json for programs (stable)")
	pf.CountVarP(&g.verbose, "verbose", "v", "more detail in the log on stderr")
	pf.StringVarP(&g.inventory, "inventory", "i", "", "run labs on the hosts this inventory file lists instead of labctl's VMs (see 'labctl hosts --help')")
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%v (see '%s --help')", err, c.CommandPath())
	})

	root.AddCommand(
		newVersionCmd(g),
		newDocsCmd(g),
		newLsCmd(g),
		newValidateCmd(g),
		newTopologyCmd(g),
		newPlanCmd(g),
		newImageCmd(g),
		newUpCmd(g),
		newDownCmd(g),
		newStatusCmd(g),
		newConsoleCmd(g),
		newSSHConfigCmd(g),
		newSSHCmd(g),
		newExecCmd(g),
		newCpCmd(g),
		newLabCmd(g),
		newSwarmCmd(g),
		newBenchCmd(g),
		newGraphCmd(g),
		newImpairCmd(g),
		newWorkshopCmd(g),
		newCaptureCmd(g),
		newHostsCmd(g),
	)
	root.SetVersionTemplate("labctl {{.Version}}\n")
	if err := markJSON(root); err != nil {
		panic(err)
	}
	rejectUnknownSubcommands(root)
	usageOnArgumentErrors(root)
	addCompletions(root, g)
	return root
}

// usageOnArgumentErrors makes a wrong number of arguments a usage error,
// as a wrong flag is: exit status 2, with the command's usage line.
func usageOnArgumentErrors(c *cobra.Command) {
	for _, sub := range c.Commands() {
		usageOnArgumentErrors(sub)
	}
	if c.Args == nil {
		return
	}
	check := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			var ee *exitError
			if errors.As(err, &ee) {
				return err
			}
			return usageErr("%s: %v\nUsage: %s (see '%s --help')", cmd.CommandPath(), err, cmd.UseLine(), cmd.CommandPath())
		}
		return nil
	}
}

// rejectUnknownSubcommands makes every command group (labctl itself,
// 'labctl lab', 'labctl image', ...) fail on a word that is none of its
// subcommands, with exit status 2 and the closest subcommands suggested.
// Without it cobra prints the group's help and exits 0 for any word under
// a group, so a script that mistypes a command would carry on as if it had
// run. A group given no word still prints its help.
func rejectUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		rejectUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Run != nil || c.RunE != nil {
		return
	}
	c.Args = cobra.ArbitraryArgs
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra sets it only on its own path
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", s[0])
		}
		return usageErr("%s (see '%s --help')", msg, cmd.CommandPath())
	}
}

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

// loadPlan reads the topology the flags name and computes its plan,
// without opening the lab's state.
func (g *globals) loadPlan(allowChanged bool) (*topology.Topology, *plan.Plan, error) {
	return lab.LoadPlan(g.labOptions("", allowChanged))
}
