// Waiting for a node's SSH server, and the node's console when it does not
// come.

package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/transport"
)

// ErrDomainStopped means a node stopped while labctl waited for it.
var ErrDomainStopped = errors.New("the VM stopped")

// WaitSSHPort waits until the node's SSH server greets on its host-only
// address. Each attempt is bounded; attempts back off up to 2 s (every
// second of looking late is a second added to the node's time to ready),
// and come every 200 ms once the node refuses the connection (see
// sshRetryDelay); the wait ends early if the domain is no longer running,
// with the console's last lines in the error.
func (m *Manager) WaitSSHPort(ctx context.Context, n plan.Node) error {
	addr := net.JoinHostPort(n.Addr(plan.RoleHostOnly), "22")
	start := time.Now()
	deadline := start.Add(m.o.Boot)
	backoff := 500 * time.Millisecond
	var last error
	for attempt := 1; ; attempt++ {
		if err := sshGreeting(ctx, m.o.Dial, addr, 5*time.Second); err == nil {
			m.o.Progress(n.Name, fmt.Sprintf("SSH port open after %s", time.Since(start).Round(time.Second)))
			return nil
		} else {
			last = err
		}
		if attempt%5 == 0 {
			m.o.Log.Info("waiting for SSH", "node", n.Name, "addr", addr, "attempt", attempt,
				"elapsed", time.Since(start).Round(time.Second).String(), "of", m.o.Boot.String(), "last", last.Error())
		}
		if state, err := m.domainState(ctx, n); err == nil && state != libvirt.DomainRunning {
			return fmt.Errorf("waiting for SSH on %s: %w (state %d) after %s; console:\n%s", addr, ErrDomainStopped, state, time.Since(start).Round(time.Second), m.ConsoleTail(n.Name, 15))
		} else if errors.Is(err, ErrLost) {
			return fmt.Errorf("waiting for SSH on %s: %w", addr, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for SSH on %s (attempt %d, %s of %s): %v; console:\n%s", addr, attempt, time.Since(start).Round(time.Second), m.o.Boot, last, m.ConsoleTail(n.Name, 15))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for SSH on %s: %w", addr, ctx.Err())
		case <-time.After(sshRetryDelay(backoff, last)):
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
}

// sshRetryDelay is how long WaitSSHPort waits after a failed attempt: the
// backoff, except after a refused connection. A node that refuses has
// its network up and sshd about to listen (an RST costs nothing to get),
// and the backoff's 2 s made up added, on average, a second to every
// node's time to ready.
func sshRetryDelay(backoff time.Duration, err error) time.Duration {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return 200 * time.Millisecond
	}
	return backoff
}

func sshGreeting(ctx context.Context, dial transport.DialFunc, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 8)
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("no SSH greeting: %w", err)
	}
	if !bytes.HasPrefix(buf, []byte("SSH-")) {
		return fmt.Errorf("not an SSH server: %q", buf)
	}
	return nil
}

func (m *Manager) domainState(ctx context.Context, n plan.Node) (libvirt.DomainState, error) {
	var st int32
	err := m.c.Do(ctx, "domain state", func(a API) error {
		d, err := a.DomainLookupByName(n.Domain)
		if err != nil {
			return err
		}
		st, _, err = a.DomainGetState(d, 0)
		return err
	})
	return libvirt.DomainState(st), err
}

// ConsoleTail returns the last lines of a node's console log.
func (m *Manager) ConsoleTail(node string, lines int) string {
	data, err := os.ReadFile(ConsoleLog(m.o.StateDir, node))
	if err != nil {
		return fmt.Sprintf("    (no console log: %v)", err)
	}
	ls := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return "    " + strings.Join(ls, "\n    ")
}
