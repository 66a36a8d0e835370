package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/labctl/labctl/internal/termtext"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// live is progress on a terminal: a line per node (or seat), redrawn in
// place by mpb, saying what it does and for how long ("node2  SSH port
// open after 31s (4 s)"), and "ready" once it is; lines about the whole
// lab print above them. Without a terminal progress stays plain
// timestamped lines (globals.progress).
type live struct {
	p     *mpb.Progress
	what  string // "nodes", "seats"
	ready func(msg string) bool
	start time.Time
	width int

	mu   sync.Mutex
	rows map[string]*liveRow
	keys []string
}

type liveRow struct {
	bar   *mpb.Bar
	msg   string
	since time.Time
	done  bool
	took  time.Duration
}

// liveOK tells whether progress may be redrawn in place: text output to a
// terminal that is not dumb, and no -v log lines to mix with it.
func (g *globals) liveOK() bool {
	return g.output == "text" && g.verbose == 0 && isTerminal(g.stderr) && os.Getenv("TERM") != "dumb"
}

// newLive starts the lines of names (in that order); ready tells the
// message that ends a name's work.
func newLive(w io.Writer, what string, names []string, ready func(msg string) bool, opts ...mpb.ContainerOption) *live {
	l := &live{what: what, ready: ready, start: time.Now(), rows: map[string]*liveRow{}}
	l.p = mpb.New(append([]mpb.ContainerOption{mpb.WithOutput(w), mpb.WithRefreshRate(250 * time.Millisecond)}, opts...)...)
	for _, n := range names {
		l.row(n)
	}
	return l
}

// row is name's line, made when first asked for; l.mu is held or the
// live is being made.
func (l *live) row(name string) *liveRow {
	if r, ok := l.rows[name]; ok {
		return r
	}
	r := &liveRow{msg: "waiting", since: time.Now()}
	l.width = max(l.width, len(name))
	r.bar = l.p.New(0, mpb.NopStyle(), mpb.PrependDecorators(decor.Any(func(st decor.Statistics) string {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.line(name, r, st.AvailableWidth)
	})))
	l.rows[name] = r
	l.keys = append(l.keys, name)
	return r
}

// line is what name's row shows, cut to the terminal's width.
func (l *live) line(name string, r *liveRow, width int) string {
	var s string
	if r.done {
		s = fmt.Sprintf("%-*s  ready in %s: %s", l.width, name, seconds(r.took), r.msg)
	} else {
		s = fmt.Sprintf("%-*s  %s (%s)", l.width, name, r.msg, seconds(time.Since(r.since)))
	}
	if width > 1 && len([]rune(s)) > width-1 {
		s = string([]rune(s)[:width-2]) + "…"
	}
	return s
}

func seconds(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	return d.Round(time.Second).String()
}

// progress takes a message as globals.progress does: a node's moves its
// line on, the lab's prints above the lines.
func (l *live) progress(name, msg string) {
	msg = termtext.Clean(msg)
	if name == "" {
		fmt.Fprintf(l.p, "%s  %s\n", time.Now().Format("15:04:05"), msg)
		return
	}
	l.mu.Lock()
	r := l.row(name)
	if r.done {
		l.mu.Unlock()
		return
	}
	r.msg, r.since = msg, time.Now()
	if l.ready(msg) {
		r.done, r.took = true, time.Since(l.start)
	}
	done := r.done
	l.mu.Unlock()
	if done {
		r.bar.SetTotal(-1, true)
	}
}

// finish stops redrawing (every line as it stands) and returns the
// summary: "3/3 nodes ready in 58 s", with those that are not named.
func (l *live) finish() string {
	l.mu.Lock()
	var notReady []string
	for _, k := range l.keys {
		if r := l.rows[k]; !r.done {
			notReady = append(notReady, k)
			r.bar.Abort(false)
		}
	}
	total := len(l.keys)
	l.mu.Unlock()
	l.p.Wait()
	s := fmt.Sprintf("%d/%d %s ready in %s", total-len(notReady), total, l.what, seconds(time.Since(l.start)))
	if len(notReady) > 0 {
		s += "; not ready: " + strings.Join(notReady, ", ")
	}
	return s
}
