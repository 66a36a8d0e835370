// What happens to a connection that ends under labctl: keepalives that
// notice a node gone silent, and the error that says a command was cut off.

package transport

import (
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// ErrConnectionLost is a command or upload that failed because the SSH
// connection to the node ended under it (the node stopped, sshd was
// stopped or restarted, the network went away). What ran may have run in
// part: callers whose steps are idempotent connect again and carry on.
var ErrConnectionLost = errors.New("the SSH connection was lost")

// LostError is a command or upload cut off by the connection's end.
type LostError struct {
	Node string
	What string // the command or upload
	Why  string // what ended the connection, as far as known
}

func (e *LostError) Error() string {
	why := ""
	if e.Why != "" {
		why = " (" + e.Why + ")"
	}
	return fmt.Sprintf("%s: %s%s during %s", e.Node, ErrConnectionLost, why, Abbrev(e.What, 72))
}

func (e *LostError) Unwrap() error { return ErrConnectionLost }

func newClient(t Target, sc *ssh.Client) *Client {
	c := &Client{t: t, c: sc, closed: make(chan struct{})}
	go func() {
		err := sc.Wait()
		c.lostMu.Lock()
		if c.lostWhy == "" && err != nil && !errors.Is(err, net.ErrClosed) {
			c.lostWhy = err.Error()
		}
		c.lostMu.Unlock()
		close(c.closed)
	}()
	return c
}

// lost tells whether the connection has ended, waiting up to wait for the
// end to be noticed (a session can fail a moment before the connection
// does), and returns a *LostError for what was cut off.
func (c *Client) lost(what string, wait time.Duration) error {
	select {
	case <-c.closed:
	case <-time.After(wait):
		return nil
	}
	c.lostMu.Lock()
	defer c.lostMu.Unlock()
	return &LostError{Node: c.t.Node, What: what, Why: c.lostWhy}
}

// keepAliveInterval is how often an idle connection is probed: a node that
// vanished (destroyed VM, cable out) is noticed, and NAT or firewall state
// on the way does not expire during a long lab.
const keepAliveInterval = 15 * time.Second

// keepAliveMissed is how many intervals in a row may pass without any
// answer before the connection is given up: 6 x 15 s. A node busy under
// software emulation answers late, but answers; a destroyed one never does,
// and TCP alone would retransmit for a quarter of an hour.
const keepAliveMissed = 6

// keepAlive probes the connection every interval; when no probe has been
// answered for keepAliveMissed intervals the connection is closed, so that
// what waits on it fails (with ErrConnectionLost) instead of hanging.
func (c *Client) keepAlive(interval time.Duration) {
	go func() {
		answered := make(chan struct{}, 1)
		missed := 0
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-c.closed:
				return
			case <-t.C:
			}
			select {
			case <-answered:
				missed = 0
			default:
				missed++
			}
			if missed > keepAliveMissed {
				c.lostMu.Lock()
				c.lostWhy = fmt.Sprintf("no answer to keepalives for %s: is the node running?", time.Duration(keepAliveMissed)*interval)
				c.lostMu.Unlock()
				c.c.Close()
				return
			}
			go func() {
				if _, _, err := c.c.SendRequest("keepalive@openssh.com", true, nil); err == nil {
					select {
					case answered <- struct{}{}:
					default:
					}
				}
			}()
		}
	}()
}
