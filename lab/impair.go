package lab

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labctl/labctl/transport"
)

// Impairment is what netem does to an interface's outgoing packets.
type Impairment struct {
	Delay  time.Duration // added to every packet
	Jitter time.Duration // the delay varies by up to this much
	Loss   float64       // percent of packets dropped
	Rate   string        // e.g. 1mbit
}

var rateRE = regexp.MustCompile(`^[0-9]{1,9}(bit|kbit|mbit|gbit)$`)

// netem is the tc netem argument list, after checking every value.
func (im Impairment) netem() (string, error) {
	var args []string
	switch {
	case im.Delay < 0 || im.Delay > time.Minute:
		return "", fmt.Errorf("delay %s: 0 to 1m", im.Delay)
	case im.Jitter < 0 || im.Jitter > im.Delay:
		return "", fmt.Errorf("jitter %s: at most the delay (%s)", im.Jitter, im.Delay)
	case im.Loss < 0 || im.Loss > 100:
		return "", fmt.Errorf("loss %g%%: 0 to 100", im.Loss)
	case im.Rate != "" && !rateRE.MatchString(im.Rate):
		return "", fmt.Errorf("rate %q: a number and bit, kbit, mbit or gbit (1mbit)", im.Rate)
	}
	if im.Delay > 0 {
		args = append(args, "delay", fmt.Sprintf("%dms", im.Delay.Milliseconds()))
		if im.Jitter > 0 {
			args = append(args, fmt.Sprintf("%dms", im.Jitter.Milliseconds()))
		}
	}
	if im.Loss > 0 {
		args = append(args, "loss", strconv.FormatFloat(im.Loss, 'f', -1, 64)+"%")
	}
	if im.Rate != "" {
		args = append(args, "rate", im.Rate)
	}
	if len(args) == 0 {
		return "", fmt.Errorf("nothing to do: give --delay, --loss or --rate (or --clear)")
	}
	return strings.Join(args, " "), nil
}

// ParseLoss reads "5%" or "5".
func ParseLoss(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("loss %q: a percentage such as 5%%", s)
	}
	return v, nil
}

var ifaceRE = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,15}$`)

// Impair puts netem on a node's interface (replacing what labctl put there
// before) and records it for status and lab run; a zero Impairment with
// clear removes it.
func (l *Lab) Impair(ctx context.Context, node, iface string, im Impairment, clear bool) (string, error) {
	if !ifaceRE.MatchString(iface) {
		return "", fmt.Errorf("%q is not an interface name", iface)
	}
	var cmd, spec string
	if clear {
		cmd = "sudo tc qdisc del dev " + transport.Quote(iface) + " root 2>/dev/null; ! sudo tc qdisc show dev " + transport.Quote(iface) + " | grep -q netem"
	} else {
		var err error
		if spec, err = im.netem(); err != nil {
			return "", err
		}
		cmd = "sudo tc qdisc replace dev " + transport.Quote(iface) + " root netem " + spec
	}
	c, err := l.Node(ctx, node)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if out, err := c.Run(ctx, "ip link show dev "+transport.Quote(iface)+" >/dev/null && "+cmd); err != nil {
		return "", fmt.Errorf("%s: %w%s", node, err, strings.TrimSpace(string(out)))
	}
	l.mu.Lock()
	if l.st.Impaired == nil {
		l.st.Impaired = map[string]string{}
	}
	if clear {
		delete(l.st.Impaired, node+"/"+iface)
	} else {
		l.st.Impaired[node+"/"+iface] = spec
	}
	l.mu.Unlock()
	return spec, l.save(false)
}

// Impaired lists the interfaces labctl impaired, "node/iface: spec",
// sorted.
func (l *Lab) Impaired() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []string{} // [] in JSON when nothing is impaired
	for k, v := range l.st.Impaired {
		out = append(out, k+": "+v)
	}
	sort.Strings(out)
	return out
}
