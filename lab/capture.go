package lab

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/transport"
)

// Capture runs tcpdump on a node's interface (exercise.Tcpdump: decoded
// lines, or pcap with pcap set) and streams its output to out until it has
// count packets or ctx ends, which stops tcpdump on the node cleanly.
func (l *Lab) Capture(ctx context.Context, node, iface, filter string, count int, pcap bool, out, errw io.Writer) error {
	c, err := l.Node(ctx, node)
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.StreamInterruptible(ctx, "exec sudo "+exercise.Tcpdump(iface, filter, count, pcap), out, errw)
	var ee *transport.ExitError
	if errors.As(err, &ee) && ee.Status == 127 {
		err = fmt.Errorf("%s has no tcpdump (images built before it was added: 'labctl image build' again, or apt-get install tcpdump on the node)", node)
	}
	return err
}
