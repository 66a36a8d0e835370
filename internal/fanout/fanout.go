// Package fanout runs one function per item with bounded concurrency and
// gathers every item's error, the way labctl acts on a lab's nodes.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Each runs fn for every item, at most limit at once, and returns all
// errors gathered (each prefixed with name(item) unless it starts with
// it already), or nil. A cancelled
// context wins over the gathered errors: items not started are skipped and
// ctx.Err() is returned.
func Each[T any](ctx context.Context, items []T, limit int, name func(T) string, fn func(context.Context, T) error) error {
	if limit <= 0 {
		limit = len(items)
	}
	sem := make(chan struct{}, max(limit, 1))
	all := make([]error, len(items)) // in the items' order, whatever finishes first
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
				if n := name(it); !strings.HasPrefix(err.Error(), n+": ") {
					err = fmt.Errorf("%s: %w", n, err)
				}
				all[i] = err
			}
		}(it)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(all...)
}
