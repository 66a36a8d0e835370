// A lab's share on each hypervisor: its connection, libvirt and the
// tunnels.

package lab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/labctl/labctl/hypervisor"
	"github.com/labctl/labctl/internal/fanout"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/provision"
	"github.com/labctl/labctl/state"
	"github.com/labctl/labctl/transport"
	"github.com/labctl/labctl/vm"
)

// Hypervisor is what a lab needs of one of its hypervisors: package
// hypervisor's Host (this machine, or another over SSH); a fake in tests.
type Hypervisor interface {
	// Libvirt opens the hypervisor's libvirt connection.
	Libvirt(ctx context.Context) (*vm.Conn, error)
	// CheckTunnelPort fails when another program holds the UDP port.
	CheckTunnelPort(ctx context.Context, port int) error
	// Links lists the lab's VXLAN devices and bridges there.
	Links(ctx context.Context, lab string) ([]string, error)
	// Stitch makes the hypervisor's VXLAN devices of a spread lab.
	Stitch(ctx context.Context, p *plan.Plan) error
	// Unstitch removes them and returns the ones removed.
	Unstitch(ctx context.Context, lab string) ([]string, error)
	// Isolate keeps an isolated lab's nodes to themselves on its gateway;
	// Unisolate takes that away.
	Isolate(ctx context.Context, p *plan.Plan) error
	Unisolate(ctx context.Context, lab string) error
	// DialContext connects from the hypervisor (how nodes behind a
	// remote gateway are reached).
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	Close() error
}

// part is the lab on one hypervisor, connected.
type part struct {
	plan.Part
	host Hypervisor
	conn *vm.Conn
	err  error // why it could not be connected
}

// label names the part's hypervisor in messages (its URI in a lab without
// hypervisors).
func (p *part) label() string {
	if p.Hypervisor.Name == "" {
		return p.Hypervisor.URI
	}
	return fmt.Sprintf("hypervisor %s (%s)", p.Hypervisor.Name, p.Hypervisor.URI)
}

// HypervisorPins is the file of the hypervisors' pinned SSH host keys,
// shared by every lab of the user (hypervisors outlive labs).
func HypervisorPins() (string, error) {
	root, err := state.Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "hypervisors_known_hosts"), nil
}

// opener is how o connects to a hypervisor: o.OpenHypervisor, or package
// hypervisor with the pins in HypervisorPins.
func (o Options) opener() func(context.Context, plan.Hypervisor) (Hypervisor, error) {
	if o.OpenHypervisor != nil {
		return o.OpenHypervisor
	}
	return func(ctx context.Context, hv plan.Hypervisor) (Hypervisor, error) {
		return OpenHost(ctx, hv, hypervisor.Options{FirstContact: o.FirstContact})
	}
}

// OpenHost connects to a hypervisor with labctl's pins (HypervisorPins,
// set into ho): how labs reach theirs, and a workshop its jump hosts.
func OpenHost(ctx context.Context, hv plan.Hypervisor, ho hypervisor.Options) (*hypervisor.Host, error) {
	pins, err := HypervisorPins()
	if err != nil {
		return nil, err
	}
	if err := mkdirFor(pins); err != nil {
		return nil, err
	}
	ho.KnownHosts = &transport.KnownHosts{Path: pins}
	return hypervisor.Open(ctx, hv, ho)
}

// LabsOn lists the labs that own libvirt objects on any hypervisor of p,
// by labctl's metadata on them (no state needed): what a workshop's down
// finds of seats it has no record of.
func LabsOn(ctx context.Context, p *plan.Plan, o Options) ([]string, error) {
	l := &Lab{Plan: p, o: o}
	defer l.Close()
	parts, err := l.openParts(ctx, true)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var errs []error
	for _, pt := range parts {
		labs, err := vm.Labs(ctx, pt.conn)
		if err != nil {
			errs = append(errs, err)
		}
		for _, name := range labs {
			seen[name] = true
		}
	}
	return slices.Sorted(maps.Keys(seen)), gather(errs)
}

// openParts connects to every hypervisor of the lab at once (once): the
// named ones of a spread lab, or the one implicit hypervisor of
// libvirt.uri - the same way for both. With all set, an unreachable
// hypervisor is an error; without, its part keeps the error and the others
// are returned (down does what it can).
func (l *Lab) openParts(ctx context.Context, all bool) ([]*part, error) {
	if l.parts == nil {
		open := l.o.opener()
		var parts []*part
		for _, p := range l.Plan.Parts() {
			parts = append(parts, &part{Part: p})
		}
		fanout.Each(ctx, parts, len(parts), func(p *part) string { return p.Hypervisor.Name }, func(ctx context.Context, p *part) error {
			h, err := open(ctx, p.Hypervisor)
			if err != nil {
				p.err = err
				return nil
			}
			c, err := h.Libvirt(ctx) // names the hypervisor
			if err != nil {
				h.Close()
				p.err = err
				return nil
			}
			c.Log = l.o.Log
			p.host, p.conn = h, c
			return nil
		})
		if err := ctx.Err(); err != nil {
			closeParts(parts)
			return nil, err
		}
		l.parts = parts
	}
	if all {
		var errs []error
		for _, p := range l.parts {
			if p.err != nil {
				errs = append(errs, p.err)
			}
		}
		if err := gather(errs); err != nil {
			return nil, err
		}
	}
	return l.parts, nil
}

func mkdirFor(file string) error { return os.MkdirAll(filepath.Dir(file), 0o700) }

func closeParts(parts []*part) {
	for _, p := range parts {
		if p.conn != nil {
			p.conn.Close()
		}
		if p.host != nil {
			p.host.Close()
		}
	}
}

// gather is the one way the parts' errors are put together: one error
// as it is, several as a list.
func gather(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// eachPart runs fn on every part at once, each error naming its
// hypervisor.
func eachPart(ctx context.Context, parts []*part, fn func(context.Context, *part) error) error {
	// Each part's error in its place: the errors come out in the parts'
	// order, whichever hypervisor answers first.
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn(ctx, p)
			if err == nil {
				return
			}
			var named namedError
			if (len(parts) > 1 || p.Hypervisor.Name != "") && !errors.As(err, &named) {
				err = fmt.Errorf("%s: %w", p.label(), err)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	return gather(slices.DeleteFunc(errs, func(e error) bool { return e == nil }))
}

// preflight checks one hypervisor before anything is created there: the
// gateway's subnets against the host (this machine's interfaces and
// routes when it is local) and libvirt's networks; on every hypervisor of
// a spread lab, the tunnel port.
func (l *Lab) preflightPart(ctx context.Context, p *part) error {
	if p.Hypervisor.Gateway {
		var h plan.Host
		var err error
		if p.conn.Local() {
			if h, err = plan.ReadHost(); err != nil {
				return err
			}
			if w := vm.KVMDeviceWarning(vm.KVMDevice); w != "" {
				l.o.Log.Warn(w)
			}
		}
		if h.Libvirt, err = vm.ExistingNetworks(ctx, p.conn); err != nil {
			return err
		}
		if clashes := plan.Preflight(l.Plan, h); len(clashes) > 0 {
			return plan.ClashError(clashes)
		}
	}
	if l.Plan.Tunnels != nil {
		if err := p.host.CheckTunnelPort(ctx, l.Plan.Tunnels.Port); err != nil {
			return err
		}
		if err := l.bridgesFree(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// bridgesFree fails when a bridge of the lab's name exists on the
// hypervisor but is not the bridge of the lab's own libvirt network (left
// by hand, or by another tool): libvirt would refuse the network later,
// after other hypervisors got theirs.
func (l *Lab) bridgesFree(ctx context.Context, p *part) error {
	links, err := p.host.Links(ctx, l.Plan.Lab)
	if err != nil {
		return err
	}
	nets, err := vm.ExistingNetworks(ctx, p.conn)
	if err != nil {
		return err
	}
	ours := map[string]bool{}
	for _, n := range nets {
		for _, pn := range l.Plan.Networks {
			if n.Name == pn.Name && n.Bridge == pn.Bridge {
				ours[n.Bridge] = true
			}
		}
	}
	for _, link := range links {
		for _, pn := range l.Plan.Networks {
			if link == pn.Bridge && !ours[link] {
				return fmt.Errorf("a network interface %s exists there, the name of lab %s's %s bridge, but is not its libvirt network's; remove it (ip link del %s) or use another --lab", link, l.Plan.Lab, pn.Role, link)
			}
		}
	}
	return nil
}

// namedError is an error that names its hypervisor already.
type namedError struct{ error }

func (e namedError) Unwrap() error { return e.error }

// leftOn says what is left of the lab on a hypervisor down could not
// reach (p.err, from connecting, names it).
func leftOn(p *part, lab string) error {
	return namedError{fmt.Errorf("%w\nso lab %s's domains, volumes, networks and tunnels on hypervisor %s (if any) are left there; run 'labctl down' again once it answers", p.err, lab, p.Hypervisor.Name)}
}

// remoteGateway is the lab's gateway hypervisor when it is not this
// machine - a named one of a spread lab, or a lone libvirt.uri of
// qemu+ssh: the nodes' host-only network is then reached through it.
func (l *Lab) remoteGateway() (plan.Hypervisor, bool) {
	g := l.Plan.Gateway()
	return g, strings.HasPrefix(g.URI, "qemu+ssh:")
}

// jump is the gateway as the lab's ssh config's jump host; nil when the
// nodes are reached directly.
func (l *Lab) jump() (*provision.Jump, error) {
	g, ok := l.remoteGateway()
	if !ok {
		return nil, nil
	}
	u, err := url.Parse(g.URI)
	if err != nil {
		return nil, err
	}
	pins, err := HypervisorPins()
	if err != nil {
		return nil, err
	}
	name := g.Name
	if name == "" {
		name = "hypervisor" // the implicit one of libvirt.uri
	}
	j := &provision.Jump{Alias: "labctl-" + l.Plan.Lab + "-" + name, HostName: u.Hostname(), Port: u.Port(), Identity: g.Identity, KnownHosts: pins}
	if u.User != nil {
		j.User = u.User.Username()
	}
	if j.Port == "" {
		j.Port = "22"
	}
	return j, nil
}

// dial is how labctl reaches the nodes: directly (nil), or through the
// SSH connection to a remote gateway hypervisor - the same path as the
// ssh config's ProxyJump, for SSH and the Docker API over it.
func (l *Lab) dial(ctx context.Context) (transport.DialFunc, error) {
	if _, ok := l.remoteGateway(); !ok {
		return nil, nil
	}
	parts, err := l.openParts(ctx, false)
	if err != nil {
		return nil, err
	}
	if g := parts[0]; g.err != nil {
		return nil, g.err
	}
	return parts[0].host.DialContext, nil
}
