// Commands and file transfers over an open connection.

package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

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
	return c.stream(ctx, cmd, stdin, stdout, stderr, false)
}

// StreamInterruptible is Stream for commands that run until stopped (a
// capture): when ctx ends the command gets SIGINT, as Ctrl-C in a
// terminal, and a few seconds to finish cleanly (tcpdump flushes its
// file and prints its counts) before the session is closed. Stopped that
// way it returns nil.
func (c *Client) StreamInterruptible(ctx context.Context, cmd string, stdout, stderr io.Writer) error {
	return c.stream(ctx, cmd, nil, stdout, stderr, true)
}

func (c *Client) stream(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer, interrupt bool) error {
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
	case err = <-done:
	case <-ctx.Done():
		if interrupt {
			s.Signal(ssh.SIGINT)
			select {
			case <-done:
				return nil
			case <-time.After(5 * time.Second):
			}
		}
		s.Signal(ssh.SIGKILL)
		s.Close()
		if interrupt {
			return fmt.Errorf("%s: %s did not stop within 5 s of SIGINT", c.t.Node, Abbrev(cmd, 40))
		}
		return ctx.Err()
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
	out, err := c.Run(ctx, "stat -c %s "+Quote(tmp)+" && sha256sum "+Quote(tmp))
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

// Quote quotes s for sh.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// QuoteIfNeeded is s as it is when sh reads it as one plain word
// (letters, digits and @ % + = : , . / _ -), else Quote(s): for commands a
// person reads and types.
func QuoteIfNeeded(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return Quote(s)
}

// Abbrev shortens a command to its first line and at most max bytes, for
// messages and log lines.
func Abbrev(s string, max int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
