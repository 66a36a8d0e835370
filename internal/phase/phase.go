// Package phase is the one way labctl times the phases of bringing a lab
// up (domain defined, ssh ready, docker installed, ...): vm and provision
// time their steps with it, the lab records them in its state, and the CLI
// and the benchmark print them.
package phase

import "time"

// Func receives one timed phase of a node ("" for the whole lab).
type Func func(name, node string, start time.Time, d time.Duration, err error)

// Time runs fn as phase name of node and hands its timing and error to f
// (a nil f only runs fn).
func (f Func) Time(name, node string, fn func() error) error {
	start := time.Now()
	err := fn()
	if f != nil {
		f(name, node, start, time.Since(start), err)
	}
	return err
}
