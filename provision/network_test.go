package provision

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/labctl/labctl/transport"
)

// cmdRecorder is a Runner that records the commands it is given and
// answers them with err.
type cmdRecorder struct {
	cmds []string
	err  error
}

func (c *cmdRecorder) Run(ctx context.Context, cmd string) ([]byte, error) {
	c.cmds = append(c.cmds, cmd)
	return nil, c.err
}

func (c *cmdRecorder) Upload(ctx context.Context, r io.Reader, size int64, dst string, perm os.FileMode) error {
	return errors.New("cmdRecorder: no uploads")
}

// TestCheckGuestNetworkAsksForIPv4Only: every node's name is looked up for
// its IPv4 address alone. `getent hosts` asks for IPv6 first, and with
// /etc/hosts holding IPv4 addresses only that question goes to the NAT
// network's DNS, which offline waits out two 5 s timeouts per name (10 s a
// name, measured in a node: 30 s of a 3-node up).
func TestCheckGuestNetworkAsksForIPv4Only(t *testing.T) {
	p := testPlan(t)
	if len(p.Nodes) < 2 {
		t.Fatalf("the default plan has %d nodes; the test needs several", len(p.Nodes))
	}
	n := p.Nodes[0]
	r := &cmdRecorder{}
	if err := CheckGuestNetwork(context.Background(), r, p, n); err != nil {
		t.Fatal(err)
	}
	if len(r.cmds) != 1 {
		t.Fatalf("%d commands, want one: %q", len(r.cmds), r.cmds)
	}
	cmd := r.cmds[0]
	for _, o := range p.Nodes {
		if want := "getent ahostsv4 " + transport.Quote(o.Hostname) + " >/dev/null"; !strings.Contains(cmd, want) {
			t.Errorf("command %q lacks %q", cmd, want)
		}
	}
	for _, v := range n.VLANs {
		if want := "ip link show " + transport.Quote(v.Name); !strings.Contains(cmd, want) {
			t.Errorf("command %q lacks %q", cmd, want)
		}
	}
	if strings.Contains(cmd, "getent hosts") {
		t.Errorf("command %q looks names up with getent hosts (IPv6 first, through DNS)", cmd)
	}

	r = &cmdRecorder{err: errors.New("exit status 2")}
	err := CheckGuestNetwork(context.Background(), r, p, n)
	if err == nil || !strings.Contains(err.Error(), "guest network") || !strings.Contains(err.Error(), "exit status 2") {
		t.Errorf("a failing check gave %v, want the guest network error with the cause", err)
	}
}
