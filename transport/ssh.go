// Package transport is labctl's one way to a node or a hypervisor: SSH
// with a pinned host key (trusted on first use where the caller allows it,
// kept in a KnownHosts file), keepalives and a lost connection named as
// such, commands and streams, SFTP uploads verified on the far side, and
// the Docker API through the SSH connection. Every package that talks to a
// node dials with its DialFunc type.
package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// DialFunc opens a TCP connection to a node.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// HostKeyError is a node that presented another host key than the pinned one.
type HostKeyError struct {
	Node string
	Addr string
	Want string // pinned fingerprint
	Got  string // presented fingerprint
	Hint string // what to do if the change is expected
}

func (e *HostKeyError) Error() string {
	hint := e.Hint
	if hint == "" {
		hint = "or the node was recreated outside labctl (then run 'labctl down' and 'labctl up')"
	}
	return fmt.Sprintf("%s (%s): host key mismatch: expected %s, the server offered %s; someone may be intercepting the connection, %s", e.Node, e.Addr, e.Want, e.Got, hint)
}

// ExitError is a remote command that failed.
type ExitError struct {
	Node   string
	Cmd    string
	Status int
	Stderr string
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s: `%s` exited with status %d: %s", e.Node, e.Cmd, e.Status, strings.TrimSpace(e.Stderr))
}

// Target is how to reach and log into one node.
type Target struct {
	Node    string        // node name, for messages
	Addr    string        // host:port
	User    string        // login user
	Signer  ssh.Signer    // the lab's private key
	HostKey ssh.PublicKey // pinned host key
	// FirstUse, when HostKey is nil, is given the key the host offers
	// on first contact; it records (pins) it or returns an error to
	// refuse it. Without it a nil HostKey is refused.
	FirstUse func(key ssh.PublicKey) error
	// MismatchHint says what to do when the host key changed on purpose.
	MismatchHint string
}

// Client is an SSH connection to one node.
type Client struct {
	t   Target
	c   *ssh.Client
	mu  sync.Mutex
	ftp *sftp.Client

	closed  chan struct{} // closed when the connection has ended
	lostMu  sync.Mutex
	lostWhy string // why the connection ended, when labctl did not end it
}

// DialOptions bound the connection attempts.
type DialOptions struct {
	Dial    DialFunc
	Timeout time.Duration // whole wait, default 5 minutes
	Attempt time.Duration // one attempt, default 15 s
	OnRetry func(attempt int, elapsed time.Duration, err error)
	// KeepAlive is the interval of keepalive probes (default 15 s).
	KeepAlive time.Duration
}

// Dial connects and authenticates, retrying while the node refuses or does
// not answer yet, and never past o.Timeout. Errors that a retry cannot
// change end it at once: a host key mismatch, a refused login, a host name
// that does not resolve, a network with no route at all.
func Dial(ctx context.Context, t Target, o DialOptions) (*Client, error) {
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Attempt <= 0 {
		o.Attempt = 15 * time.Second
	}
	start := time.Now()
	deadline := start.Add(o.Timeout)
	backoff := 250 * time.Millisecond
	var prev error // the last attempt's error that was not its time running out
	for attempt := 1; ; attempt++ {
		ao := o
		ao.Attempt = min(o.Attempt, time.Until(deadline))
		c, err := dialOnce(ctx, t, ao)
		if err == nil {
			if o.KeepAlive <= 0 {
				o.KeepAlive = keepAliveInterval
			}
			c.keepAlive(o.KeepAlive)
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		var hk *HostKeyError
		if errors.As(err, &hk) || isAuthError(err) {
			return nil, err // these name the node already
		}
		if final(err) {
			return nil, fmt.Errorf("%s: SSH to %s: %w", t.Node, t.Addr, err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			// A last attempt cut short by the deadline says only that
			// time ran out; the one before it says why.
			if prev != nil && ao.Attempt < o.Attempt && isTimeout(err) {
				err = prev
			}
			return nil, fmt.Errorf("%s: SSH to %s (%d attempts in %s): %w", t.Node, t.Addr, attempt, o.Timeout, err)
		}
		if !isTimeout(err) || ao.Attempt == o.Attempt {
			prev = err
		}
		if o.OnRetry != nil {
			o.OnRetry(attempt, time.Since(start), err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(backoff, left)):
		}
		if backoff < 4*time.Second {
			backoff *= 2
		}
	}
}

// final tells errors that no retry changes from a node still booting
// (refused, timed out, no route to the host yet).
func final(err error) bool {
	var hk *HostKeyError
	var dns *net.DNSError
	switch {
	case errors.As(err, &hk), isAuthError(err):
		return true
	case errors.As(err, &dns):
		return dns.IsNotFound
	case errors.Is(err, syscall.ENETUNREACH):
		return true
	}
	return false
}

// isTimeout tells an error of time running out (the attempt's deadline).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func isAuthError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "unable to authenticate")
}

func dialOnce(ctx context.Context, t Target, o DialOptions) (*Client, error) {
	actx, cancel := context.WithTimeout(ctx, o.Attempt)
	defer cancel()
	conn, err := o.Dial(actx, "tcp", t.Addr)
	if err != nil {
		return nil, err
	}
	// The handshake is bounded too: a node that accepts but never speaks
	// must not hang us.
	if dl, ok := actx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	cfg := &ssh.ClientConfig{
		User: t.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(t.Signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if t.HostKey == nil {
				if t.FirstUse == nil {
					return &HostKeyError{Node: t.Node, Addr: t.Addr, Want: "(none pinned)", Got: ssh.FingerprintSHA256(key), Hint: t.MismatchHint}
				}
				return t.FirstUse(key)
			}
			if !bytes.Equal(key.Marshal(), t.HostKey.Marshal()) {
				return &HostKeyError{Node: t.Node, Addr: t.Addr, Want: ssh.FingerprintSHA256(t.HostKey), Got: ssh.FingerprintSHA256(key), Hint: t.MismatchHint}
			}
			return nil
		},
	}
	if t.HostKey != nil {
		cfg.HostKeyAlgorithms = []string{t.HostKey.Type()}
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, t.Addr, cfg)
	if err != nil {
		conn.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if isAuthError(err) {
			return nil, fmt.Errorf("%s: SSH login as %s refused: %w (is the lab key the one the node was seeded with?)", t.Node, t.User, err)
		}
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return newClient(t, ssh.NewClient(sc, chans, reqs)), nil
}
