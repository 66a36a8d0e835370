// Packets in the evidence: a short decoded capture taken while a probe
// sends traffic, so that a check can show (and assert on) the 802.1q tag,
// the source MAC, the VXLAN header or ESP itself.

package exercise

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/labctl/labctl/transport"
)

// captureSettle is how long tcpdump is given to start listening before the
// traffic is sent (tcpdump opens the interface in well under a second even
// under emulation).
const captureSettle = 2 * time.Second

// Packets captures up to count packets matching filter on a node's
// interface while during runs, and returns tcpdump's decoded lines (with
// link-level headers: MACs, 802.1q tags) as evidence. The capture stops at
// count packets or after 20 s.
func (r *Run) Packets(ctx context.Context, node, iface, filter string, count int, during func() error) (Evidence, error) {
	if count <= 0 {
		count = 4
	}
	cmd := "sudo timeout 20 " + Tcpdump(iface, filter, count, false) + " 2>/dev/null; s=$?; [ $s = 124 ] && s=0; exit $s"
	ev := Evidence{Node: node, Where: "node", Command: fmt.Sprintf("tcpdump -i %s -e -nn -c %d '%s'", iface, count, filter)}
	type result struct {
		o   Output
		err error
	}
	res := make(chan result, 1)
	go func() {
		o, err := r.Node(node).Sh(ctx, cmd)
		res <- result{o, err}
	}()
	if err := Sleep(ctx, captureSettle); err != nil {
		return ev, err
	}
	derr := during()
	got := <-res
	if got.err != nil {
		return ev, got.err
	}
	ev.Output, ev.Exit = got.o.Text(), got.o.Exit
	if got.o.Exit == 127 {
		return ev, fmt.Errorf("%s has no tcpdump: build the images again ('labctl image build') or install it on the node", node)
	}
	return ev, derr
}

// DecodedLines are the capture's packet lines (tcpdump's own messages
// left out).
func DecodedLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "tcpdump:") && !strings.Contains(l, "packets captured") {
			lines = append(lines, l)
		}
	}
	return lines
}

// Tcpdump is the command line of a capture on a node's interface (without
// sudo): decoded lines with link-level headers (MACs, 802.1q tags), or
// pcap on stdout; count 0 captures until tcpdump is stopped.
func Tcpdump(iface, filter string, count int, pcap bool) string {
	cmd := "tcpdump -i " + transport.Quote(iface)
	if pcap {
		cmd += " -U -w -"
	} else {
		cmd += " -e -nn -l"
	}
	if count > 0 {
		cmd += fmt.Sprintf(" -c %d", count)
	}
	if filter != "" {
		cmd += " " + transport.Quote(filter)
	}
	return cmd
}
