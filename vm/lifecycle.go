package vm

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/internal/fanout"
	"github.com/labctl/labctl/internal/phase"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/transport"
	"libvirt.org/go/libvirtxml"
)

// Options configure a Manager.
type Options struct {
	StateDir string             // the lab's state directory (console logs)
	Keys     keys.Lab           // the lab's SSH keys
	Cache    *images.Cache      // the image cache
	Parallel int                // nodes created at once (default 3)
	Log      *slog.Logger       // structured log (default: discard)
	Dial     transport.DialFunc // how to reach the guests (default net.Dialer)
	PoolDir  string             // directory of the storage pool if labctl creates it
	Phase    phase.Func         // told about each timed phase (may be nil)
	Boot     time.Duration      // how long a node may take to answer on SSH (default 10 min)
	Progress func(node, msg string)
	// DockerConfig is the lab's daemon.json, carried by the seeds (see
	// SeedInput.DockerConfig).
	DockerConfig []byte
	// AfterNetworks, when set, runs once the lab's networks exist on this
	// libvirtd and before any node is created (the VXLAN tunnels of a lab
	// spread over hypervisors join the bridges there).
	AfterNetworks func(context.Context) error
}

// Manager brings one lab's share on one libvirtd up and down: its nodes
// and networks there; the seeds are made from the whole lab (every node in
// /etc/hosts, the gateway's address as the resolver).
type Manager struct {
	c    *Conn
	part plan.Part
	o    Options
	// seedDocker: the image has Docker installed, so seeds add the lab
	// user to the docker group
	seedDocker bool
}

// NewManager returns a manager for the lab's part over the connection c.
func NewManager(c *Conn, part plan.Part, o Options) *Manager {
	if o.Parallel <= 0 {
		o.Parallel = 3
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
	if o.PoolDir == "" {
		o.PoolDir = "/var/lib/libvirt/images/" + part.Plan.Libvirt.Pool
	}
	if o.Boot <= 0 {
		o.Boot = 10 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = func(string, string) {}
	}
	if c.Log == nil {
		c.Log = o.Log
	}
	return &Manager{c: c, part: part, o: o}
}

// Volume names: "_" cannot appear in lab or node names, so the prefix
// labctl_LAB_ matches exactly one lab's volumes.
func volumePrefix(lab string) string     { return "labctl_" + lab + "_" }
func diskVolume(lab, node string) string { return volumePrefix(lab) + node + ".qcow2" }
func seedVolume(lab, node string) string { return volumePrefix(lab) + node + "-seed.iso" }
func baseVolume(e images.Entry) string {
	return "labctl-base_" + e.Name + "_" + e.Files[0].SHA256[:12]
}

// RemoteConsoleLog is where a node on another machine's libvirtd logs its
// serial console, on that machine.
func RemoteConsoleLog(domain string) string {
	return "/var/log/libvirt/qemu/" + domain + "-console.log"
}

// ConsoleLog is where a node's serial console is logged.
func ConsoleLog(stateDir, node string) string {
	return filepath.Join(stateDir, "console", node+".log")
}

func (m *Manager) phase(ctx context.Context, name, node string, fn func() error) error {
	start := time.Now()
	err := m.o.Phase.Time(name, node, fn)
	m.o.Log.Debug("phase", "name", name, "node", node, "seconds", time.Since(start).Seconds(), "err", err)
	return err
}

// Up creates whatever of the lab is missing and starts it, keeping what
// exists: running it again after an interruption converges. It returns
// when every node answers on its SSH port.
func (m *Manager) Up(ctx context.Context) error {
	p := m.part.Plan
	// The phases that are not a node's name the hypervisor ("" for a lab
	// on one).
	where := m.part.Hypervisor.Name
	var accel string
	if err := m.phase(ctx, "acceleration", where, func() (err error) {
		accel, err = m.Acceleration(ctx)
		return err
	}); err != nil {
		return err
	}
	m.o.Log.Info("virtualisation", "type", accel)

	var img images.Entry
	if err := m.phase(ctx, "image ready", where, func() (err error) {
		img, err = m.image(ctx, p.Image)
		return err
	}); err != nil {
		return err
	}
	m.seedDocker = img.Meta["docker"] == "installed"

	var pool libvirt.StoragePool
	var boot Boot
	var basePath string
	if err := m.phase(ctx, "storage", where, func() (err error) {
		pool, basePath, boot, err = m.base(ctx, img)
		return err
	}); err != nil {
		return err
	}

	if err := m.phase(ctx, "networks", where, func() error {
		for _, n := range m.part.Networks {
			if err := m.ensureNetwork(ctx, n); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if m.o.AfterNetworks != nil {
		if err := m.o.AfterNetworks(ctx); err != nil {
			return err
		}
	}

	if err := os.MkdirAll(filepath.Join(m.o.StateDir, "console"), 0o700); err != nil {
		return err
	}
	userKey, err := m.o.Keys.User()
	if err != nil {
		return err
	}
	hostCPUs := m.hostCPUs(ctx)
	vcpus := func(n plan.Node) int { return VCPUs(n, hostCPUs, m.part.Hypervisor.CPUs, len(m.part.Nodes)) }
	for _, n := range m.part.Nodes {
		if v := vcpus(n); v > n.CPUs {
			m.o.Progress("", fmt.Sprintf("%d vCPUs for each node whose cpus the topology leaves out: %d CPUs here for %s ('cpus: 1' keeps one)", v, hostCPUs, plan.NodeCount(len(m.part.Nodes))))
			break
		}
	}
	return m.eachNode(ctx, func(ctx context.Context, n plan.Node) error {
		n.CPUs = vcpus(n)
		if err := m.phase(ctx, "domain defined", n.Name, func() error {
			return m.ensureNode(ctx, pool, basePath, boot, accel, n, userKey.AuthorizedKey())
		}); err != nil {
			return err
		}
		return m.phase(ctx, "ssh port open", n.Name, func() error { return m.WaitSSHPort(ctx, n) })
	})
}

// eachNode runs fn for every node, at most Parallel at once, gathering
// every node's error; a cancelled context wins.
func (m *Manager) eachNode(ctx context.Context, fn func(context.Context, plan.Node) error) error {
	return fanout.Each(ctx, m.part.Nodes, m.o.Parallel, func(n plan.Node) string { return n.Name }, fn)
}

// hostCPUs is the number of CPUs of the part's hypervisor, from libvirt;
// 0 when it cannot be read (then no node gets more vCPUs than planned).
func (m *Manager) hostCPUs(ctx context.Context) int {
	var caps string
	if err := m.c.Do(ctx, "read host capabilities", func(a API) (err error) {
		caps, err = a.ConnectGetCapabilities()
		return err
	}); err != nil {
		m.o.Log.Debug("host CPUs not known", "err", err)
		return 0
	}
	return HostCPUs(caps)
}

// HostCPUs is the number of CPUs libvirt's host capabilities list (its
// NUMA cells'); 0 when they list none.
func HostCPUs(caps string) int {
	var c libvirtxml.Caps
	if err := c.Unmarshal(caps); err != nil || c.Host.NUMA == nil || c.Host.NUMA.Cells == nil {
		return 0
	}
	n := 0
	for _, cell := range c.Host.NUMA.Cells.Cells {
		if cell.CPUS != nil {
			n += int(cell.CPUS.Num)
		}
	}
	return n
}

// Acceleration decides between kvm and qemu (software emulation): kvm only
// when the topology allows it, libvirt offers it and the host CPU really
// has virtualisation extensions (a /dev/kvm alone is not enough).
func (m *Manager) Acceleration(ctx context.Context) (string, error) {
	want := m.part.Plan.Libvirt.Acceleration
	if want == "qemu" {
		return "qemu", nil
	}
	var caps, domcaps string
	var kvmErr error
	err := m.c.Do(ctx, "read host capabilities", func(a API) (err error) {
		if caps, err = a.ConnectGetCapabilities(); err != nil {
			return err
		}
		domcaps, kvmErr = a.ConnectGetDomainCapabilities(nil, libvirt.OptString{"x86_64"}, nil, libvirt.OptString{"kvm"}, 0)
		return nil
	})
	if err != nil {
		return "", err
	}
	cpuOK := strings.Contains(caps, "<feature name='vmx'/>") || strings.Contains(caps, "<feature name='svm'/>") ||
		strings.Contains(caps, `<feature name="vmx"/>`) || strings.Contains(caps, `<feature name="svm"/>`)
	kvmOK := kvmErr == nil && strings.Contains(domcaps, "<domain>kvm</domain>") && cpuOK
	switch {
	case kvmOK:
		return "kvm", nil
	case want == "kvm":
		return "", fmt.Errorf("libvirt.acceleration is kvm, but this host cannot run KVM guests (CPU virtualisation flags: %v, libvirt: %v); use acceleration: auto or qemu", cpuOK, kvmErr)
	default:
		return "qemu", nil
	}
}

// ensureNode creates the node's disk, seed and domain as needed and starts
// the domain.
func (m *Manager) ensureNode(ctx context.Context, pool libvirt.StoragePool, basePath string, boot Boot, accel string, n plan.Node, userKey string) error {
	lab := m.part.Plan.Lab
	var dom libvirt.Domain
	exists := false
	if err := m.c.Do(ctx, "look up domain", func(a API) error {
		d, err := a.DomainLookupByName(n.Domain)
		if IsNoObject(err) {
			return nil
		}
		if err != nil {
			return err
		}
		desc, err := a.DomainGetXMLDesc(d, libvirt.DomainXMLInactive)
		if err != nil {
			return err
		}
		if o, ok := ParseOwner(desc); !ok || o.Lab != lab || o.Node != n.Name {
			return fmt.Errorf("a libvirt domain named %s already exists and is not node %s of lab %s; remove it or use another --lab", n.Domain, n.Name, lab)
		}
		dom, exists = d, true
		return nil
	}); err != nil {
		return err
	}
	if !exists {
		m.o.Progress(n.Name, "creating disk and seed")
		if err := m.ensureDisk(ctx, pool, basePath, n); err != nil {
			return err
		}
		if err := m.writeSeed(ctx, pool, n, userKey); err != nil {
			return err
		}
		console := ConsoleLog(m.o.StateDir, n.Name)
		if !m.c.Local() {
			// The log is written on the hypervisor, where the lab's state
			// directory does not exist; libvirt's own log directory does.
			console = RemoteConsoleLog(n.Domain)
		}
		tb, err := TBCacheMiB()
		if err != nil {
			return err
		}
		aslr, err := GuestASLR()
		if err != nil {
			return err
		}
		fpr, err := FreePageReporting(accel)
		if err != nil {
			return err
		}
		x, err := DomainXML(DomainSpec{
			FreePageReporting: fpr,
			Lab:               lab, Node: n, Type: accel, Pool: m.part.Plan.Libvirt.Pool,
			DiskVolume: diskVolume(lab, n.Name), SeedVolume: seedVolume(lab, n.Name),
			Boot: boot, ConsoleLog: console, MTU: m.part.Networks[0].MTU, TBCacheMiB: tb, GuestASLR: aslr,
		})
		if err != nil {
			return err
		}
		if err := m.c.Do(ctx, "define domain", func(a API) (err error) {
			dom, err = orAdopt(a.DomainDefineXML(x))(func() (libvirt.Domain, bool) {
				d, lerr := a.DomainLookupByName(n.Domain)
				if lerr != nil {
					return d, false
				}
				desc, derr := a.DomainGetXMLDesc(d, libvirt.DomainXMLInactive)
				o, ok := ParseOwner(desc)
				return d, derr == nil && ok && o.Lab == lab && o.Node == n.Name
			})
			return err
		}); err != nil {
			return fmt.Errorf("define domain %s: %w", n.Domain, err)
		}
	}
	return m.c.Do(ctx, "start domain", func(a API) error {
		state, _, err := a.DomainGetState(dom, 0)
		if err != nil {
			return err
		}
		if libvirt.DomainState(state) == libvirt.DomainRunning {
			return nil
		}
		m.o.Progress(n.Name, "starting")
		if _, err := orAdopt(struct{}{}, a.DomainCreate(dom))(func() (struct{}, bool) {
			state, _, serr := a.DomainGetState(dom, 0)
			return struct{}{}, serr == nil && libvirt.DomainState(state) == libvirt.DomainRunning
		}); err != nil {
			return fmt.Errorf("start domain %s: %w", n.Domain, err)
		}
		return nil
	})
}
