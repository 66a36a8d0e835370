package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/labctl/labctl/vm"
	"github.com/labctl/labctl/workshop"
)

// MaxBrowsersPerTerminal bounds the browsers showing one shell.
const MaxBrowsersPerTerminal = 8

func (s *Server) seatPage(w http.ResponseWriter, r *http.Request, st Seat) {
	s.page(w, "seat.html", map[string]any{
		"Workshop": s.o.Workshop, "Seat": st.N, "Lab": st.Card.Lab, "Student": s.board.student(st.N),
		"Nodes": st.Card.Nodes, "Labs": st.Card.Labs, "Stages": st.Stages,
	})
}

// control is a text message of the terminal's WebSocket: the browser's
// window size, or the server telling what follows ("replay": the
// scrollback comes next) or why the shell ended.
type control struct {
	Type string `json:"type"`
	Cols int    `json:"cols,omitempty"`
	Rows int    `json:"rows,omitempty"`
	Why  string `json:"why,omitempty"`
}

// terminal is a node's shell over a WebSocket: binary messages are what
// the node prints and what the student types, text messages are control.
func (s *Server) terminal(w http.ResponseWriter, r *http.Request, st Seat) {
	node := r.PathValue("node")
	if !slices.ContainsFunc(st.Card.Nodes, func(n workshop.CardNode) bool { return n.Name == node }) {
		http.Error(w, "seat "+strconv.Itoa(st.N)+" has no such node", http.StatusNotFound)
		return
	}
	cols, _ := strconv.Atoi(r.URL.Query().Get("cols"))
	rows, _ := strconv.Atoi(r.URL.Query().Get("rows"))
	cols, rows = clamp(cols, 20, 500, 80), clamp(rows, 5, 200, 24)
	// The Origin must be this server's (the library's default): another
	// site's page cannot open a student's shell with their cookie.
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 10)
	ctx := r.Context()
	t, err := s.term(ctx, st.N, node, cols, rows)
	if err != nil {
		c.Close(websocket.StatusInternalError, truncate("could not open a shell on "+node+": "+err.Error(), 120))
		return
	}
	sb, back, ok := t.attach(time.Now())
	if !ok {
		c.Close(websocket.StatusGoingAway, "the shell ended")
		return
	}
	defer t.detach(sb)
	t.shell.Resize(cols, rows)
	if err := writeControl(ctx, c, control{Type: "replay"}); err != nil {
		return
	}
	if len(back) > 0 {
		if err := c.Write(ctx, websocket.MessageBinary, back); err != nil {
			return
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer cancel()
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			if typ == websocket.MessageBinary {
				if t.input(p, time.Now()) != nil {
					return
				}
				continue
			}
			var m control
			if json.Unmarshal(p, &m) == nil && m.Type == "resize" {
				t.shell.Resize(clamp(m.Cols, 20, 500, 80), clamp(m.Rows, 5, 200, 24))
			}
		}
	}()
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	for {
		select {
		case p := <-sb.out:
			if err := c.Write(ctx, websocket.MessageBinary, p); err != nil {
				return
			}
		case <-sb.gone:
			// Output already queued goes out first.
			for {
				select {
				case p := <-sb.out:
					c.Write(ctx, websocket.MessageBinary, p)
					continue
				default:
				}
				break
			}
			if done, why := t.ended(); done {
				writeControl(ctx, c, control{Type: "ended", Why: why})
				c.Close(websocket.StatusNormalClosure, "the shell ended")
			} else {
				c.Close(websocket.StatusTryAgainLater, "too far behind: reconnect")
			}
			return
		case <-ping.C:
			pctx, pc := context.WithTimeout(ctx, 15*time.Second)
			err := c.Ping(pctx)
			pc()
			if err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func writeControl(ctx context.Context, c *websocket.Conn, m control) error {
	data, _ := json.Marshal(m)
	return c.Write(ctx, websocket.MessageText, data)
}

func clamp(v, lo, hi, def int) int {
	if v == 0 {
		return def
	}
	return min(max(v, lo), hi)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// term is the seat's node's shell: the running one, or a new one.
func (s *Server) term(ctx context.Context, seat int, node string, cols, rows int) (*term, error) {
	key := fmt.Sprintf("%d/%s", seat, node)
	s.mu.Lock()
	open, ok := s.opens[key]
	if !ok {
		open = &sync.Mutex{}
		s.opens[key] = open
	}
	s.mu.Unlock()
	open.Lock()
	defer open.Unlock()
	s.mu.Lock()
	t := s.terms[key]
	s.mu.Unlock()
	if t != nil {
		if done, _ := t.ended(); !done {
			if _, n := t.idleSince(); n >= MaxBrowsersPerTerminal {
				return nil, fmt.Errorf("%d browsers already show this terminal", n)
			}
			return t, nil
		}
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	sh, err := s.o.Backend.Shell(sctx, seat, node, cols, rows)
	if err != nil {
		return nil, err
	}
	t = newTerm(sh, time.Now())
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		t.end("the server stopped")
		return nil, errors.New("the server is stopping")
	}
	s.terms[key] = t
	s.mu.Unlock()
	s.o.Log.Info("opened a terminal", "seat", seat, "node", node)
	return t, nil
}

// reapIdle closes the terminals nobody typed into for IdleTimeout.
func (s *Server) reapIdle() {
	defer s.wg.Done()
	tick := time.NewTicker(min(s.o.IdleTimeout/4, 30*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-tick.C:
			s.mu.Lock()
			for k, t := range s.terms {
				if done, _ := t.ended(); done {
					delete(s.terms, k)
					continue
				}
				if last, _ := t.idleSince(); now.Sub(last) >= s.o.IdleTimeout {
					delete(s.terms, k)
					go t.end(fmt.Sprintf("closed after %s without a keystroke", s.o.IdleTimeout))
				}
			}
			s.mu.Unlock()
		}
	}
}

// Terminals counts the shells open now.
func (s *Server) Terminals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.terms)
}

// setBusy marks the seat as being checked or reset; false when it already is.
func (s *Server) setBusy(n int, what string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.busy[n]; b != "" {
		return b, false
	}
	s.busy[n] = what
	return "", true
}

func (s *Server) resetting(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy[n] == "resetting"
}

func (s *Server) clearBusy(n int) {
	s.mu.Lock()
	delete(s.busy, n)
	s.mu.Unlock()
}

func (s *Server) check(w http.ResponseWriter, r *http.Request, st Seat) {
	if !fromPage(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	lab := r.FormValue("lab")
	stage, _ := strconv.Atoi(r.FormValue("stage"))
	if !slices.ContainsFunc(st.Card.Labs, func(l workshop.CardLab) bool { return l.Name == lab }) {
		http.Error(w, "this seat has no such lab", http.StatusBadRequest)
		return
	}
	if stage < 0 || (stage > 0 && !slices.Contains(st.Stages[lab], stage)) {
		http.Error(w, "this lab has no such stage", http.StatusBadRequest)
		return
	}
	if b, ok := s.setBusy(st.N, "checking "+lab); !ok {
		http.Error(w, "seat "+strconv.Itoa(st.N)+" is busy ("+b+"): try again when it is done", http.StatusConflict)
		return
	}
	defer s.clearBusy(st.N)
	s.board.setBusy(st.N, "checking "+lab)
	defer s.board.setBusy(st.N, "")
	ctx, cancel := context.WithTimeout(r.Context(), s.o.CheckTimeout)
	defer cancel()
	reps, err := s.o.Backend.Check(ctx, st.N, lab, stage)
	s.board.record(st.N, reps)
	out := map[string]any{"reports": reps}
	if err != nil {
		out["error"] = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (s *Server) boardPage(w http.ResponseWriter, r *http.Request) {
	s.page(w, "board.html", map[string]any{"Workshop": s.o.Workshop, "Seats": len(s.seats)})
}

// boardEvents streams the board (server-sent events): all of it at once,
// then again at each change.
func (s *Server) boardEvents(w http.ResponseWriter, r *http.Request) {
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		data, changed := s.board.state()
		if _, err := fmt.Fprintf(w, "event: board\ndata: %s\n\n", data); err != nil {
			return
		}
		f.Flush()
	wait:
		select {
		case <-changed:
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": still here\n\n"); err != nil {
				return
			}
			f.Flush()
			goto wait
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	if !fromPage(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	n, err := strconv.Atoi(r.FormValue("seat"))
	if _, ok := s.seat(n); err != nil || !ok {
		http.Error(w, "no such seat", http.StatusBadRequest)
		return
	}
	stage := r.FormValue("stage")
	if stage != "" {
		if err := vm.ValidStage(stage); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	if b, ok := s.setBusy(n, "resetting"); !ok {
		http.Error(w, "seat "+strconv.Itoa(n)+" is busy ("+b+"): try again when it is done", http.StatusConflict)
		return
	}
	// The reset runs on when the instructor's page goes: the board shows
	// how it went.
	s.board.setStatus(n, "resetting")
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.clearBusy(n)
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Minute)
		defer cancel()
		start := time.Now()
		// Its shells are of the state that is gone.
		s.endTerms(n, "the seat was reset")
		if err := s.o.Backend.Reset(ctx, n, stage); err != nil {
			s.o.Log.Warn("reset", "seat", n, "err", err)
			s.board.setStatus(n, "reset failed: "+err.Error())
			return
		}
		s.board.clear(n)
		s.o.Log.Info("reset", "seat", n, "stage", stage, "took", time.Since(start).Round(100*time.Millisecond))
		s.board.setStatus(n, s.o.Backend.Status(ctx, n))
	}()
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) endTerms(n int, why string) {
	prefix := strconv.Itoa(n) + "/"
	s.mu.Lock()
	var ts []*term
	for k, t := range s.terms {
		if strings.HasPrefix(k, prefix) {
			ts = append(ts, t)
			delete(s.terms, k)
		}
	}
	s.mu.Unlock()
	for _, t := range ts {
		t.end(why)
	}
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	if !fromPage(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	stage := r.FormValue("stage")
	if err := vm.ValidStage(stage); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	if err := s.o.Backend.Snapshot(ctx, stage); err != nil {
		http.Error(w, "snapshot of stage "+stage+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.board.addStage(stage)
	fmt.Fprintf(w, "every seat's snapshot of stage %s taken in %s\n", stage, time.Since(start).Round(100*time.Millisecond))
}

func (s *Server) claimPage(w http.ResponseWriter, r *http.Request) {
	s.page(w, "claim.html", map[string]any{"Workshop": s.o.Workshop})
}

// MaxNameLen bounds a claimed name, in characters.
const MaxNameLen = 60

// validName takes a name as typed: letters, digits, spaces and common
// punctuation, no control or format characters, at most MaxNameLen.
func validName(name string) (string, error) {
	name = strings.Join(strings.Fields(name), " ")
	if name == "" {
		return "", errors.New("type your name")
	}
	if utf8.RuneCountInString(name) > MaxNameLen {
		return "", fmt.Errorf("at most %d characters", MaxNameLen)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) {
			return "", errors.New("only letters, digits, spaces and punctuation")
		}
	}
	return name, nil
}

func (s *Server) claim(w http.ResponseWriter, r *http.Request) {
	if !fromPage(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	name, err := validName(r.FormValue("name"))
	if err != nil {
		http.Error(w, "name: "+err.Error(), http.StatusBadRequest)
		return
	}
	n, err := s.o.Secrets.claim(name, len(s.seats), func(n int) bool { return s.board.student(n) != "" })
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	s.board.setStudent(n, name)
	s.o.Log.Info("seat claimed", "seat", n)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"seat": n, "link": fmt.Sprintf("/seat/%d/?t=%s", n, s.o.Secrets.seat(n))})
}

// pollStatus asks every seat's status at the start and every
// StatusEvery, four seats at a time.
func (s *Server) pollStatus() {
	defer s.wg.Done()
	for {
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for _, st := range s.seats {
			if s.resetting(st.N) {
				continue // the reset tells the status when it is done
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
				defer cancel()
				if status := s.o.Backend.Status(ctx, st.N); !s.resetting(st.N) && s.ctx.Err() == nil {
					s.board.setStatus(st.N, status)
				}
			}()
		}
		wg.Wait()
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(s.o.StatusEvery):
		}
	}
}
