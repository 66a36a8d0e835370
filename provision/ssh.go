// Package provision makes a lab's nodes ready for the labs, over SSH only:
// pinned host keys and an ssh config for people, remote commands and SFTP
// uploads for labctl, Docker installed online or from the offline bundle,
// the busybox and nginx images loaded, and the Docker API reachable
// through the SSH connection. It knows nothing of how the nodes were made.
package provision

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Runner is what provisioning needs from a node: run a command, upload a
// file. Tests substitute their own.
type Runner interface {
	// Run runs cmd with sh on the node. A non-zero exit is an error that
	// carries the exit status and the command's stderr.
	Run(ctx context.Context, cmd string) (stdout []byte, err error)
	// Upload copies size bytes from r to dst on the node (mode perm) and
	// verifies the result's size and SHA-256 on the node.
	Upload(ctx context.Context, r io.Reader, size int64, dst string, perm os.FileMode) error
}

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
	return fmt.Sprintf("%s: %s%s during %s", e.Node, ErrConnectionLost, why, firstLine(e.What, 72))
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
			return nil, fmt.Errorf("%s: SSH to %s (%d attempts in %s): %w", t.Node, t.Addr, attempt, o.Timeout, err)
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

// Close ends the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.ftp != nil {
		c.ftp.Close()
	}
	c.mu.Unlock()
	return c.c.Close()
}

// SSH returns the underlying connection (for tunnels).
func (c *Client) SSH() *ssh.Client { return c.c }

// Run runs cmd on the node; stderr goes into the error when it fails.
func (c *Client) Run(ctx context.Context, cmd string) ([]byte, error) {
	var out, errb bytes.Buffer
	err := c.Stream(ctx, cmd, nil, &out, &errb)
	var ee *ExitError
	if errors.As(err, &ee) {
		ee.Stderr = errb.String()
	}
	return out.Bytes(), err
}

// Stream runs cmd with the given standard streams. A non-zero exit status
// is an *ExitError (without stderr, which went to the caller's writer).
// Cancelling ctx closes the session.
func (c *Client) Stream(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	s, err := c.c.NewSession()
	if err != nil {
		if lerr := c.lost(cmd, time.Second); lerr != nil {
			return lerr
		}
		return fmt.Errorf("%s: new session: %w", c.t.Node, err)
	}
	defer s.Close()
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, stderr
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	select {
	case <-ctx.Done():
		s.Signal(ssh.SIGKILL)
		s.Close()
		return ctx.Err()
	case err = <-done:
	}
	var xe *ssh.ExitError
	if errors.As(err, &xe) {
		return &ExitError{Node: c.t.Node, Cmd: cmd, Status: xe.ExitStatus()}
	}
	if err != nil {
		if lerr := c.lost(cmd, 2*time.Second); lerr != nil {
			return lerr
		}
		return fmt.Errorf("%s: %s: %w", c.t.Node, cmd, err)
	}
	return nil
}

func (c *Client) sftp() (*sftp.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ftp == nil {
		f, err := sftp.NewClient(c.c)
		if err != nil {
			return nil, fmt.Errorf("%s: sftp: %w", c.t.Node, err)
		}
		c.ftp = f
	}
	return c.ftp, nil
}

// ErrUploadMismatch means a file arrived different from what was sent.
var ErrUploadMismatch = errors.New("uploaded file does not match")

// Upload writes r to dst through SFTP (via a temporary name, renamed when
// complete) and then checks size and SHA-256 on the node itself.
func (c *Client) Upload(ctx context.Context, r io.Reader, size int64, dst string, perm os.FileMode) error {
	err := c.upload(ctx, r, size, dst, perm)
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrConnectionLost) {
		// The partial file stays on a node that cannot be reached; the
		// next provisioning run removes it (probeNode).
		if lerr := c.lost("upload of "+dst, 2*time.Second); lerr != nil {
			return lerr
		}
	}
	return err
}

func (c *Client) upload(ctx context.Context, r io.Reader, size int64, dst string, perm os.FileMode) error {
	f, err := c.sftp()
	if err != nil {
		return err
	}
	if err := f.MkdirAll(path.Dir(dst)); err != nil {
		return fmt.Errorf("%s: mkdir %s: %w", c.t.Node, path.Dir(dst), err)
	}
	tmp := dst + ".part"
	w, err := f.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("%s: create %s: %w", c.t.Node, tmp, err)
	}
	h := sha256.New()
	n, err := io.Copy(w, io.TeeReader(&ctxReader{ctx, r}, h))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		f.Remove(tmp)
		return fmt.Errorf("%s: upload %s: %w", c.t.Node, dst, err)
	}
	if n != size {
		f.Remove(tmp)
		return fmt.Errorf("%s: upload %s: sent %d bytes, expected %d", c.t.Node, dst, n, size)
	}
	want := hex.EncodeToString(h.Sum(nil))
	out, err := c.Run(ctx, "stat -c %s "+shellQuote(tmp)+" && sha256sum "+shellQuote(tmp))
	if err != nil {
		f.Remove(tmp)
		return err
	}
	fields := strings.Fields(string(out))
	if len(fields) < 2 || fields[0] != fmt.Sprint(size) || fields[1] != want {
		f.Remove(tmp)
		return fmt.Errorf("%s: %s: %w: node has %q, sent %d bytes with sha256 %s", c.t.Node, dst, ErrUploadMismatch, strings.TrimSpace(string(out)), size, want)
	}
	if err := f.Chmod(tmp, perm); err != nil {
		return err
	}
	f.Remove(dst)
	if err := f.PosixRename(tmp, dst); err != nil {
		return fmt.Errorf("%s: rename %s: %w", c.t.Node, dst, err)
	}
	return nil
}

// Download copies a file from the node.
func (c *Client) Download(ctx context.Context, src string, w io.Writer) error {
	f, err := c.sftp()
	if err != nil {
		return err
	}
	r, err := f.Open(src)
	if err != nil {
		return fmt.Errorf("%s: open %s: %w", c.t.Node, src, err)
	}
	defer r.Close()
	_, err = io.Copy(w, &ctxReader{ctx, r})
	return err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
