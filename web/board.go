package web

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/labctl/labctl/exercise"
)

// board is the instructor's live view: every seat's status and the latest
// result of every check each seat ran, grouped by lab.
type board struct {
	mu       sync.Mutex
	workshop string
	labs     []string            // in the seats' cards' order
	checks   map[string][]string // lab -> its checks, in the order first seen
	seats    []*boardSeat
	stages   []string
	changed  chan struct{} // closed at each change, then replaced
}

type boardSeat struct {
	n       int
	student string
	status  string
	busy    string
	results map[string]map[string]Cell // lab -> check -> its latest result
}

// Cell is a check's latest result on a seat.
type Cell struct {
	Passed   bool   `json:"passed"`
	TimedOut bool   `json:"timed_out,omitempty"`
	Hint     string `json:"hint,omitempty"`
	Error    string `json:"error,omitempty"`
}

// BoardState is what the board's events carry.
type BoardState struct {
	Workshop string      `json:"workshop"`
	Updated  time.Time   `json:"updated"`
	Stages   []string    `json:"stages"`
	Labs     []BoardLab  `json:"labs"`
	Seats    []BoardSeat `json:"seats"`
}

// BoardLab is a lab's columns: its checks and, per check, how many seats
// passed and failed it (the class is stuck where failed is high).
type BoardLab struct {
	Name   string   `json:"name"`
	Checks []string `json:"checks"`
	Passed []int    `json:"passed"`
	Failed []int    `json:"failed"`
}

// BoardSeat is a seat's row: a cell per column of each lab ("pass",
// "FAIL", "TIME" or "-": not run).
type BoardSeat struct {
	Seat    int                 `json:"seat"`
	Student string              `json:"student"`
	Status  string              `json:"status"`
	Busy    string              `json:"busy,omitempty"`
	Cells   map[string][]string `json:"cells"`
	Hints   map[string][]string `json:"hints,omitempty"`
	Passed  int                 `json:"passed"`
	Failed  int                 `json:"failed"`
}

func newBoard(workshop string, seats []Seat, sec *Secrets) *board {
	b := &board{workshop: workshop, checks: map[string][]string{}, changed: make(chan struct{})}
	seen := map[string]bool{}
	for _, s := range seats {
		name := sec.name(s.N)
		if name == "" {
			name = s.Card.Student
		}
		b.seats = append(b.seats, &boardSeat{n: s.N, student: name, status: "asking", results: map[string]map[string]Cell{}})
		for _, l := range s.Card.Labs {
			if !seen[l.Name] {
				seen[l.Name] = true
				b.labs = append(b.labs, l.Name)
			}
		}
	}
	return b
}

// change wakes every board page; b.mu is held.
func (b *board) change() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *board) seat(n int) *boardSeat {
	if n < 1 || n > len(b.seats) {
		return nil
	}
	return b.seats[n-1]
}

func (b *board) update(n int, fn func(s *boardSeat)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.seat(n); s != nil {
		fn(s)
		b.change()
	}
}

func (b *board) setStatus(n int, status string) {
	b.update(n, func(s *boardSeat) { s.status = status })
}
func (b *board) setBusy(n int, busy string)    { b.update(n, func(s *boardSeat) { s.busy = busy }) }
func (b *board) setStudent(n int, name string) { b.update(n, func(s *boardSeat) { s.student = name }) }

// clear forgets a seat's results (after a reset they are of a state that
// is gone).
func (b *board) clear(n int) {
	b.update(n, func(s *boardSeat) { s.results = map[string]map[string]Cell{} })
}

func (b *board) student(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.seat(n); s != nil {
		return s.student
	}
	return ""
}

// record keeps the latest result of each check a seat ran.
func (b *board) record(n int, reps []exercise.Report) {
	b.update(n, func(s *boardSeat) {
		for _, r := range reps {
			if s.results[r.Lab] == nil {
				s.results[r.Lab] = map[string]Cell{}
			}
			if r.SetupError != "" && len(r.Checks) == 0 {
				s.results[r.Lab]["setup"] = Cell{Error: r.SetupError}
				b.addCheck(r.Lab, "setup")
			}
			for _, c := range r.Checks {
				s.results[r.Lab][c.Check] = Cell{Passed: c.Passed, TimedOut: c.TimedOut, Hint: c.Hint, Error: c.Error}
				b.addCheck(r.Lab, c.Check)
			}
		}
	})
}

func (b *board) addCheck(lab, check string) {
	for _, c := range b.checks[lab] {
		if c == check {
			return
		}
	}
	b.checks[lab] = append(b.checks[lab], check)
	for _, l := range b.labs {
		if l == lab {
			return
		}
	}
	b.labs = append(b.labs, lab)
}

func (b *board) addStage(stage string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.stages {
		if s == stage {
			return
		}
	}
	b.stages = append(b.stages, stage)
	b.change()
}

// state is the board as JSON, and a channel closed at its next change.
func (b *board) state() ([]byte, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := BoardState{Workshop: b.workshop, Updated: time.Now().UTC(), Stages: append([]string{}, b.stages...), Labs: []BoardLab{}, Seats: []BoardSeat{}}
	for _, l := range b.labs {
		if len(b.checks[l]) == 0 {
			continue
		}
		bl := BoardLab{Name: l, Checks: b.checks[l], Passed: make([]int, len(b.checks[l])), Failed: make([]int, len(b.checks[l]))}
		st.Labs = append(st.Labs, bl)
	}
	for _, s := range b.seats {
		row := BoardSeat{Seat: s.n, Student: s.student, Status: s.status, Busy: s.busy, Cells: map[string][]string{}, Hints: map[string][]string{}}
		for li, bl := range st.Labs {
			cells, hints := make([]string, len(bl.Checks)), make([]string, len(bl.Checks))
			for i, c := range bl.Checks {
				cell, ok := s.results[bl.Name][c]
				switch {
				case !ok:
					cells[i] = "-"
				case cell.Passed:
					cells[i] = "pass"
					row.Passed++
					st.Labs[li].Passed[i]++
				default:
					cells[i] = "FAIL"
					if cell.TimedOut {
						cells[i] = "TIME"
					}
					hints[i] = cell.Hint
					if hints[i] == "" {
						hints[i] = cell.Error
					}
					row.Failed++
					st.Labs[li].Failed[i]++
				}
			}
			row.Cells[bl.Name], row.Hints[bl.Name] = cells, hints
		}
		st.Seats = append(st.Seats, row)
	}
	data, _ := json.Marshal(st)
	return data, b.changed
}
