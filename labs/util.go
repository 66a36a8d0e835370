package labs

import (
	"bytes"
	"context"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

func networkInspectOptions() network.InspectOptions { return network.InspectOptions{} }

// networkInspectVerbose asks for a Swarm network's peers and services.
func networkInspectVerbose() network.InspectOptions { return network.InspectOptions{Verbose: true} }

// containerLogs returns a container's output so far ("" if unavailable).
func containerLogs(ctx context.Context, r *Run, node, ctr string) string {
	rc, err := r.Node(node).Docker().ContainerLogs(ctx, ctr, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "(logs: " + err.Error() + ")"
	}
	defer rc.Close()
	// The labs' containers have a TTY, whose log is one raw stream.
	var out bytes.Buffer
	out.ReadFrom(rc)
	return out.String()
}

// sleepCtx waits seconds, or less if ctx ends.
func sleepCtx(ctx context.Context, seconds int) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(seconds) * time.Second):
		return nil
	}
}
