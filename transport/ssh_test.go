package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labctl/labctl/keys"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// testServer is an in-process SSH server speaking the real protocol: exec
// requests run with the local sh, the sftp subsystem is pkg/sftp's server
// (optionally corrupting what is written).
type testServer struct {
	addr    string
	hostKey *keys.Pair
	userKey *keys.Pair
	corrupt bool
	ln      net.Listener
	wg      sync.WaitGroup
	root    string
}

func startServer(t *testing.T, addr string) *testServer {
	t.Helper()
	hk, _ := keys.Generate("host")
	uk, _ := keys.Generate("user")
	s := &testServer{hostKey: hk, userKey: uk, root: t.TempDir()}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := s.listen(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

func (s *testServer) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.addr = ln.Addr().String()
	signer, _ := s.hostKey.Signer()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), s.userKey.Public.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(signer)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c, cfg)
		}
	}()
	return nil
}

func (s *testServer) close() { s.ln.Close(); s.wg.Wait() }

func (s *testServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "no")
			continue
		}
		ch, creqs, _ := nc.Accept()
		go s.session(ch, creqs)
	}
}

func (s *testServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "exec":
			n := binary.BigEndian.Uint32(req.Payload)
			cmdline := string(req.Payload[4 : 4+n])
			req.Reply(true, nil)
			cmd := exec.Command("sh", "-c", cmdline)
			cmd.Dir = s.root
			cmd.Env = append(os.Environ(), "HOME="+s.root)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
			status := 0
			if err := cmd.Run(); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					status = ee.ExitCode()
				} else {
					status = 127
				}
			}
			ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(status)))
			return
		case "subsystem":
			req.Reply(true, nil)
			var rw io.ReadWriteCloser = ch
			if s.corrupt {
				rw = &corrupter{ch}
			}
			srv, _ := sftp.NewServer(rw)
			srv.Serve()
			ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, 0))
			return
		default:
			req.Reply(false, nil)
		}
	}
}

// corrupter flips one byte of every large SFTP write packet it reads.
type corrupter struct{ ssh.Channel }

func (c *corrupter) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	if n > 1000 {
		p[n-1] ^= 0xff
	}
	return n, err
}

func (s *testServer) target() Target {
	signer, _ := s.userKey.Signer()
	return Target{Node: "node1", Addr: s.addr, User: "lab", Signer: signer, HostKey: s.hostKey.Public}
}

func quick() DialOptions { return DialOptions{Timeout: 5 * time.Second, Attempt: 2 * time.Second} }

func TestRunAndCommandFailure(t *testing.T) {
	s := startServer(t, "")
	c, err := Dial(context.Background(), s.target(), quick())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := c.Run(context.Background(), "echo hello")
	if err != nil || string(out) != "hello\n" {
		t.Fatalf("Run = %q, %v", out, err)
	}
	_, err = c.Run(context.Background(), "echo something broke >&2; exit 3")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Status != 3 || !strings.Contains(ee.Stderr, "something broke") {
		t.Fatalf("err = %#v", err)
	}
	if !strings.Contains(err.Error(), "node1") || !strings.Contains(err.Error(), "something broke") {
		t.Errorf("message %q lacks node or stderr", err)
	}
}

func TestHostKeyMismatchIsFinalAndNamesBothKeys(t *testing.T) {
	s := startServer(t, "")
	tg := s.target()
	other, _ := keys.Generate("other")
	tg.HostKey = other.Public
	start := time.Now()
	_, err := Dial(context.Background(), tg, quick())
	var hk *HostKeyError
	if !errors.As(err, &hk) {
		t.Fatalf("err = %v", err)
	}
	if hk.Node != "node1" || hk.Want != other.Fingerprint() || hk.Got != s.hostKey.Fingerprint() {
		t.Errorf("%+v", hk)
	}
	if !strings.Contains(err.Error(), other.Fingerprint()) || !strings.Contains(err.Error(), s.hostKey.Fingerprint()) {
		t.Errorf("message lacks a fingerprint: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("a host key mismatch was retried")
	}
}

func TestAuthFailureIsFinal(t *testing.T) {
	s := startServer(t, "")
	tg := s.target()
	wrong, _ := keys.Generate("wrong")
	tg.Signer, _ = wrong.Signer()
	start := time.Now()
	_, err := Dial(context.Background(), tg, quick())
	if err == nil || !strings.Contains(err.Error(), "SSH login as lab refused") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("an auth failure was retried")
	}
}

func TestDialRetriesWhileThePortRefuses(t *testing.T) {
	// Reserve a port, close it, and open the server there a little later.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	hk, _ := keys.Generate("host")
	uk, _ := keys.Generate("user")
	s := &testServer{hostKey: hk, userKey: uk, root: t.TempDir()}
	go func() {
		time.Sleep(800 * time.Millisecond)
		if err := s.listen(addr); err != nil {
			t.Error(err)
		}
	}()
	defer func() {
		if s.ln != nil {
			s.close()
		}
	}()
	signer, _ := uk.Signer()
	retries := 0
	o := quick()
	o.OnRetry = func(attempt int, elapsed time.Duration, err error) { retries++ }
	c, err := Dial(context.Background(), Target{Node: "node1", Addr: addr, User: "lab", Signer: signer, HostKey: hk.Public}, o)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if retries == 0 {
		t.Error("connected without a retry: the test did not exercise the refusal")
	}
	// And a port that never opens gives up within the bound, saying so.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln2.Addr().String()
	ln2.Close()
	o = DialOptions{Timeout: 700 * time.Millisecond, Attempt: 200 * time.Millisecond}
	_, err = Dial(context.Background(), Target{Node: "node9", Addr: dead, User: "lab", Signer: signer, HostKey: hk.Public}, o)
	if err == nil || !strings.Contains(err.Error(), "node9: SSH to") || !strings.Contains(err.Error(), "attempt") {
		t.Errorf("err = %v", err)
	}
}

func TestUploadVerifiesOnTheNode(t *testing.T) {
	s := startServer(t, "")
	c, err := Dial(context.Background(), s.target(), quick())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 200_000)
	rand.Read(data)
	dst := filepath.Join(s.root, "sub", "file.bin")
	if err := c.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), dst, 0o640); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	// A short reader is caught before anything is renamed into place.
	err = c.Upload(context.Background(), bytes.NewReader(data[:100]), int64(len(data)), dst+".short", 0o644)
	if err == nil || !strings.Contains(err.Error(), "expected") {
		t.Errorf("short upload: %v", err)
	}
	c.Close()

	s.corrupt = true
	c, err = Dial(context.Background(), s.target(), quick())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst2 := filepath.Join(s.root, "corrupted.bin")
	err = c.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), dst2, 0o644)
	if !errors.Is(err, ErrUploadMismatch) {
		t.Fatalf("corrupted upload: err = %v", err)
	}
	for _, p := range []string{dst2, dst2 + ".part", dst + ".short", dst + ".short.part"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left on the node", p)
		}
	}
}

func TestStreamPassesExitStatusAndHonoursCancel(t *testing.T) {
	s := startServer(t, "")
	c, err := Dial(context.Background(), s.target(), quick())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out bytes.Buffer
	err = c.Stream(context.Background(), "cat; exit 42", strings.NewReader("piped"), &out, io.Discard)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Status != 42 || out.String() != "piped" {
		t.Fatalf("err=%v out=%q", err, out.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.Stream(ctx, "sleep 30", nil, io.Discard, io.Discard); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancel: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("cancel took %s", time.Since(start))
	}
}

// Errors that a retry cannot change end the wait at once, naming the node:
// a name that does not resolve, a network with no route.
func TestDialGivesUpAtOnceOnWhatRetriesCannotChange(t *testing.T) {
	uk, _ := keys.Generate("user")
	signer, _ := uk.Signer()
	for name, derr := range map[string]error{
		"no such host": &net.DNSError{Err: "no such host", Name: "nodex.invalid", IsNotFound: true},
		"unreachable":  &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)},
	} {
		calls := 0
		o := DialOptions{Timeout: time.Minute, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			calls++
			return nil, derr
		}}
		start := time.Now()
		_, err := Dial(context.Background(), Target{Node: "node7", Addr: "nodex.invalid:22", User: "lab", Signer: signer}, o)
		if err == nil || !strings.Contains(err.Error(), "node7: SSH to nodex.invalid:22") || calls != 1 || time.Since(start) > 2*time.Second {
			t.Errorf("%s: %d attempts in %s: %v", name, calls, time.Since(start), err)
		}
	}
}

// The wait ends at its bound, not one attempt and a back-off later (it
// said "attempt 20, 1m4s of 1m0s").
func TestDialKeepsItsDeadline(t *testing.T) {
	uk, _ := keys.Generate("user")
	signer, _ := uk.Signer()
	hang := func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-ctx.Done() // a node that never answers
		return nil, ctx.Err()
	}
	start := time.Now()
	_, err := Dial(context.Background(), Target{Node: "node8", Addr: "192.0.2.8:22", User: "lab", Signer: signer},
		DialOptions{Timeout: 1500 * time.Millisecond, Attempt: 10 * time.Second, Dial: hang})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "node8: SSH to") || took > 1800*time.Millisecond {
		t.Errorf("gave up after %s (bound 1.5s): %v", took, err)
	}
}

// proxy forwards TCP to an SSH server and can cut the line (drop) or let
// it go silent (freeze), as a destroyed VM or a pulled cable does.
type proxy struct {
	addr   string
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, to string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &proxy{addr: ln.Addr().String()}
	go func() {
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", to)
			if err != nil {
				a.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, a, b)
			p.mu.Unlock()
			go p.pipe(a, b)
			go p.pipe(b, a)
		}
	}()
	t.Cleanup(p.drop)
	return p
}

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.frozen.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// A connection cut under a running command is ErrConnectionLost, naming the
// node and the command, at once; so is an upload cut off.
func TestACutConnectionIsErrConnectionLost(t *testing.T) {
	s := startServer(t, "")
	p := startProxy(t, s.addr)
	tg := s.target()
	tg.Addr = p.addr
	c, err := Dial(context.Background(), tg, quick())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.AfterFunc(300*time.Millisecond, p.drop)
	start := time.Now()
	_, err = c.Run(context.Background(), "sleep 5; echo done")
	var le *LostError
	if !errors.Is(err, ErrConnectionLost) || !errors.As(err, &le) || le.Node != "node1" || !strings.Contains(err.Error(), "during sleep 5") {
		t.Fatalf("cut connection: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("noticed after %s", d)
	}
	// The next command on the dead connection says the same, quickly.
	if _, err := c.Run(context.Background(), "true"); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("after the cut: %v", err)
	}
	if err := c.Upload(context.Background(), strings.NewReader("x"), 1, filepath.Join(s.root, "f"), 0o644); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("upload after the cut: %v", err)
	}
	// A command that fails on its own is not a lost connection.
	c2, err := Dial(context.Background(), s.target(), quick())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Run(context.Background(), "exit 3"); err == nil || errors.Is(err, ErrConnectionLost) {
		t.Errorf("exit 3: %v", err)
	}
}

// A line that goes silent (no RST, no FIN: a destroyed VM) is given up
// after the keepalives go unanswered, and what waited on it fails.
func TestKeepAliveGivesUpASilentConnection(t *testing.T) {
	s := startServer(t, "")
	p := startProxy(t, s.addr)
	tg := s.target()
	tg.Addr = p.addr
	o := quick()
	o.KeepAlive = 50 * time.Millisecond
	c, err := Dial(context.Background(), tg, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Answered keepalives keep a quiet connection open.
	time.Sleep(time.Duration(keepAliveMissed+3) * o.KeepAlive)
	if _, err := c.Run(context.Background(), "true"); err != nil {
		t.Fatalf("an idle, healthy connection was closed: %v", err)
	}
	time.AfterFunc(200*time.Millisecond, func() { p.frozen.Store(true) })
	defer p.frozen.Store(false)
	start := time.Now()
	_, err = c.Run(context.Background(), "sleep 4")
	if !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "no answer to keepalives") {
		t.Fatalf("silent connection: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("noticed after %s", d)
	}
}

// The last attempt of a wait, cut short by the deadline, does not hide
// why the attempts before it failed behind "i/o timeout".
func TestDialReportsTheRealErrorOfTheLastFullAttempt(t *testing.T) {
	calls := 0
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		calls++
		if calls <= 2 {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ctx.Err()}
	}
	_, err := Dial(context.Background(), Target{Node: "node1", Addr: "192.0.2.1:22"}, DialOptions{Dial: dial, Timeout: time.Second, Attempt: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "connection refused") || calls < 3 {
		t.Errorf("after %d attempts: %v", calls, err)
	}
}
