package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/workshop"
	"golang.org/x/crypto/ssh"
)

// WorkshopBackend is a workshop's seats as labctl brought them up: shells
// are labctl's own SSH sessions to the nodes (the login a student's card
// gives, no more), checks are 'lab check' on the seat, resets are
// 'workshop reset'.
type WorkshopBackend struct {
	Runner    *workshop.Runner
	Exercises []*exercise.Exercise
	// Names are the students from the cards' --names file, seat N's on
	// line N.
	Names []string
}

// Seats reads every seat's plan and makes its card.
func (b *WorkshopBackend) Seats(ctx context.Context) ([]Seat, error) {
	plans, _, err := b.Runner.SeatPlans()
	if err != nil {
		return nil, err
	}
	var out []Seat
	for i, p := range plans {
		card, err := workshop.NewCard(b.Runner.Name, i+1, p, workshop.CardOptions{Exercises: b.Exercises, Names: b.Names})
		if err != nil {
			return nil, err
		}
		st := Seat{N: i + 1, Card: card, Stages: map[string][]int{}}
		for _, cl := range card.Labs {
			if e := b.exercise(cl.Name); e != nil {
				if stages := stagesOf(e); len(stages) > 1 {
					st.Stages[cl.Name] = stages
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

func (b *WorkshopBackend) exercise(name string) *exercise.Exercise {
	for _, e := range b.Exercises {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// stagesOf is a lab's stages, in order (a check of stage 0 is in stage 1).
func stagesOf(e *exercise.Exercise) []int {
	var out []int
	for _, c := range e.Checks {
		if st := max(c.Stage, 1); !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	slices.Sort(out)
	return out
}

// Shell logs into the node as labctl does and starts a login shell on a
// terminal.
func (b *WorkshopBackend) Shell(ctx context.Context, seat int, node string, cols, rows int) (Shell, error) {
	l, err := b.Runner.OpenSeat(seat, "")
	if err != nil {
		return nil, err
	}
	c, err := l.Node(ctx, node)
	if err != nil {
		l.Close()
		return nil, err
	}
	sh, err := newSSHShell(c.SSH(), cols, rows)
	if err != nil {
		c.Close()
		l.Close()
		return nil, err
	}
	sh.closers = append(sh.closers, c.Close, func() error { l.Close(); return nil })
	return sh, nil
}

// sshShell is a login shell in an SSH session with a terminal.
type sshShell struct {
	s       *ssh.Session
	in      io.WriteCloser
	out     io.Reader
	closers []func() error
}

func newSSHShell(c *ssh.Client, cols, rows int) (*sshShell, error) {
	s, err := c.NewSession()
	if err != nil {
		return nil, err
	}
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	if err := s.RequestPty("xterm-256color", rows, cols, modes); err != nil {
		s.Close()
		return nil, err
	}
	in, err := s.StdinPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	out, err := s.StdoutPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Shell(); err != nil {
		s.Close()
		return nil, err
	}
	return &sshShell{s: s, in: in, out: out}, nil
}

func (s *sshShell) Read(p []byte) (int, error)  { return s.out.Read(p) }
func (s *sshShell) Write(p []byte) (int, error) { return s.in.Write(p) }
func (s *sshShell) Resize(cols, rows int) error { return s.s.WindowChange(rows, cols) }
func (s *sshShell) Close() error {
	errs := []error{s.s.Close()}
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// Check runs the lab's checks (check-only) on the seat.
func (b *WorkshopBackend) Check(ctx context.Context, seat int, name string, stage int) ([]exercise.Report, error) {
	e := b.exercise(name)
	if e == nil {
		return nil, fmt.Errorf("no lab %s", name)
	}
	l, err := b.Runner.OpenSeat(seat, "labctl workshop serve: check")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	return l.CheckLabs(ctx, []*exercise.Exercise{e}, stage)
}

// Status is "ready" when every node of the seat runs and answers SSH and
// Docker, else what is not.
func (b *WorkshopBackend) Status(ctx context.Context, seat int) string {
	rows, err := b.Runner.SeatStatus(ctx, seat)
	if err != nil && len(rows) == 0 {
		return "unreachable: " + err.Error()
	}
	var bad []string
	for _, r := range rows {
		switch {
		case r.VM == "unreachable":
			bad = append(bad, "unreachable: "+r.Error)
		case !r.Ready():
			bad = append(bad, fmt.Sprintf("%s: vm %s, ssh %s, docker %s", r.Node, r.VM, r.SSH, r.Docker))
		}
	}
	if len(bad) == 0 && len(rows) > 0 {
		return "ready"
	}
	if len(bad) == 0 {
		return "no nodes"
	}
	return "not ready: " + strings.Join(bad, "; ")
}

// Reset is 'workshop reset SEAT [--stage STAGE]'.
func (b *WorkshopBackend) Reset(ctx context.Context, seat int, stage string) error {
	return b.Runner.ResetTo(ctx, seat, stage)
}

// Snapshot is 'workshop snapshot STAGE'.
func (b *WorkshopBackend) Snapshot(ctx context.Context, stage string) error {
	return b.Runner.SnapshotStage(ctx, stage)
}

var _ Backend = (*WorkshopBackend)(nil)
