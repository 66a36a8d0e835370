package labs

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/network"
)

// networkInspectVerbose asks for a Swarm network's peers and services.
func networkInspectVerbose() network.InspectOptions { return network.InspectOptions{Verbose: true} }

// sleepCtx waits seconds, or less if ctx ends.
func sleepCtx(ctx context.Context, seconds int) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(seconds) * time.Second):
		return nil
	}
}
