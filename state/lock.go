package state

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrBusy is returned (wrapped in a *BusyError) when another process holds
// the lab's lock.
var ErrBusy = errors.New("lab is busy")

// BusyError names the process that holds a lab's lock.
type BusyError struct {
	Lab     string
	PID     int
	Command string
	Since   time.Time
}

func (e *BusyError) Error() string {
	who := "another labctl"
	if e.PID > 0 {
		who = fmt.Sprintf("pid %d", e.PID)
		if e.Command != "" {
			who += fmt.Sprintf(" (%s)", e.Command)
		}
	}
	since := ""
	if !e.Since.IsZero() {
		since = " since " + e.Since.Format(time.RFC3339)
	}
	return fmt.Sprintf("lab %s is in use by %s%s: wait for it to finish, or stop it, and try again", e.Lab, who, since)
}

func (e *BusyError) Unwrap() error { return ErrBusy }

// Lock is a held lab lock. The kernel releases it when the process dies,
// so a lock left by a crashed labctl is simply taken over by the next one.
type Lock struct {
	f *os.File
}

// Lock takes the lab's lock without waiting. command describes what the
// holder is doing, for the message another process gets.
func (d *Dir) Lock(command string) (*Lock, error) {
	// Never through a link: the holder's line is written into it.
	f, err := os.OpenFile(d.Join("lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("lab %s: %s is a symbolic link; remove it and run the command again", d.Lab, d.Join("lock"))
		}
		return nil, fmt.Errorf("lab %s: open lock: %w", d.Lab, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			be := &BusyError{Lab: d.Lab}
			if data, rerr := os.ReadFile(f.Name()); rerr == nil {
				be.PID, be.Command, be.Since = parseHolder(string(data))
			}
			return nil, be
		}
		return nil, fmt.Errorf("lab %s: lock: %w", d.Lab, err)
	}
	// We hold it: record who we are for the next one to read.
	info := fmt.Sprintf("%d\n%s\n%s\n", os.Getpid(), strings.ReplaceAll(command, "\n", " "), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info), 0)
		_ = f.Sync()
	}
	return &Lock{f: f}, nil
}

func parseHolder(s string) (int, string, time.Time) {
	lines := strings.SplitN(s, "\n", 4)
	if len(lines) < 3 {
		return 0, "", time.Time{}
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	since, _ := time.Parse(time.RFC3339, strings.TrimSpace(lines[2]))
	return pid, strings.TrimSpace(lines[1]), since
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	cerr := l.f.Close()
	l.f = nil
	return errors.Join(err, cerr)
}
