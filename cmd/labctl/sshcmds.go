package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/provision"
	"github.com/labctl/labctl/transport"
	"github.com/spf13/cobra"
)

func newSSHConfigCmd(g *globals) *cobra.Command {
	var install, uninstall bool
	cmd := &cobra.Command{
		Use:   "ssh-config",
		Short: "Print the lab's ssh config, or include it in ~/.ssh/config",
		Long: `Print the lab's ssh config: one Host alias per node, with the lab key, the
lab's known_hosts and StrictHostKeyChecking yes (the host keys were pinned
before the nodes first booted).

--install adds one line, 'Include <lab ssh config>', at the top of
~/.ssh/config (a backup of the old file is kept in ~/.ssh/config.labctl-backup);
then plain 'ssh node1' and 'docker -H ssh://node1 ps' work. --uninstall
removes that line again. Both are safe to repeat.`,
		Example: `  labctl ssh-config --install && ssh node1 docker ps
  DOCKER_HOST=ssh://node2 docker network ls`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := g.openLab("", false)
			if err != nil {
				return err
			}
			defer l.Close()
			labCfg, err := l.SSHFiles()
			if err != nil {
				return err
			}
			home, err := os.UserHomeDir()
			if err != nil {
				return err
			}
			user := filepath.Join(home, ".ssh", "config")
			switch {
			case install && uninstall:
				return usageErr("ssh-config: --install or --uninstall, not both")
			case install:
				changed, err := provision.InstallInclude(user, labCfg)
				if err != nil {
					return err
				}
				if changed {
					fmt.Fprintf(g.stderr, "added 'Include %s' to %s\n", labCfg, user)
				} else {
					fmt.Fprintf(g.stderr, "%s already includes %s\n", user, labCfg)
				}
				return nil
			case uninstall:
				changed, err := provision.UninstallInclude(user, labCfg)
				if err != nil {
					return err
				}
				if changed {
					fmt.Fprintf(g.stderr, "removed the Include of %s from %s\n", labCfg, user)
				}
				return nil
			}
			data, err := os.ReadFile(labCfg)
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(data)
			return err
		},
	}
	cmd.Flags().BoolVar(&install, "install", false, "include the lab's config at the top of ~/.ssh/config")
	cmd.Flags().BoolVar(&uninstall, "uninstall", false, "remove that include again")
	return cmd
}

func newSSHCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ssh NODE [COMMAND...]",
		Example: "  labctl ssh node1\n  labctl ssh node2 ip -br addr",
		Short:   "Log into a node with OpenSSH (or run one command there)",
		Long: `Run OpenSSH with the lab's ssh config: an interactive shell on NODE, or
COMMAND. Agent and X11 forwarding are off; the host key must match the pinned
one.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := g.openLab("", false)
			if err != nil {
				return err
			}
			defer l.Close()
			n, ok := l.Plan.Node(args[0])
			if !ok {
				return usageErr("ssh: %v", &lab.NoNodeError{Lab: l.Name, Node: args[0], Nodes: nodeNames(l)})
			}
			if err := l.RequireUp(); err != nil {
				return err
			}
			cfg, err := l.SSHFiles()
			if err != nil {
				return err
			}
			bin, err := exec.LookPath("ssh")
			if err != nil {
				return fmt.Errorf("ssh: OpenSSH's client is needed (Debian: apt-get install openssh-client); 'labctl exec %s -- CMD' works without it", n.Name)
			}
			argv := append([]string{"ssh", "-F", cfg, n.SSHAlias}, args[1:]...)
			return syscall.Exec(bin, argv, os.Environ())
		},
	}
}

func newExecCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "exec NODE -- COMMAND...",
		Short: "Run a command on a node; its output and exit status are passed through",
		Long: `Run a command on NODE over the lab's SSH connection (no OpenSSH needed);
its output, and its exit status, are labctl's.

One COMMAND argument is a command line for the node's shell: pipes, ';' and
$VARIABLES work there (quote it, so that your own shell leaves it alone).
Several are a program and its arguments, each passed as it is, spaces and
quotes included (as docker exec does).`,
		Example: `  labctl exec node1 -- docker ps
  labctl exec node2 -- ip -br addr
  labctl exec node1 -- 'docker ps -q | wc -l'
  labctl exec node1 -- sh -c 'echo "$1"' sh 'a b'`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := g.nodeClient(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer done()
			err = c.Stream(cmd.Context(), execCommandLine(args[1:]), os.Stdin, g.stdout, g.stderr)
			var ee *transport.ExitError
			if errors.As(err, &ee) {
				return &exitError{code: ee.Status}
			}
			return err
		},
	}
}

// execCommandLine is the command line exec sends for its COMMAND
// arguments: one is the node's shell's to read as it is; several are
// words, each quoted for the node's shell so that it gets them unchanged.
func execCommandLine(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	words := make([]string, len(args))
	for i, a := range args {
		words[i] = transport.QuoteIfNeeded(a)
	}
	return strings.Join(words, " ")
}

func newCpCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy a file to or from a node over SFTP (NODE:PATH on one side)",
		Example: `  labctl cp ./page.html node1:/tmp/page.html
  labctl cp node2:/etc/docker/daemon.json .`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			srcNode, srcPath, srcRemote := strings.Cut(args[0], ":")
			dstNode, dstPath, dstRemote := strings.Cut(args[1], ":")
			switch {
			case srcRemote == dstRemote:
				return usageErr("cp: exactly one of SRC and DST must be NODE:PATH")
			case dstRemote:
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				fi, err := f.Stat()
				if err != nil {
					return err
				}
				c, done, err := g.nodeClient(ctx, dstNode)
				if err != nil {
					return err
				}
				defer done()
				if strings.HasSuffix(dstPath, "/") {
					dstPath += filepath.Base(args[0])
				}
				return c.Upload(ctx, f, fi.Size(), dstPath, fi.Mode().Perm())
			default:
				c, done, err := g.nodeClient(ctx, srcNode)
				if err != nil {
					return err
				}
				defer done()
				dst := args[1]
				if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
					dst = filepath.Join(dst, filepath.Base(srcPath))
				}
				tmp := dst + ".labctl-part"
				f, err := os.Create(tmp)
				if err != nil {
					return err
				}
				if err := c.Download(ctx, srcPath, f); err != nil {
					f.Close()
					os.Remove(tmp)
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				return os.Rename(tmp, dst)
			}
		},
	}
}

// nodeClient connects to a node of the lab over SSH with the pinned key.
// nodeClient connects to a node; done closes the connection and then the
// lab, which stays open meanwhile: a node behind a remote gateway is
// reached through the lab's connection to that hypervisor.
func (g *globals) nodeClient(ctx context.Context, node string) (c *transport.Client, done func(), err error) {
	l, err := g.openLab("", false)
	if err != nil {
		return nil, nil, err
	}
	c, err = l.Node(ctx, node)
	var nn *lab.NoNodeError
	if errors.As(err, &nn) {
		l.Close()
		return nil, nil, usageErr("%v", err)
	}
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return c, func() { c.Close(); l.Close() }, nil
}

func nodeNames(l *lab.Lab) []string {
	var out []string
	for _, n := range l.Plan.Nodes {
		out = append(out, n.Name)
	}
	return out
}
