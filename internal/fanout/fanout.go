// Package fanout runs one function per item with bounded concurrency and
// gathers every item's error, the way labctl acts on a lab's nodes.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Each runs fn for every item, at most limit at once, and returns all
// errors gathered (each prefixed with name(item) unless it starts with
// it already, or the name is ""), or nil. Items that failed the same way
// are one error naming them all ("ws-s01 to ws-s30: ..."), in the place
// of the first: thirty seats short of the same image make one line, not
// thirty. A cancelled
// context wins over the gathered errors: items not started are skipped and
// ctx.Err() is returned.
func Each[T any](ctx context.Context, items []T, limit int, name func(T) string, fn func(context.Context, T) error) error {
	if limit <= 0 {
		limit = len(items)
	}
	sem := make(chan struct{}, max(limit, 1))
	all := make([]error, len(items)) // in the items' order, whatever finishes first
	names := make([]string, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func(it T) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := fn(ctx, it); err != nil {
				// An error that names its item already (as SSH's do)
				// is not named twice.
				n := name(it)
				if n != "" && !strings.HasPrefix(err.Error(), n+": ") {
					err = fmt.Errorf("%s: %w", n, err)
				}
				all[i] = err
				names[i] = n
			}
		}(it)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return merge(all, names)
}

// same is the one error of several items that failed alike: the items'
// errors are all there for errors.Is and errors.As.
type same struct {
	names []string
	rest  string
	errs  []error
}

func (s *same) Error() string   { return Names(s.names) + ": " + s.rest }
func (s *same) Unwrap() []error { return s.errs }

// merge joins errs (nil where an item succeeded), each named names[i],
// those that read the same after their names made one.
func merge(errs []error, names []string) error {
	var out []error
	groups := map[string]*same{}
	for i, err := range errs {
		if err == nil {
			continue
		}
		rest, named := strings.CutPrefix(err.Error(), names[i]+": ")
		if !named || names[i] == "" {
			out = append(out, err)
			continue
		}
		if g := groups[rest]; g != nil {
			g.names = append(g.names, names[i])
			g.errs = append(g.errs, err)
			continue
		}
		g := &same{names: []string{names[i]}, rest: rest, errs: []error{err}}
		groups[rest] = g
		out = append(out, g)
	}
	for i, err := range out {
		if g, ok := err.(*same); ok && len(g.errs) == 1 {
			out[i] = g.errs[0] // alone: as it was
		}
	}
	return errors.Join(out...)
}

// Names lists names for a message, runs of three or more that count up
// (ws-s01, ws-s02, ws-s03) as "ws-s01 to ws-s03": "ws-s01 to ws-s05,
// ws-s07".
func Names(names []string) string {
	var b strings.Builder
	for i := 0; i < len(names); {
		j := i
		for j+1 < len(names) && follows(names[j], names[j+1]) {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		switch {
		case j-i >= 2:
			b.WriteString(names[i] + " to " + names[j])
		case j == i+1:
			b.WriteString(names[i] + ", " + names[j])
		default:
			b.WriteString(names[i])
		}
		i = j + 1
	}
	return b.String()
}

// follows tells whether b is a's successor: the same text before a
// number of the same width, one more.
func follows(a, b string) bool {
	pa, na := splitNumber(a)
	pb, nb := splitNumber(b)
	if na == "" || pa != pb || len(na) != len(nb) {
		return false
	}
	x, err1 := strconv.Atoi(na)
	y, err2 := strconv.Atoi(nb)
	return err1 == nil && err2 == nil && y == x+1
}

// splitNumber cuts the trailing digits off s.
func splitNumber(s string) (string, string) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	return s[:i], s[i:]
}
