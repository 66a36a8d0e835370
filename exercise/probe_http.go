package exercise

import (
	"context"
	"strings"
)

// FromHost fetches url from the machine labctl runs on; ok when the page
// contains contains.
func (r *Run) FromHost(ctx context.Context, url, contains string) (bool, Evidence, error) {
	o, err := r.Env.Host.HTTPGet(ctx, url)
	ev := Evidence{Node: "host", Where: "host", Command: "GET " + url}
	if err != nil {
		ev.Output, ev.Exit = err.Error(), 1
		return false, ev, nil
	}
	ev.Output, ev.Exit = o.Text(), o.Exit
	return o.Exit == 0 && strings.Contains(o.Stdout, contains), ev, nil
}
