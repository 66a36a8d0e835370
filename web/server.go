// Package web is 'labctl workshop serve': a page per student with a
// terminal on each of their seat's nodes, the labs' steps with the seat's
// own values and a check button, and a live board for the instructor.
//
// Every page and action needs a token: a seat's opens only that seat, the
// instructor's opens the board and its actions, the claim token opens the
// page where a student takes a free seat. Tokens come in a link once
// (?t=), are kept in a cookie for the path they open, are compared in
// constant time and never logged; wrong ones are rate limited per client.
// The terminals are labctl's own SSH sessions to the seat's nodes: they
// live in the server, so a browser that drops comes back to the same
// shell and its scrollback.
package web

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/workshop"
)

//go:embed assets
var assets embed.FS

var pages = template.Must(template.ParseFS(assets, "assets/*.html"))

// Seat is what the server shows of one seat: its card (nodes, labs with
// their steps on this seat) and each lab's stages when it has more than
// one.
type Seat struct {
	N      int
	Card   workshop.Card
	Stages map[string][]int
}

// Backend is what the server does to seats: the workshop's (see
// WorkshopBackend), or a test's.
type Backend interface {
	Seats(ctx context.Context) ([]Seat, error)
	// Shell opens a login shell with a terminal of cols x rows on a node
	// of the seat.
	Shell(ctx context.Context, seat int, node string, cols, rows int) (Shell, error)
	// Check runs a lab's checks (stage 0: all) against what is on the seat.
	Check(ctx context.Context, seat int, lab string, stage int) ([]exercise.Report, error)
	// Status is "ready", or what is not.
	Status(ctx context.Context, seat int) string
	// Reset puts the seat back to right after up, or to a stage's snapshot.
	Reset(ctx context.Context, seat int, stage string) error
	// Snapshot takes every seat's snapshot of a stage.
	Snapshot(ctx context.Context, stage string) error
}

// Options configure a Server.
type Options struct {
	Workshop string
	Backend  Backend
	Secrets  *Secrets
	// IdleTimeout closes a terminal nobody typed into for this long
	// (DefaultIdleTimeout when 0).
	IdleTimeout time.Duration
	// StatusEvery is how often every seat's status is asked again
	// (DefaultStatusEvery when 0).
	StatusEvery time.Duration
	// CheckTimeout bounds a check a student starts (5 minutes when 0).
	CheckTimeout time.Duration
	Log          *slog.Logger
}

// Defaults of Options.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultStatusEvery = time.Minute
)

// Server serves a workshop's pages.
type Server struct {
	o     Options
	seats []Seat
	lim   *limiter
	board *board
	mux   *http.ServeMux

	mu    sync.Mutex
	terms map[string]*term
	opens map[string]*sync.Mutex // one shell being opened per node at a time
	busy  map[int]string         // a seat's check or reset under way

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New makes the server and starts asking the seats' status.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.StatusEvery <= 0 {
		o.StatusEvery = DefaultStatusEvery
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	seats, err := o.Backend.Seats(ctx)
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, seats: seats, lim: newLimiter(), terms: map[string]*term{}, opens: map[string]*sync.Mutex{}, busy: map[int]string{}}
	s.board = newBoard(o.Workshop, seats, o.Secrets)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes()
	s.wg.Add(2)
	go s.pollStatus()
	go s.reapIdle()
	return s, nil
}

// Close ends every terminal and the server's own work.
func (s *Server) Close() {
	s.cancel()
	s.mu.Lock()
	terms := s.terms
	s.terms = map[string]*term{}
	s.mu.Unlock()
	for _, t := range terms {
		t.end("the server stopped")
	}
	s.wg.Wait()
}

// ServeHTTP serves every page with headers that keep them from being
// framed, cached, or leaking their address.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	rec := &statusWriter{ResponseWriter: w, code: 200}
	start := time.Now()
	s.mux.ServeHTTP(rec, r)
	// The path only: a token comes in the query string, never logged.
	s.o.Log.Debug("http", "client", clientIP(r), "method", r.Method, "path", r.URL.Path, "status", rec.code, "took", time.Since(start).Round(time.Millisecond))
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	m.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s.page(w, "home.html", map[string]any{"Workshop": s.o.Workshop})
	})
	m.HandleFunc("GET /seat/{n}/{$}", s.seatOnly(s.seatPage))
	m.HandleFunc("GET /seat/{n}/term/{node}", s.seatOnly(s.terminal))
	m.HandleFunc("POST /seat/{n}/check", s.seatOnly(s.check))
	m.HandleFunc("GET /seat/{n}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path+"/?"+r.URL.RawQuery, http.StatusSeeOther)
	})
	m.HandleFunc("GET /board/{$}", s.instructorOnly(s.boardPage))
	m.HandleFunc("GET /board/events", s.instructorOnly(s.boardEvents))
	m.HandleFunc("POST /board/reset", s.instructorOnly(s.reset))
	m.HandleFunc("POST /board/snapshot", s.instructorOnly(s.snapshot))
	m.HandleFunc("GET /claim/{$}", s.claimOnly(s.claimPage))
	m.HandleFunc("POST /claim/{$}", s.claimOnly(s.claim))
	s.mux = m
}

func (s *Server) page(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.o.Log.Warn("page", "page", name, "err", err)
	}
}

func (s *Server) seat(n int) (Seat, bool) {
	if n < 1 || n > len(s.seats) {
		return Seat{}, false
	}
	return s.seats[n-1], true
}

// Cookie names: one per seat (a browser may hold two seats' links), one
// for the board, one for the claim page.
func seatCookie(n int) string { return "labctl_seat_" + strconv.Itoa(n) }

const (
	boardCookie = "labctl_board"
	claimCookie = "labctl_claim"
)

// authorize checks the token a request presents for a place (a link's
// ?t=, then the place's cookie, then Authorization: Bearer) against want.
// A link's token is moved into the cookie and the link reloaded without
// it, so that it leaves the address bar and the history.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, cookie, path, want string) bool {
	now := time.Now()
	ip := clientIP(r)
	if no, wait := s.lim.blocked(ip, now); no {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		http.Error(w, "too many wrong tokens from this address: wait a little, then open the link on your card again", http.StatusTooManyRequests)
		return false
	}
	if t := r.URL.Query().Get("t"); t != "" {
		if !same(t, want) {
			s.refuse(w, r, ip, now)
			return false
		}
		http.SetCookie(w, &http.Cookie{Name: cookie, Value: t, Path: path, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
		if r.Method == http.MethodGet && !websocketRequest(r) {
			q := r.URL.Query()
			q.Del("t")
			u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return false
		}
		return true
	}
	got := ""
	if c, err := r.Cookie(cookie); err == nil {
		got = c.Value
	} else if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = a
	}
	if !same(got, want) {
		s.refuse(w, r, ip, now)
		return false
	}
	return true
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ip string, now time.Time) {
	s.lim.fail(ip, now)
	s.o.Log.Info("refused a request without its token", "client", ip, "path", r.URL.Path)
	http.Error(w, "this link's token does not open this page: open the link on your card (or ask the instructor for it)", http.StatusForbidden)
}

func websocketRequest(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

type seatHandler func(w http.ResponseWriter, r *http.Request, st Seat)

// seatOnly lets through only requests with seat n's own token.
func (s *Server) seatOnly(h seatHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.PathValue("n"))
		st, ok := s.seat(n)
		if err != nil || !ok {
			// The same answer as a wrong token: which seats exist is
			// nobody's business without one.
			s.refuse(w, r, clientIP(r), time.Now())
			return
		}
		if s.authorize(w, r, seatCookie(n), fmt.Sprintf("/seat/%d/", n), s.o.Secrets.seat(n)) {
			h(w, r, st)
		}
	}
}

func (s *Server) instructorOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.authorize(w, r, boardCookie, "/board/", s.o.Secrets.Instructor) {
			h(w, r)
		}
	}
}

func (s *Server) claimOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.authorize(w, r, claimCookie, "/claim/", s.o.Secrets.Claim) {
			h(w, r)
		}
	}
}

// fromPage refuses a state-changing request another site's page could
// have made: it must carry X-Labctl (which a cross-site form cannot set,
// and a cross-site script cannot without a CORS preflight this server
// never answers), and Origin and Sec-Fetch-Site, when the browser sends
// them, must be this server's.
func fromPage(w http.ResponseWriter, r *http.Request) bool {
	ok := r.Header.Get("X-Labctl") == "1"
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		ok = ok && err == nil && u.Host == r.Host
	}
	if f := r.Header.Get("Sec-Fetch-Site"); f != "" && f != "same-origin" {
		ok = false
	}
	if !ok {
		http.Error(w, "refused: this request did not come from labctl's own page", http.StatusForbidden)
	}
	return ok
}
