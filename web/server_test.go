package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/workshop"
)

// fakeShell is a shell for the server's own tests: it echoes what is
// typed, as a terminal does, and answers each line with "ran: LINE".
type fakeShell struct {
	mu     sync.Mutex
	out    chan []byte
	line   []byte
	closed chan struct{}
	once   sync.Once
	size   [2]int
}

func newFakeShell() *fakeShell {
	s := &fakeShell{out: make(chan []byte, 1024), closed: make(chan struct{})}
	s.out <- []byte("$ ")
	return s
}

func (s *fakeShell) Read(p []byte) (int, error) {
	select {
	case b := <-s.out:
		return copy(p, b), nil
	case <-s.closed:
		return 0, io.EOF
	}
}

func (s *fakeShell) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range p {
		if c == '\r' {
			s.out <- []byte(fmt.Sprintf("\r\nran: %s\r\n$ ", s.line))
			s.line = nil
			continue
		}
		s.line = append(s.line, c)
		s.out <- []byte{c}
	}
	return len(p), nil
}

func (s *fakeShell) Resize(c, r int) error {
	s.mu.Lock()
	s.size = [2]int{c, r}
	s.mu.Unlock()
	return nil
}

func (s *fakeShell) Close() error { s.once.Do(func() { close(s.closed) }); return nil }

type fakeBackend struct {
	mu       sync.Mutex
	shells   map[string]int // opened per seat/node
	resets   []string
	snaps    []string
	checks   []string
	resetErr error
	hold     chan struct{} // when set, Reset waits on it
}

func (b *fakeBackend) Seats(ctx context.Context) ([]Seat, error) {
	var out []Seat
	for n := 1; n <= 3; n++ {
		out = append(out, Seat{N: n, Card: workshop.Card{Workshop: "ws", Seat: n, Lab: fmt.Sprintf("ws-s%02d", n),
			Nodes: []workshop.CardNode{{Name: "node1", HostOnly: "10.0.0.1"}, {Name: "node2"}},
			Labs: []workshop.CardLab{{Name: "none", Title: "No network", Steps: []exercise.Command{{On: "node1", Run: "docker run --network none busybox ip a"}}},
				{Name: "bridge", Title: "Bridge"}}},
			Stages: map[string][]int{"bridge": {1, 2}}})
	}
	out[2].Card.Student = "from the names file"
	return out, nil
}

func (b *fakeBackend) Shell(ctx context.Context, seat int, node string, cols, rows int) (Shell, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shells == nil {
		b.shells = map[string]int{}
	}
	b.shells[fmt.Sprintf("%d/%s", seat, node)]++
	return newFakeShell(), nil
}

func (b *fakeBackend) Check(ctx context.Context, seat int, lab string, stage int) ([]exercise.Report, error) {
	b.mu.Lock()
	b.checks = append(b.checks, fmt.Sprintf("%d %s %d", seat, lab, stage))
	b.mu.Unlock()
	return []exercise.Report{{Lab: lab, Passed: seat == 1, Checks: []exercise.Result{
		{Lab: lab, Check: "no interface but lo", Passed: true},
		{Lab: lab, Check: "no route out", Passed: seat == 1, Hint: "<b>run it with --network none</b>"},
	}}}, nil
}

func (b *fakeBackend) Status(ctx context.Context, seat int) string { return "ready" }

func (b *fakeBackend) Reset(ctx context.Context, seat int, stage string) error {
	if b.hold != nil {
		<-b.hold
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resets = append(b.resets, fmt.Sprintf("%d %q", seat, stage))
	return b.resetErr
}

func (b *fakeBackend) Snapshot(ctx context.Context, stage string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.snaps = append(b.snaps, stage)
	return nil
}

type harness struct {
	t    *testing.T
	srv  *Server
	ts   *httptest.Server
	b    *fakeBackend
	sec  *Secrets
	logs *bytes.Buffer
	base *url.URL
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	b := &fakeBackend{}
	sec, err := LoadSecrets(filepath.Join(t.TempDir(), "secrets.json"), 3)
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	var mu sync.Mutex
	o.Workshop, o.Backend, o.Secrets = "ws", b, sec
	o.Log = slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, tok := range append([]string{sec.Instructor, sec.Claim}, sec.Seats["1"], sec.Seats["2"], sec.Seats["3"]) {
			if strings.Contains(logs.String(), tok) {
				t.Errorf("a token is in the server's log:\n%s", logs)
			}
		}
	})
	u, _ := url.Parse(ts.URL)
	return &harness{t: t, srv: s, ts: ts, b: b, sec: sec, logs: logs, base: u}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// browser is a client with its own cookies that follows no redirect.
func (h *harness) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := h.ts.Client()
	return &http.Client{Transport: c.Transport, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (h *harness) get(c *http.Client, path string) (*http.Response, string) {
	h.t.Helper()
	resp, err := c.Get(h.ts.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// open follows a link with a token as a browser does: the token moves
// into a cookie and the page reloads without it.
func (h *harness) open(c *http.Client, path, token string) {
	h.t.Helper()
	resp, _ := h.get(c, path+"?t="+token)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != path {
		h.t.Fatalf("%s with its token: %d to %q, want 303 to %s", path, resp.StatusCode, resp.Header.Get("Location"), path)
	}
}

func (h *harness) post(c *http.Client, path string, form url.Values, hdr map[string]string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var fromOwnPage = map[string]string{"X-Labctl": "1"}

func (h *harness) dial(c *http.Client, path string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	u := "wss://" + h.base.Host + path
	if hdr == nil {
		hdr = http.Header{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c, HTTPHeader: hdr})
}

// readUntil reads a terminal's output until it holds want.
func readUntil(t *testing.T, c *websocket.Conn, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got strings.Builder
	for !strings.Contains(got.String(), want) {
		typ, p, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %q: %v; got %q", want, err, got.String())
		}
		if typ == websocket.MessageBinary {
			got.Write(p)
		} else {
			got.WriteString("<" + string(p) + ">")
		}
	}
	return got.String()
}

// A seat's link opens its page (token moved into a cookie for the seat's
// path); another seat's token, none, or a seat that does not exist get
// 403, and so does the board for a seat's token.
func TestSeatPagesOpenOnlyWithTheirOwnToken(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.browser()
	h.open(c, "/seat/1/", h.sec.seat(1))
	resp, body := h.get(c, "/seat/1/")
	if resp.StatusCode != 200 || !strings.Contains(body, "docker run --network none busybox ip a") || !strings.Contains(body, `data-stage="2"`) {
		t.Fatalf("seat 1's page: %d\n%s", resp.StatusCode, body)
	}
	if u, _ := url.Parse(h.ts.URL + "/seat/1/"); len(c.Jar.Cookies(u)) != 1 {
		t.Errorf("cookies for seat 1: %v", c.Jar.Cookies(u))
	}
	for _, p := range []string{"/seat/2/", "/seat/9/", "/seat/x/", "/board/", "/claim/"} {
		if resp, _ := h.get(c, p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s with seat 1's cookie: %d, want 403", p, resp.StatusCode)
		}
	}
	// Seat 2's token, presented for seat 1 in each way.
	other := h.browser()
	if resp, _ := h.get(other, "/seat/1/?t="+h.sec.seat(2)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("seat 1 with seat 2's token in the link: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", h.ts.URL+"/seat/1/", nil)
	req.Header.Set("Authorization", "Bearer "+h.sec.seat(2))
	if resp, err := other.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("seat 1 with seat 2's bearer token: %v %v", resp.StatusCode, err)
	}
	if resp, _ := h.get(h.browser(), "/seat/1/"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("seat 1 without a token: %d", resp.StatusCode)
	}
	// Headers that keep the page to itself.
	for k, want := range map[string]string{"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP: %q", csp)
	}
	if resp, _ := h.get(h.browser(), "/assets/vendor/xterm.js"); resp.StatusCode != 200 {
		t.Errorf("xterm.js, embedded: %d", resp.StatusCode)
	}
}

// The terminal: seat 2's token and another site's page are refused before
// the WebSocket opens; seat 1's shell echoes what is typed; a dropped
// connection comes back to the same shell, its output replayed first.
func TestTerminalSurvivesADroppedConnection(t *testing.T) {
	h := newHarness(t, Options{})
	other := h.browser()
	h.open(other, "/seat/2/", h.sec.seat(2))
	// Seat 2's cookie is for /seat/2/: presented for seat 1 as a bearer.
	_, resp, err := h.dial(other, "/seat/1/term/node1", http.Header{"Authorization": {"Bearer " + h.sec.seat(2)}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("seat 1's terminal with seat 2's token: %v %v", resp, err)
	}
	c := h.browser()
	h.open(c, "/seat/1/", h.sec.seat(1))
	_, resp, err = h.dial(c, "/seat/1/term/node1", http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("seat 1's terminal from another site's page: %v %v", resp, err)
	}
	if _, resp, err := h.dial(c, "/seat/1/term/node9", nil); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a node the seat does not have: %v %v", resp, err)
	}
	ws, _, err := h.dial(c, "/seat/1/term/node1?cols=100&rows=30", nil)
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, ws, "$ ")
	ctx := context.Background()
	ws.Write(ctx, websocket.MessageBinary, []byte("docker network ls\r"))
	readUntil(t, ws, "ran: docker network ls")
	ws.Close(websocket.StatusNormalClosure, "wifi gone")
	ws.CloseNow()

	ws, _, err = h.dial(c, "/seat/1/term/node1", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := readUntil(t, ws, "ran: docker network ls")
	if !strings.HasPrefix(got, `<{"type":"replay"}>`) {
		t.Errorf("the reconnect did not start with the replay: %q", got)
	}
	ws.Write(ctx, websocket.MessageBinary, []byte("hostname\r"))
	readUntil(t, ws, "ran: hostname")
	ws.Write(ctx, websocket.MessageText, []byte(`{"type":"resize","cols":120,"rows":40}`))
	ws.Close(websocket.StatusNormalClosure, "")
	if n := h.b.shells["1/node1"]; n != 1 {
		t.Errorf("%d shells opened on seat 1's node1, want 1 (the same shell after the reconnect)", n)
	}
}

// A terminal nobody typed into for IdleTimeout is closed, and the browser
// told why; Enter then gets a new shell.
func TestIdleTerminalIsClosed(t *testing.T) {
	h := newHarness(t, Options{IdleTimeout: 300 * time.Millisecond})
	c := h.browser()
	h.open(c, "/seat/1/", h.sec.seat(1))
	ws, _, err := h.dial(c, "/seat/1/term/node2", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := readUntil(t, ws, "without a keystroke")
	if !strings.Contains(got, `"type":"ended"`) {
		t.Errorf("idle close: %q", got)
	}
	if n := h.srv.Terminals(); n != 0 {
		t.Errorf("%d terminals open after the idle limit", n)
	}
}

// Checks: only from the seat's own page (X-Labctl, same origin), a lab
// and stage of the seat's; the result goes to the student and, live, to
// the board (totals per check, hints as text).
func TestCheckShowsOnTheBoard(t *testing.T) {
	h := newHarness(t, Options{})
	board := h.browser()
	h.open(board, "/board/", h.sec.Instructor)
	events := h.events(board)
	first := <-events
	if len(first.Seats) != 3 || first.Seats[2].Student != "from the names file" {
		t.Fatalf("first board: %+v", first)
	}
	c := h.browser()
	h.open(c, "/seat/1/", h.sec.seat(1))
	for name, hdr := range map[string]map[string]string{
		"no X-Labctl":       {},
		"another site":      {"X-Labctl": "1", "Origin": "https://evil.example"},
		"cross-site fetch":  {"X-Labctl": "1", "Sec-Fetch-Site": "cross-site"},
		"another site, too": {"Origin": "https://evil.example"},
	} {
		if code, _ := h.post(c, "/seat/1/check", url.Values{"lab": {"none"}}, hdr); code != http.StatusForbidden {
			t.Errorf("check, %s: %d, want 403", name, code)
		}
	}
	for _, f := range []url.Values{{"lab": {"swarm"}}, {"lab": {"none"}, "stage": {"2"}}, {"lab": {"bridge"}, "stage": {"3"}}} {
		if code, _ := h.post(c, "/seat/1/check", f, fromOwnPage); code != http.StatusBadRequest {
			t.Errorf("check %v: %d, want 400", f, code)
		}
	}
	code, body := h.post(c, "/seat/1/check", url.Values{"lab": {"none"}}, fromOwnPage)
	if code != 200 || !strings.Contains(body, `"passed":true`) {
		t.Fatalf("check: %d %s", code, body)
	}
	if code, _ := h.post(c, "/seat/1/check", url.Values{"lab": {"bridge"}, "stage": {"2"}}, fromOwnPage); code != 200 {
		t.Errorf("check of stage 2: %d", code)
	}
	seat2 := h.browser()
	h.open(seat2, "/seat/2/", h.sec.seat(2))
	h.post(seat2, "/seat/2/check", url.Values{"lab": {"none"}}, fromOwnPage)
	st := h.waitBoard(events, func(st BoardState) bool {
		return len(st.Labs) > 0 && st.Seats[1].Failed > 0
	})
	var none BoardLab
	for _, l := range st.Labs {
		if l.Name == "none" {
			none = l
		}
	}
	if fmt.Sprint(none.Checks, none.Passed, none.Failed) != "[no interface but lo no route out] [2 1] [0 1]" {
		t.Errorf("the none lab's columns and totals: %+v", none)
	}
	if got := fmt.Sprint(st.Seats[0].Cells["none"], st.Seats[1].Cells["none"], st.Seats[2].Cells["none"]); got != "[pass pass] [pass FAIL] [- -]" {
		t.Errorf("cells: %s", got)
	}
	if h := st.Seats[1].Hints["none"][1]; h != "<b>run it with --network none</b>" {
		t.Errorf("hint: %q", h)
	}
	if fmt.Sprint(h.b.checks) != "[1 none 0 1 bridge 2 2 none 0]" {
		t.Errorf("checks run: %v", h.b.checks)
	}
	// The board's actions take the instructor's token and the page's header.
	if code, _ := h.post(c, "/board/reset", url.Values{"seat": {"1"}}, fromOwnPage); code != http.StatusForbidden {
		t.Errorf("reset with a seat's cookie: %d", code)
	}
	if code, _ := h.post(board, "/board/reset", url.Values{"seat": {"1"}}, nil); code != http.StatusForbidden {
		t.Errorf("reset without X-Labctl: %d", code)
	}
}

func (h *harness) events(c *http.Client) <-chan BoardState {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.ts.URL+"/board/events", nil)
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		h.t.Fatalf("board events: %v %v", resp, err)
	}
	out := make(chan BoardState, 100)
	go func() {
		defer resp.Body.Close()
		dec := bufio.NewScanner(resp.Body)
		for dec.Scan() {
			if d, ok := strings.CutPrefix(dec.Text(), "data: "); ok {
				var st BoardState
				if json.Unmarshal([]byte(d), &st) == nil {
					out <- st
				}
			}
		}
	}()
	return out
}

func (h *harness) waitBoard(events <-chan BoardState, ok func(BoardState) bool) BoardState {
	h.t.Helper()
	deadline := time.After(5 * time.Second)
	var last BoardState
	for {
		select {
		case st := <-events:
			if ok(st) {
				return st
			}
			last = st
		case <-deadline:
			h.t.Fatalf("the board did not get there; last: %+v", last)
		}
	}
}

// A reset from the board: the seat shows resetting, its shells end, then
// it is ready again with its results cleared; a stage with a bad name is
// refused; a snapshot of a stage is taken and offered.
func TestResetFromTheBoard(t *testing.T) {
	h := newHarness(t, Options{})
	h.b.hold = make(chan struct{})
	board := h.browser()
	h.open(board, "/board/", h.sec.Instructor)
	events := h.events(board)
	c := h.browser()
	h.open(c, "/seat/2/", h.sec.seat(2))
	ws, _, err := h.dial(c, "/seat/2/term/node1", nil)
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, ws, "$ ")
	h.post(c, "/seat/2/check", url.Values{"lab": {"none"}}, fromOwnPage)
	for _, stage := range []string{"../x", "A", "a b"} {
		if code, _ := h.post(board, "/board/reset", url.Values{"seat": {"2"}, "stage": {stage}}, fromOwnPage); code != http.StatusBadRequest {
			t.Errorf("reset to stage %q: %d", stage, code)
		}
	}
	if code, _ := h.post(board, "/board/reset", url.Values{"seat": {"4"}}, fromOwnPage); code != http.StatusBadRequest {
		t.Errorf("reset of seat 4: %d", code)
	}
	if code, body := h.post(board, "/board/reset", url.Values{"seat": {"2"}}, fromOwnPage); code != http.StatusAccepted {
		t.Fatalf("reset: %d %s", code, body)
	}
	h.waitBoard(events, func(st BoardState) bool { return st.Seats[1].Status == "resetting" })
	if code, _ := h.post(board, "/board/reset", url.Values{"seat": {"2"}}, fromOwnPage); code != http.StatusConflict {
		t.Errorf("a second reset while the first runs: %d", code)
	}
	close(h.b.hold)
	st := h.waitBoard(events, func(st BoardState) bool { return st.Seats[1].Status == "ready" })
	if st.Seats[1].Passed+st.Seats[1].Failed != 0 {
		t.Errorf("seat 2's results after its reset: %+v", st.Seats[1])
	}
	if got := readUntil(t, ws, "reset"); !strings.Contains(got, "the seat was reset") {
		t.Errorf("seat 2's terminal after the reset: %q", got)
	}
	if code, body := h.post(board, "/board/snapshot", url.Values{"stage": {"after-bridge"}}, fromOwnPage); code != 200 {
		t.Fatalf("snapshot: %d %s", code, body)
	}
	h.waitBoard(events, func(st BoardState) bool { return fmt.Sprint(st.Stages) == "[after-bridge]" })
	if code, _ := h.post(board, "/board/reset", url.Values{"seat": {"3"}, "stage": {"after-bridge"}}, fromOwnPage); code != http.StatusAccepted {
		t.Errorf("reset to a stage: %d", code)
	}
	h.waitBoard(events, func(st BoardState) bool { return st.Seats[2].Status == "ready" && len(h.resets()) == 2 })
	if got := fmt.Sprint(h.resets()); got != `[2 "" 3 "after-bridge"]` {
		t.Errorf("resets: %s", got)
	}
}

func (h *harness) resets() []string {
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	return append([]string(nil), h.b.resets...)
}

// Wrong tokens are slowed down: after BadTokenBurst of them the address
// gets 429 even with a right token.
func TestWrongTokensAreRateLimited(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.browser()
	for i := range BadTokenBurst {
		if resp, _ := h.get(c, "/board/?t=guess"+fmt.Sprint(i)); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	resp, _ := h.get(c, "/board/?t="+h.sec.Instructor)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("the right token after %d wrong ones: %d, want 429 with Retry-After", BadTokenBurst, resp.StatusCode)
	}
	if !strings.Contains(h.logs.String(), "refused a request without its token") {
		t.Errorf("refusals are not logged:\n%s", h.logs)
	}
}

// The claim page gives the first free seat (not one named on the cards)
// and its link; the name is kept, shown on the board and as text on the
// seat's page; names that are not text are refused.
func TestClaimASeat(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.browser()
	h.open(c, "/claim/", h.sec.Claim)
	for _, bad := range []string{"", "   ", strings.Repeat("x", MaxNameLen+1), "a\x1b[31mb", "a\u202eb"} {
		if code, _ := h.post(c, "/claim/", url.Values{"name": {bad}}, fromOwnPage); code != http.StatusBadRequest {
			t.Errorf("claim as %q: %d", bad, code)
		}
	}
	var got []int
	for _, name := range []string{"<script>alert(1)</script>", "Ada  Lovelace"} {
		code, body := h.post(c, "/claim/", url.Values{"name": {name}}, fromOwnPage)
		var res struct {
			Seat int
			Link string
		}
		json.Unmarshal([]byte(body), &res)
		if code != 200 || res.Link != fmt.Sprintf("/seat/%d/?t=%s", res.Seat, h.sec.seat(res.Seat)) {
			t.Fatalf("claim: %d %s", code, body)
		}
		got = append(got, res.Seat)
	}
	if fmt.Sprint(got) != "[1 2]" {
		t.Errorf("seats claimed: %v, want [1 2] (seat 3 is named on the cards)", got)
	}
	if code, _ := h.post(c, "/claim/", url.Values{"name": {"Late"}}, fromOwnPage); code != http.StatusConflict {
		t.Errorf("claim with every seat taken: %d", code)
	}
	again, err := LoadSecrets(h.sec.file, 3)
	if err != nil || again.name(2) != "Ada Lovelace" || again.seat(2) != h.sec.seat(2) {
		t.Errorf("kept: %v %+v", err, again.Names)
	}
	s := h.browser()
	h.open(s, "/seat/1/", h.sec.seat(1))
	if _, body := h.get(s, "/seat/1/"); strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the claimed name on the seat's page is not text:\n%s", body)
	}
}

// Tokens: 256 random bits, URL-safe, kept with mode 0600 and the same
// when read again; a seat added later gets one of its own.
func TestSecrets(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s.json")
	a, err := LoadSecrets(file, 2)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(file)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	seen := map[string]bool{}
	for _, tok := range []string{a.Instructor, a.Claim, a.seat(1), a.seat(2)} {
		if len(tok) != 43 || seen[tok] || strings.ContainsAny(tok, "+/=") {
			t.Errorf("token %q", tok)
		}
		seen[tok] = true
	}
	b, err := LoadSecrets(file, 3)
	if err != nil || b.seat(1) != a.seat(1) || b.Instructor != a.Instructor || b.seat(3) == "" || seen[b.seat(3)] {
		t.Errorf("read again: %v %+v", err, b)
	}
	os.WriteFile(file, []byte("{"), 0o600)
	if _, err := LoadSecrets(file, 1); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("a broken file: %v", err)
	}
	if same("", "") || same("a", "") || !same("abc", "abc") || same("abd", "abc") {
		t.Error("same")
	}
}

// A slow browser is dropped rather than buffered without bound, and the
// scrollback keeps only the last ScrollbackBytes.
func TestTerminalMemoryIsBounded(t *testing.T) {
	sh := newFakeShell()
	tm := newTerm(sh, time.Now())
	defer tm.end("test")
	sb, _, _ := tm.attach(time.Now())
	chunk := bytes.Repeat([]byte("x"), 4096)
	for range subQueue + ScrollbackBytes/4096 + 10 {
		sh.out <- chunk
	}
	select {
	case <-sb.gone:
	case <-time.After(5 * time.Second):
		t.Fatal("a browser that reads nothing was not dropped")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		tm.mu.Lock()
		n := len(tm.back)
		tm.mu.Unlock()
		if n == ScrollbackBytes || time.Now().After(deadline) {
			if n != ScrollbackBytes {
				t.Errorf("scrollback %d bytes, want %d", n, ScrollbackBytes)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, n := tm.idleSince(); n != 0 {
		t.Errorf("%d browsers still attached", n)
	}
}
