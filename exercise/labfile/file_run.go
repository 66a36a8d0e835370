// How a lab file runs: its steps, actions and probes in terms of the
// engine's helpers, so that a file exercise reports exactly like one
// written in Go.

package labfile

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/labctl/labctl/exercise"
)

// run is the engine's run of a file exercise, with the file's helpers.
type run struct{ *exercise.Run }

// Exercise turns the file into a runnable exercise.
func (f *File) Exercise() *exercise.Exercise {
	e := &exercise.Exercise{
		Name: f.Name, Title: f.Title, Explain: strings.TrimSpace(f.Explain), Tutorial: f.Tutorial, LookFor: f.LookFor,
		MinNodes: f.Nodes, NATHosts: f.NATHosts, File: f.file, CheckOnly: true,
		Commands: f.Commands,
	}
	for _, s := range f.Steps {
		s := s
		e.Steps = append(e.Steps, exercise.Step{Title: s.Title, Do: func(ctx context.Context, r *exercise.Run) error { return runFileStep(ctx, run{r}, s) }})
	}
	for _, c := range f.Checks {
		c := c
		stage := c.Stage
		if stage == 0 {
			stage = 1
		}
		e.Checks = append(e.Checks, exercise.Check{Name: c.Name, Expect: c.expectation(), Stage: stage, Hint: c.Hint, Timeout: time.Duration(c.Deadline) * time.Second,
			Do: func(ctx context.Context, r *exercise.Run) (bool, []exercise.Evidence, error) {
				return runFileCheck(ctx, run{r}, c)
			}})
	}
	return e
}

// x expands ${...} in s for this run (captured values are kept in the
// run's variables).
func (r run) x(s string) (string, error) { return r.expand(s, nil) }

// expand replaces ${...} in s with the plan's and the captured values,
// each passed through quote when it is not nil.
func (r run) expand(s string, quote func(string) string) (string, error) {
	return expand(s, planValues(r.Env.Plan), r.Vars(), quote)
}

// where resolves on (node1, node2, ..., host; "" is node1) to a node name,
// or "" for the host.
func (r run) where(on string) (string, error) {
	switch on {
	case "":
		return r.NodeName(0), nil
	case "host":
		return "", nil
	}
	i, err := strconv.Atoi(strings.TrimPrefix(on, "node"))
	if err != nil || i < 1 || i > len(r.Env.Plan.Nodes) {
		return "", fmt.Errorf("%s: the topology has %d node(s)", on, len(r.Env.Plan.Nodes))
	}
	return r.NodeName(i - 1), nil
}

func runFileStep(ctx context.Context, r run, s FileStep) error {
	node, err := r.where(s.On)
	if err != nil {
		return err
	}
	for _, n := range s.Networks {
		spec := exercise.NetworkSpec{Driver: n.Driver, Options: map[string]string{}}
		if spec.Name, err = r.x(n.Name); err != nil {
			return err
		}
		for _, sn := range n.Subnets {
			sub, err1 := r.x(sn.Subnet)
			gw, err2 := r.x(sn.Gateway)
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			spec.Subnets = append(spec.Subnets, exercise.Subnet{Subnet: sub, Gateway: gw})
		}
		for k, v := range n.Options {
			if spec.Options[k], err = r.x(v); err != nil {
				return err
			}
		}
		nodes := []string{node}
		if len(n.On) > 0 {
			nodes = nil
			for _, on := range n.On {
				nn, err := r.where(on)
				if err != nil {
					return err
				}
				nodes = append(nodes, nn)
			}
		}
		for _, nn := range nodes {
			if _, err := r.CreateNetwork(ctx, nn, spec); err != nil {
				return err
			}
		}
	}
	if err := r.runContainers(ctx, node, s.Containers); err != nil {
		return err
	}
	if s.Run != "" {
		run, err1 := r.x(s.Run)
		undo, err2 := r.x(s.Undo)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if node == "" {
			if err := r.hostSh(ctx, run, undo, ""); err != nil {
				return err
			}
		} else if err := r.NodeSh(ctx, node, run, undo); err != nil {
			return err
		}
	}
	for _, c := range s.Capture {
		cmd, err := r.x(c.Run)
		if err != nil {
			return err
		}
		o, err := r.sh(ctx, node, cmd)
		if err != nil {
			return err
		}
		if o.Exit != 0 {
			return fmt.Errorf("capture %s: `%s` exited with %d: %s", c.Name, cmd, o.Exit, strings.TrimSpace(o.Stderr))
		}
		if err := r.keep(c.Name, o.Stdout); err != nil {
			return err
		}
	}
	return nil
}

func (r run) runContainers(ctx context.Context, node string, cs []FileContainer) error {
	for _, c := range cs {
		on := node
		if c.On != "" {
			var err error
			if on, err = r.where(c.On); err != nil {
				return err
			}
		}
		spec := exercise.ContainerSpec{Image: c.Image}
		var errs [3]error
		spec.Name, errs[0] = r.x(c.Name)
		spec.Network, errs[1] = r.x(c.Network)
		spec.IP, errs[2] = r.x(c.IP)
		if err := errors.Join(errs[:]...); err != nil {
			return err
		}
		spec.Publish = c.Publish
		if _, err := r.RunContainer(ctx, on, spec); err != nil {
			return err
		}
	}
	return nil
}

// sh runs cmd on a node, or on the host when node is "".
func (r run) sh(ctx context.Context, node, cmd string) (exercise.Output, error) {
	if node == "" {
		return r.Env.Host.Sh(ctx, cmd)
	}
	return r.Node(node).Sh(ctx, cmd)
}

// hostSh runs cmd on the host and registers undo (in group, when named).
func (r run) hostSh(ctx context.Context, cmd, undo, group string) error {
	o, err := r.Env.Host.Sh(ctx, cmd)
	if err == nil && o.Exit != 0 {
		err = fmt.Errorf("exit %d: %s", o.Exit, strings.TrimSpace(o.Stderr+o.Stdout))
	}
	if err != nil {
		return fmt.Errorf("host: %s: %w", cmd, err)
	}
	if undo != "" {
		r.UndoSh(group, "host: "+undo, r.Env.Host.Sh, undo)
	}
	return nil
}

func runFileCheck(ctx context.Context, r run, c FileCheck) (bool, []exercise.Evidence, error) {
	// The containers the probes run in, unless the check creates them:
	// missing ones are said plainly before anything is changed.
	made := map[string]bool{}
	for _, a := range c.Do {
		for _, ct := range a.Containers {
			made[ct.Name] = true
		}
	}
	probes := append([]FileProbe{c.FileProbe}, c.Also...)
	for _, p := range probes {
		if p.In == "" || made[p.In] {
			continue
		}
		node, err1 := r.where(p.On)
		in, err2 := r.x(p.In)
		if err := errors.Join(err1, err2); err != nil {
			return false, nil, err
		}
		if err := r.needContainer(ctx, node, in, true); err != nil {
			return false, nil, err
		}
	}
	var evs []exercise.Evidence
	for _, a := range c.Do {
		ev, err := r.fileAction(ctx, a)
		if ev.Command != "" {
			evs = append(evs, ev)
		}
		if err != nil {
			return false, evs, err
		}
	}
	okAll := true
	for _, p := range probes {
		ok, ev, err := r.fileProbe(ctx, p)
		evs = append(evs, ev)
		if err != nil {
			return false, evs, err
		}
		okAll = okAll && ok
	}
	return okAll, evs, nil
}

// fileAction does one action of a check; the evidence shows what it ran.
func (r run) fileAction(ctx context.Context, a FileAction) (exercise.Evidence, error) {
	node, err := r.where(a.On)
	if err != nil {
		return exercise.Evidence{}, err
	}
	switch {
	case a.UndoGroup != "":
		return exercise.Evidence{}, r.UndoGroup(ctx, a.UndoGroup)
	case len(a.Containers) > 0:
		return exercise.Evidence{}, r.runContainers(ctx, node, a.Containers)
	case a.Remove != "":
		name, err := r.x(a.Remove)
		if err != nil {
			return exercise.Evidence{}, err
		}
		return exercise.Evidence{}, r.RemoveContainer(ctx, node, name)
	}
	run, err1 := r.x(a.Run)
	undo, err2 := r.x(a.Undo)
	if err := errors.Join(err1, err2); err != nil {
		return exercise.Evidence{}, err
	}
	ev := exercise.Evidence{Node: node, Where: "node", Command: run, Note: "done before the probe"}
	if a.Capture != "" {
		ev.Note = "read into ${" + a.Capture + "}"
	}
	if node == "" {
		ev.Node, ev.Where = "host", "host"
		if a.Capture != "" {
			o, err := r.Env.Host.Sh(ctx, run)
			if err == nil && o.Exit != 0 {
				err = fmt.Errorf("exit %d: %s", o.Exit, strings.TrimSpace(o.Stderr))
			}
			ev.Output, ev.Exit = o.Text(), o.Exit
			if err == nil {
				err = r.keep(a.Capture, o.Stdout)
			}
			return ev, err
		}
		return ev, r.hostSh(ctx, run, undo, a.Group)
	}
	n := r.Node(node)
	o, err := n.Sh(ctx, run)
	if err != nil {
		return ev, fmt.Errorf("%s: %s: %w", node, run, err)
	}
	ev.Output, ev.Exit = o.Text(), o.Exit
	if o.Exit != 0 {
		return ev, fmt.Errorf("%s: `%s` exited with %d: %s", node, run, o.Exit, strings.TrimSpace(o.Stderr+o.Stdout))
	}
	if a.Capture != "" {
		if err := r.keep(a.Capture, o.Stdout); err != nil {
			return ev, err
		}
	}
	if undo != "" {
		r.UndoSh(a.Group, node+": "+undo, n.Sh, undo)
	}
	return ev, nil
}
