package vm

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/network"
)

// Options configure a Manager.
type Options struct {
	StateDir string        // the lab's state directory (console logs)
	Keys     keys.Lab      // the lab's SSH keys
	Cache    *images.Cache // the image cache
	Parallel int           // nodes created at once (default 3)
	Log      *slog.Logger  // structured log (default: discard)
	Dial     DialFunc      // how to reach the guests (default net.Dialer)
	PoolDir  string        // directory of the storage pool if labctl creates it
	Phase    PhaseFunc     // told about each timed phase (may be nil)
	Boot     time.Duration // how long a node may take to answer on SSH (default 10 min)
	Progress func(node, msg string)
	// DockerConfig is the lab's daemon.json, carried by the seeds (see
	// SeedInput.DockerConfig).
	DockerConfig []byte
}

// DialFunc opens a connection to a guest.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// PhaseFunc records a timed phase; node is "" for lab-wide phases.
type PhaseFunc func(name, node string, start time.Time, d time.Duration, err error)

// Manager brings one lab's VMs up and down.
type Manager struct {
	c    *Conn
	plan *network.Plan
	o    Options
	// seedDocker: the image has Docker installed, so seeds add the lab
	// user to the docker group
	seedDocker bool
}

// NewManager returns a manager for the plan over the connection c.
func NewManager(c *Conn, p *network.Plan, o Options) *Manager {
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
		o.PoolDir = "/var/lib/libvirt/images/" + p.Libvirt.Pool
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
	return &Manager{c: c, plan: p, o: o}
}

// Volume names: "_" cannot appear in lab or node names, so the prefix
// labctl_LAB_ matches exactly one lab's volumes.
func volumePrefix(lab string) string     { return "labctl_" + lab + "_" }
func diskVolume(lab, node string) string { return volumePrefix(lab) + node + ".qcow2" }
func seedVolume(lab, node string) string { return volumePrefix(lab) + node + "-seed.iso" }
func baseVolume(e images.Entry) string {
	return "labctl-base_" + e.Name + "_" + e.Files[0].SHA256[:12]
}

// ConsoleLog is where a node's serial console is logged.
func ConsoleLog(stateDir, node string) string {
	return filepath.Join(stateDir, "console", node+".log")
}

func (m *Manager) phase(ctx context.Context, name, node string, fn func() error) error {
	start := time.Now()
	err := fn()
	if m.o.Phase != nil {
		m.o.Phase(name, node, start, time.Since(start), err)
	}
	m.o.Log.Debug("phase", "name", name, "node", node, "seconds", time.Since(start).Seconds(), "err", err)
	return err
}

// Up creates whatever of the lab is missing and starts it, keeping what
// exists: running it again after an interruption converges. It returns
// when every node answers on its SSH port.
func (m *Manager) Up(ctx context.Context) error {
	p := m.plan
	var accel string
	if err := m.phase(ctx, "acceleration", "", func() (err error) {
		accel, err = m.Acceleration(ctx)
		return err
	}); err != nil {
		return err
	}
	m.o.Log.Info("virtualisation", "type", accel)

	var img images.Entry
	if err := m.phase(ctx, "image ready", "", func() (err error) {
		img, err = m.o.Cache.Resolve(ctx, p.Image, &images.Downloader{})
		if err == nil && img.Kind != images.KindVMImage {
			err = fmt.Errorf("image %s is a %s, not a VM image", p.Image, img.Kind)
		}
		return err
	}); err != nil {
		return err
	}
	m.seedDocker = img.Meta["docker"] == "installed"

	var pool libvirt.StoragePool
	var boot Boot
	var basePath string
	if err := m.phase(ctx, "storage", "", func() (err error) {
		if pool, err = m.ensurePool(ctx); err != nil {
			return err
		}
		basePath, boot, err = m.ensureBase(ctx, pool, img)
		return err
	}); err != nil {
		return err
	}

	if err := m.phase(ctx, "networks", "", func() error {
		for _, n := range p.Networks {
			if err := m.ensureNetwork(ctx, n); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}

	if err := os.MkdirAll(filepath.Join(m.o.StateDir, "console"), 0o700); err != nil {
		return err
	}
	userKey, err := m.o.Keys.User()
	if err != nil {
		return err
	}
	return m.eachNode(ctx, func(ctx context.Context, n network.Node) error {
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
func (m *Manager) eachNode(ctx context.Context, fn func(context.Context, network.Node) error) error {
	return fanout.Each(ctx, m.plan.Nodes, m.o.Parallel, func(n network.Node) string { return n.Name }, fn)
}

// Acceleration decides between kvm and qemu (software emulation): kvm only
// when the topology allows it, libvirt offers it and the host CPU really
// has virtualisation extensions (a /dev/kvm alone is not enough).
func (m *Manager) Acceleration(ctx context.Context) (string, error) {
	want := m.plan.Libvirt.Acceleration
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

func (m *Manager) ensurePool(ctx context.Context) (libvirt.StoragePool, error) {
	name := m.plan.Libvirt.Pool
	var pool libvirt.StoragePool
	err := m.c.Do(ctx, "storage pool "+name, func(a API) error {
		var err error
		pool, err = a.StoragePoolLookupByName(name)
		if IsNoObject(err) {
			x, xerr := PoolXML(name, m.o.PoolDir)
			if xerr != nil {
				return xerr
			}
			if pool, err = a.StoragePoolDefineXML(x, 0); err != nil {
				return fmt.Errorf("define: %w", err)
			}
			if err = a.StoragePoolBuild(pool, 0); err != nil {
				return fmt.Errorf("build %s: %w", m.o.PoolDir, err)
			}
		} else if err != nil {
			return err
		}
		active, err := a.StoragePoolIsActive(pool)
		if err != nil {
			return err
		}
		if active == 0 {
			if err := a.StoragePoolCreate(pool, 0); err != nil {
				return fmt.Errorf("start: %w", err)
			}
		}
		return nil
	})
	return pool, err
}

// ensureBase uploads the image's disk (and kernel and initrd) into the
// pool once per image checksum. A marker volume is created last: volumes
// without it are from an interrupted upload and are replaced.
func (m *Manager) ensureBase(ctx context.Context, pool libvirt.StoragePool, e images.Entry) (string, Boot, error) {
	base := baseVolume(e)
	type part struct {
		role, vol, format string
	}
	parts := []part{{"disk", base + ".qcow2", "qcow2"}}
	if e.Meta["boot"] == "kernel" {
		parts = append(parts, part{"kernel", base + ".vmlinuz", "raw"}, part{"initrd", base + ".initrd", "raw"})
	}
	marker := base + ".complete"
	var complete bool
	if err := m.c.Do(ctx, "look up base image", func(a API) error {
		_, err := a.StorageVolLookupByName(pool, marker)
		complete = err == nil
		if err != nil && !IsNoObject(err) {
			return err
		}
		return nil
	}); err != nil {
		return "", Boot{}, err
	}
	if !complete {
		for _, pt := range parts {
			f, ok := e.File(pt.role)
			if !ok {
				return "", Boot{}, fmt.Errorf("image %s has no %s file", e.Name, pt.role)
			}
			m.o.Progress("", fmt.Sprintf("uploading %s %s (%d MiB) into pool %s", e.Name, pt.role, f.Size>>20, m.plan.Libvirt.Pool))
			if err := m.uploadVolume(ctx, pool, pt.vol, pt.format, m.o.Cache.Abs(f.Path), f.Size); err != nil {
				return "", Boot{}, fmt.Errorf("upload %s: %w", pt.vol, err)
			}
		}
		if err := m.c.Do(ctx, "mark base image complete", func(a API) error {
			x, _ := VolumeXML(marker, "raw", 1, "", "")
			_, err := a.StorageVolCreateXML(pool, x, 0)
			return err
		}); err != nil {
			return "", Boot{}, err
		}
	}
	paths := map[string]string{}
	if err := m.c.Do(ctx, "base image paths", func(a API) error {
		for _, pt := range parts {
			v, err := a.StorageVolLookupByName(pool, pt.vol)
			if err != nil {
				return err
			}
			if paths[pt.role], err = a.StorageVolGetPath(v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return "", Boot{}, err
	}
	b := Boot{}
	if e.Meta["boot"] == "kernel" {
		b = Boot{Kernel: paths["kernel"], Initrd: paths["initrd"], Cmdline: e.Meta["cmdline"]}
	}
	return paths["disk"], b, nil
}

// uploadVolume (re)creates volume name in pool and fills it from a file.
func (m *Manager) uploadVolume(ctx context.Context, pool libvirt.StoragePool, name, format, src string, size int64) error {
	var vol libvirt.StorageVol
	if err := m.c.Do(ctx, "create volume "+name, func(a API) error {
		if old, err := a.StorageVolLookupByName(pool, name); err == nil {
			if err := a.StorageVolDelete(old, 0); err != nil {
				return err
			}
		} else if !IsNoObject(err) {
			return err
		}
		x, err := VolumeXML(name, format, uint64(size), "", "")
		if err != nil {
			return err
		}
		vol, err = a.StorageVolCreateXML(pool, x, 0)
		return err
	}); err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	// An upload moves the whole file: bound it by size (at least 10 MiB/s).
	timeout := CallTimeout + time.Duration(size/(10<<20))*time.Second
	return m.c.do(ctx, "upload "+name, timeout, func(a API) error {
		return a.StorageVolUpload(vol, f, 0, uint64(size), 0)
	})
}

// orAdopt handles the one race every create and start in libvirt has with
// an interrupted labctl: a request sent by an up that was killed can still
// complete in libvirtd after the next up looked, so the next up's own
// request then fails ("already exists", "already running"). When the call
// (v, err) failed, found reads the object again and says whether it is
// now there, in the wanted state and this lab's; then it is used as if
// this call had made it. Used as orAdopt(call(...))(found).
func orAdopt[T any](v T, err error) func(found func() (T, bool)) (T, error) {
	return func(found func() (T, bool)) (T, error) {
		if err == nil {
			return v, nil
		}
		if again, ok := found(); ok {
			return again, nil
		}
		return v, err
	}
}

// ownsNetwork reports whether net carries this lab's metadata.
func (m *Manager) ownsNetwork(a API, net libvirt.Network) bool {
	desc, err := a.NetworkGetXMLDesc(net, 0)
	if err != nil {
		return false
	}
	o, ok := ParseOwner(desc)
	return ok && o.Lab == m.plan.Lab
}

// ensureNetwork defines and starts one of the lab's networks. A network of
// the same name that labctl did not create for this lab is an error.
func (m *Manager) ensureNetwork(ctx context.Context, n network.Net) error {
	x, err := NetworkXML(m.plan.Lab, n)
	if err != nil {
		return err
	}
	return m.c.Do(ctx, "network "+n.Name, func(a API) error {
		net, err := a.NetworkLookupByName(n.Name)
		if IsNoObject(err) {
			net, err = orAdopt(a.NetworkDefineXML(x))(func() (libvirt.Network, bool) {
				again, lerr := a.NetworkLookupByName(n.Name)
				return again, lerr == nil && m.ownsNetwork(a, again)
			})
			if err != nil {
				return fmt.Errorf("define network %s: %w", n.Name, err)
			}
		} else if err != nil {
			return err
		} else {
			desc, err := a.NetworkGetXMLDesc(net, 0)
			if err != nil {
				return err
			}
			if o, ok := ParseOwner(desc); !ok || o.Lab != m.plan.Lab {
				return fmt.Errorf("a libvirt network named %s already exists and does not belong to lab %s; remove it or use another --lab", n.Name, m.plan.Lab)
			}
		}
		active, err := a.NetworkIsActive(net)
		if err != nil {
			return err
		}
		if active == 0 {
			if _, err := orAdopt(struct{}{}, a.NetworkCreate(net))(func() (struct{}, bool) {
				now, aerr := a.NetworkIsActive(net)
				return struct{}{}, aerr == nil && now == 1
			}); err != nil {
				return fmt.Errorf("start network %s: %w", n.Name, err)
			}
		}
		return nil
	})
}

// ensureNode creates the node's disk, seed and domain as needed and starts
// the domain.
func (m *Manager) ensureNode(ctx context.Context, pool libvirt.StoragePool, basePath string, boot Boot, accel string, n network.Node, userKey string) error {
	lab := m.plan.Lab
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
		x, err := DomainXML(DomainSpec{
			Lab: lab, Node: n, Type: accel, Pool: m.plan.Libvirt.Pool,
			DiskVolume: diskVolume(lab, n.Name), SeedVolume: seedVolume(lab, n.Name),
			Boot: boot, ConsoleLog: ConsoleLog(m.o.StateDir, n.Name),
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

func (m *Manager) ensureDisk(ctx context.Context, pool libvirt.StoragePool, basePath string, n network.Node) error {
	name := diskVolume(m.plan.Lab, n.Name)
	return m.c.Do(ctx, "disk "+name, func(a API) error {
		if _, err := a.StorageVolLookupByName(pool, name); err == nil {
			return nil
		} else if !IsNoObject(err) {
			return err
		}
		x, err := VolumeXML(name, "qcow2", n.DiskGiB<<30, basePath, "qcow2")
		if err != nil {
			return err
		}
		_, err = orAdopt(a.StorageVolCreateXML(pool, x, 0))(func() (libvirt.StorageVol, bool) {
			v, lerr := a.StorageVolLookupByName(pool, name)
			return v, lerr == nil
		})
		return err
	})
}

// writeSeed (re)writes the node's seed volume. It runs only while the node
// has no domain, so a seed cut short by an interruption is always replaced.
func (m *Manager) writeSeed(ctx context.Context, pool libvirt.StoragePool, n network.Node, userKey string) error {
	hostKey, err := m.o.Keys.Host(n.Name)
	if err != nil {
		return err
	}
	in := SeedInput{Plan: m.plan, Node: n, UserKey: userKey, HostKey: hostKey,
		DockerConfig: m.o.DockerConfig, DockerGroup: m.seedDocker}
	seed, err := MakeSeed(in)
	if err != nil {
		return err
	}
	var iso bytes.Buffer
	if err := seed.ISO(&iso); err != nil {
		return err
	}
	tmp, err := os.CreateTemp("", "labctl-seed-*.iso")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(iso.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	tmp.Close()
	return m.uploadVolume(ctx, pool, seedVolume(m.plan.Lab, n.Name), "raw", tmp.Name(), int64(iso.Len()))
}

// ErrDomainStopped means a node stopped while labctl waited for it.
var ErrDomainStopped = errors.New("the VM stopped")

// WaitSSHPort waits until the node's SSH server greets on its host-only
// address. Each attempt is bounded; attempts back off up to 2 s (every
// second of looking late is a second added to the node's time to ready);
// the wait ends early if the domain is no longer running, with the
// console's last lines in the error.
func (m *Manager) WaitSSHPort(ctx context.Context, n network.Node) error {
	addr := net.JoinHostPort(n.Addr(network.RoleHostOnly), "22")
	start := time.Now()
	deadline := start.Add(m.o.Boot)
	backoff := 500 * time.Millisecond
	var last error
	for attempt := 1; ; attempt++ {
		if err := sshGreeting(ctx, m.o.Dial, addr, 5*time.Second); err == nil {
			m.o.Progress(n.Name, fmt.Sprintf("SSH port open after %s", time.Since(start).Round(time.Second)))
			return nil
		} else {
			last = err
		}
		if attempt%5 == 0 {
			m.o.Log.Info("waiting for SSH", "node", n.Name, "addr", addr, "attempt", attempt,
				"elapsed", time.Since(start).Round(time.Second).String(), "of", m.o.Boot.String(), "last", last.Error())
		}
		if state, err := m.domainState(ctx, n); err == nil && state != libvirt.DomainRunning {
			return fmt.Errorf("waiting for SSH on %s: %w (state %d) after %s; console:\n%s", addr, ErrDomainStopped, state, time.Since(start).Round(time.Second), m.ConsoleTail(n.Name, 15))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for SSH on %s (attempt %d, %s of %s): %v; console:\n%s", addr, attempt, time.Since(start).Round(time.Second), m.o.Boot, last, m.ConsoleTail(n.Name, 15))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for SSH on %s: %w", addr, ctx.Err())
		case <-time.After(backoff):
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
}

func sshGreeting(ctx context.Context, dial DialFunc, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 8)
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("no SSH greeting: %w", err)
	}
	if !bytes.HasPrefix(buf, []byte("SSH-")) {
		return fmt.Errorf("not an SSH server: %q", buf)
	}
	return nil
}

func (m *Manager) domainState(ctx context.Context, n network.Node) (libvirt.DomainState, error) {
	var st int32
	err := m.c.Do(ctx, "domain state", func(a API) error {
		d, err := a.DomainLookupByName(n.Domain)
		if err != nil {
			return err
		}
		st, _, err = a.DomainGetState(d, 0)
		return err
	})
	return libvirt.DomainState(st), err
}

// ConsoleTail returns the last lines of a node's console log.
func (m *Manager) ConsoleTail(node string, lines int) string {
	data, err := os.ReadFile(ConsoleLog(m.o.StateDir, node))
	if err != nil {
		return fmt.Sprintf("    (no console log: %v)", err)
	}
	ls := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return "    " + strings.Join(ls, "\n    ")
}
