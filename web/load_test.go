package web

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/workshop"
	"golang.org/x/crypto/ssh"
)

// The load benchmark's size: terminals open at once, keystrokes each,
// the pace of each typist, and rounds (the report gives medians).
const (
	loadTerminals  = 30
	loadKeystrokes = 100
	loadPace       = 100 * time.Millisecond
	loadRounds     = 3
)

// sshdBackend is a workshop of loadTerminals seats whose node1 is this
// machine, reached through OpenSSH's sshd on loopback: each terminal is a
// real SSH session with a terminal and a login shell, as on a node.
type sshdBackend struct {
	addr   string
	signer ssh.Signer
	hostCB ssh.HostKeyCallback
}

func (b *sshdBackend) Seats(ctx context.Context) ([]Seat, error) {
	var out []Seat
	for n := 1; n <= loadTerminals; n++ {
		out = append(out, Seat{N: n, Card: workshop.Card{Seat: n, Nodes: []workshop.CardNode{{Name: "node1"}}}})
	}
	return out, nil
}

func (b *sshdBackend) Shell(ctx context.Context, seat int, node string, cols, rows int) (Shell, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		return nil, err
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, b.addr, &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(b.signer)}, HostKeyCallback: b.hostCB})
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := ssh.NewClient(cc, chans, reqs)
	sh, err := newSSHShell(c, cols, rows)
	if err != nil {
		c.Close()
		return nil, err
	}
	sh.closers = append(sh.closers, c.Close)
	return sh, nil
}

func (b *sshdBackend) Check(context.Context, int, string, int) ([]exercise.Report, error) {
	return nil, nil
}
func (b *sshdBackend) Status(context.Context, int) string       { return "ready" }
func (b *sshdBackend) Reset(context.Context, int, string) error { return nil }
func (b *sshdBackend) Snapshot(context.Context, string) error   { return nil }

// startSSHD runs OpenSSH's sshd on a free loopback port, for root with
// one key.
func startSSHD(t *testing.T) *sshdBackend {
	t.Helper()
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	spub, _ := ssh.NewPublicKey(pub)
	os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(spub), 0o600)
	_, hpriv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(hpriv, "")
	os.WriteFile(filepath.Join(dir, "host"), pem.EncodeToMemory(block), 0o600)
	hsigner, _ := ssh.NewSignerFromKey(hpriv)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf("ListenAddress %s\nHostKey %s/host\nAuthorizedKeysFile %s/authorized_keys\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile %s/pid\nMaxStartups 200\nMaxSessions 200\nPrintMotd no\nPrintLastLog no\n", addr, dir, dir, dir)
	os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600)
	os.MkdirAll("/run/sshd", 0o755)
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &sshdBackend{addr: addr, signer: signer, hostCB: ssh.FixedHostKey(hsigner.PublicKey())}
}

// TestTerminalLoad is the load benchmark of 'workshop serve' (make
// bench-serve; LABCTL_BENCH=1, as root, with OpenSSH's sshd): 30
// terminals open at once, each a browser's WebSocket to the server and an
// SSH session with a login shell behind it, every one typing a keystroke
// each 100 ms and waiting for its echo. It reports the echo latency
// (p50, p99, max) and the memory of this process (the server and the
// clients: an upper bound of the server's) with the 30 open, medians of 3
// rounds.
func TestTerminalLoad(t *testing.T) {
	if os.Getenv("LABCTL_BENCH") == "" {
		t.Skip("a benchmark, not a test: LABCTL_BENCH=1 go test -run TestTerminalLoad -v ./web/ (make bench-serve)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the load benchmark runs OpenSSH's sshd for root: run it as root")
	}
	b := startSSHD(t)
	var p50s, p99s, maxs, heaps, rsss []float64
	for round := 1; round <= loadRounds; round++ {
		r := loadRound(t, b)
		t.Logf("round %d: %d keystrokes on %d terminals: echo p50 %.1f ms, p99 %.1f ms, max %.1f ms; heap in use %.1f MiB, RSS %.1f MiB (the server and the 30 clients; %.1f MiB before)",
			round, r.samples, loadTerminals, r.p50, r.p99, r.max, r.heapMiB, r.rssMiB, r.rssBeforeMiB)
		p50s, p99s, maxs, heaps, rsss = append(p50s, r.p50), append(p99s, r.p99), append(maxs, r.max), append(heaps, r.heapMiB), append(rsss, r.rssMiB)
	}
	report := map[string]any{"date": time.Now().UTC().Format(time.RFC3339), "cpus": runtime.NumCPU(), "terminals": loadTerminals,
		"keystrokes_each": loadKeystrokes, "pace_ms": loadPace.Milliseconds(), "rounds": loadRounds,
		"echo_p50_ms": median(p50s), "echo_p99_ms": median(p99s), "echo_max_ms": median(maxs),
		"heap_in_use_mib": median(heaps), "process_rss_mib": median(rsss), "scrollback_limit_kib": ScrollbackBytes >> 10}
	js, _ := json.Marshal(report)
	t.Logf("BENCH %s", js)
	if f := os.Getenv("LABCTL_BENCH_REPORT"); f != "" {
		os.WriteFile(f, append(js, '\n'), 0o644)
	}
}

type loadResult struct {
	samples                       int
	p50, p99, max                 float64
	heapMiB, rssMiB, rssBeforeMiB float64
}

func loadRound(t *testing.T, b *sshdBackend) loadResult {
	sec, err := LoadSecrets("", loadTerminals)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	before := rssMiB()
	s, err := New(context.Background(), Options{Workshop: "load", Backend: b, Secrets: sec})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(s)
	defer func() { ts.Close(); s.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	host := strings.TrimPrefix(ts.URL, "https://")
	conns := make([]*websocket.Conn, loadTerminals)
	for i := range conns {
		c, _, err := websocket.Dial(ctx, "wss://"+host+"/seat/"+strconv.Itoa(i+1)+"/term/node1", &websocket.DialOptions{HTTPClient: ts.Client(),
			HTTPHeader: http.Header{"Authorization": {"Bearer " + sec.seat(i+1)}}})
		if err != nil {
			t.Fatalf("terminal %d: %v", i+1, err)
		}
		defer c.CloseNow()
		conns[i] = c
	}
	// Each shell's prompt first: then every terminal is open at once.
	for i, c := range conns {
		if _, err := readFor(ctx, c, "#", 10*time.Second); err != nil {
			t.Fatalf("terminal %d: no prompt: %v", i+1, err)
		}
	}
	var mu sync.Mutex
	var lat []float64
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(loadPace)
			defer tick.Stop()
			for k := range loadKeystrokes {
				<-tick.C
				ch := string(rune('a' + k%26))
				if k%40 == 39 {
					c.Write(ctx, websocket.MessageBinary, []byte{0x15}) // ^U: an empty line again
					continue
				}
				start := time.Now()
				if err := c.Write(ctx, websocket.MessageBinary, []byte(ch)); err != nil {
					t.Errorf("terminal %d: %v", i+1, err)
					return
				}
				if _, err := readFor(ctx, c, ch, 10*time.Second); err != nil {
					t.Errorf("terminal %d: no echo of %q: %v", i+1, ch, err)
					return
				}
				mu.Lock()
				lat = append(lat, float64(time.Since(start).Microseconds())/1000)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r := loadResult{samples: len(lat), heapMiB: float64(ms.HeapInuse) / (1 << 20), rssMiB: rssMiB(), rssBeforeMiB: before}
	if n := s.Terminals(); n != loadTerminals {
		t.Errorf("%d terminals open, want %d", n, loadTerminals)
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		r.p50, r.p99, r.max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	return r
}

// readFor reads a terminal's output until it holds want.
func readFor(ctx context.Context, c *websocket.Conn, want string, wait time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var got strings.Builder
	for !strings.Contains(got.String(), want) {
		typ, p, err := c.Read(ctx)
		if err != nil {
			return got.String(), err
		}
		if typ == websocket.MessageBinary {
			got.Write(p)
		}
	}
	return got.String(), nil
}

func rssMiB() float64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
