package transport

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/docker/docker/client"
)

// DockerSocket is where the Docker daemon listens on the nodes.
const DockerSocket = "/var/run/docker.sock"

// DockerClient returns a Docker API client whose every connection is a
// stream to the node's Docker socket through the pinned SSH connection
// (direct-streamlocal, as `docker -H ssh://` does with `docker system
// dial-stdio`). The API version is negotiated: Debian 12's docker.io
// speaks 1.41. The lab user must be in the docker group when the SSH
// connection was opened.
func DockerClient(c *Client) (*client.Client, error) {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		conn, err := c.SSH().Dial("unix", DockerSocket)
		if err != nil {
			return nil, fmt.Errorf("%s: docker socket over SSH: %w", c.t.Node, err)
		}
		return conn, nil
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: false}}
	return client.NewClientWithOpts(
		client.WithHost("http://"+c.t.Node),
		client.WithHTTPClient(hc),
		client.WithDialContext(dial),
		client.WithAPIVersionNegotiation(),
	)
}
