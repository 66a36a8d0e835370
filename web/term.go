package web

import (
	"errors"
	"io"
	"sync"
	"time"
)

// Shell is a terminal on a node: what the node prints (Read), what the
// student types (Write), and the window's size.
type Shell interface {
	io.ReadWriteCloser
	Resize(cols, rows int) error
}

// ScrollbackBytes is how much of a terminal's output the server keeps, to
// show again to a browser that reconnects.
const ScrollbackBytes = 128 << 10

// subQueue is how many chunks of output a browser may be behind before it
// is dropped (it reconnects and gets the scrollback): a slow browser does
// not make the server hold more.
const subQueue = 64

// term is one shell on one node of one seat, living in the server: the
// browsers that show it come and go (a Wi-Fi drop, a reload, a second
// tab), the shell and its scrollback stay until it exits or is idle.
type term struct {
	shell Shell

	mu       sync.Mutex
	back     []byte // the last ScrollbackBytes of output
	subs     map[*sub]struct{}
	lastIn   time.Time // the last keystroke or attach
	done     bool
	why      string // why it ended
	finished chan struct{}
}

// sub is one browser attached to a term.
type sub struct {
	out  chan []byte
	gone chan struct{} // closed when the term drops this browser
	once sync.Once
}

func (s *sub) drop() { s.once.Do(func() { close(s.gone) }) }

func newTerm(sh Shell, now time.Time) *term {
	t := &term{shell: sh, subs: map[*sub]struct{}{}, lastIn: now, finished: make(chan struct{})}
	go t.pump()
	return t
}

// pump copies the shell's output into the scrollback and to every
// attached browser.
func (t *term) pump() {
	buf := make([]byte, 32<<10)
	for {
		n, err := t.shell.Read(buf)
		if n > 0 {
			chunk := append([]byte(nil), buf[:n]...)
			t.mu.Lock()
			t.back = append(t.back, chunk...)
			if over := len(t.back) - ScrollbackBytes; over > 0 {
				t.back = append(t.back[:0:0], t.back[over:]...)
			}
			for s := range t.subs {
				select {
				case s.out <- chunk:
				default: // too far behind: it reconnects and catches up
					delete(t.subs, s)
					s.drop()
				}
			}
			t.mu.Unlock()
		}
		if err != nil {
			why := "the shell ended"
			if !errors.Is(err, io.EOF) {
				why += ": " + err.Error()
			}
			t.end(why)
			return
		}
	}
}

// end closes the shell and drops every browser.
func (t *term) end(why string) {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return
	}
	t.done, t.why = true, why
	for s := range t.subs {
		delete(t.subs, s)
		s.drop()
	}
	t.mu.Unlock()
	t.shell.Close()
	close(t.finished)
}

// attach adds a browser: it gets the scrollback, then what follows, with
// nothing lost or repeated in between.
func (t *term) attach(now time.Time) (*sub, []byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil, nil, false
	}
	s := &sub{out: make(chan []byte, subQueue), gone: make(chan struct{})}
	t.subs[s] = struct{}{}
	t.lastIn = now
	return s, append([]byte(nil), t.back...), true
}

func (t *term) detach(s *sub) {
	t.mu.Lock()
	delete(t.subs, s)
	t.mu.Unlock()
	s.drop()
}

// input is what the student typed.
func (t *term) input(p []byte, now time.Time) error {
	t.mu.Lock()
	t.lastIn = now
	t.mu.Unlock()
	_, err := t.shell.Write(p)
	return err
}

// idleSince tells when the term was last typed into or attached to, and
// whether a browser shows it now.
func (t *term) idleSince() (time.Time, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastIn, len(t.subs)
}

func (t *term) ended() (bool, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done, t.why
}
