// Package vm creates a lab's VMs with libvirt: the storage pool and base
// image volumes, the NAT and host-only networks, each node's copy-on-write
// disk and first-boot seed, and its domain; and it removes them again.
//
// Every libvirt object labctl creates is recognisable without the lab's
// state file: networks and domains carry labctl metadata (lab and node),
// volumes are named labctl_LAB_NODE..., so `labctl down` finds them all.
package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
	"github.com/labctl/labctl/topology"
)

// API is the part of libvirt labctl uses. *libvirt.Libvirt implements it;
// tests use an in-memory fake.
type API interface {
	ConnectGetCapabilities() (string, error)
	ConnectGetDomainCapabilities(emulator, arch, machine, virttype libvirt.OptString, flags libvirt.ConnectGetDomainCapabilitiesFlags) (string, error)
	ConnectListAllNetworks(needResults int32, flags libvirt.ConnectListAllNetworksFlags) ([]libvirt.Network, uint32, error)
	ConnectListAllDomains(needResults int32, flags libvirt.ConnectListAllDomainsFlags) ([]libvirt.Domain, uint32, error)

	NetworkLookupByName(name string) (libvirt.Network, error)
	NetworkDefineXML(xml string) (libvirt.Network, error)
	NetworkCreate(n libvirt.Network) error
	NetworkDestroy(n libvirt.Network) error
	NetworkUndefine(n libvirt.Network) error
	NetworkGetXMLDesc(n libvirt.Network, flags uint32) (string, error)
	NetworkIsActive(n libvirt.Network) (int32, error)

	StoragePoolLookupByName(name string) (libvirt.StoragePool, error)
	StoragePoolDefineXML(xml string, flags uint32) (libvirt.StoragePool, error)
	StoragePoolBuild(p libvirt.StoragePool, flags libvirt.StoragePoolBuildFlags) error
	StoragePoolCreate(p libvirt.StoragePool, flags libvirt.StoragePoolCreateFlags) error
	StoragePoolIsActive(p libvirt.StoragePool) (int32, error)
	StoragePoolRefresh(p libvirt.StoragePool, flags uint32) error
	StoragePoolListAllVolumes(p libvirt.StoragePool, needResults int32, flags uint32) ([]libvirt.StorageVol, uint32, error)

	StorageVolLookupByName(p libvirt.StoragePool, name string) (libvirt.StorageVol, error)
	StorageVolCreateXML(p libvirt.StoragePool, xml string, flags libvirt.StorageVolCreateFlags) (libvirt.StorageVol, error)
	StorageVolCreateXMLFrom(p libvirt.StoragePool, xml string, clone libvirt.StorageVol, flags libvirt.StorageVolCreateFlags) (libvirt.StorageVol, error)
	StorageVolUpload(v libvirt.StorageVol, r io.Reader, offset, length uint64, flags libvirt.StorageVolUploadFlags) error
	StorageVolDelete(v libvirt.StorageVol, flags libvirt.StorageVolDeleteFlags) error
	StorageVolGetPath(v libvirt.StorageVol) (string, error)

	DomainLookupByName(name string) (libvirt.Domain, error)
	DomainDefineXML(xml string) (libvirt.Domain, error)
	DomainCreate(d libvirt.Domain) error
	DomainDestroy(d libvirt.Domain) error
	DomainUndefineFlags(d libvirt.Domain, flags libvirt.DomainUndefineFlagsValues) error
	DomainGetState(d libvirt.Domain, flags uint32) (int32, int32, error)
	DomainGetXMLDesc(d libvirt.Domain, flags libvirt.DomainXMLFlags) (string, error)

	DomainSnapshotCreateXML(d libvirt.Domain, xml string, flags uint32) (libvirt.DomainSnapshot, error)
	DomainSnapshotLookupByName(d libvirt.Domain, name string, flags uint32) (libvirt.DomainSnapshot, error)
	DomainRevertToSnapshot(s libvirt.DomainSnapshot, flags uint32) error
	DomainSnapshotDelete(s libvirt.DomainSnapshot, flags libvirt.DomainSnapshotDeleteFlags) error
	QEMUDomainMonitorCommand(d libvirt.Domain, cmd string, flags uint32) (string, error)
}

var _ API = (*libvirt.Libvirt)(nil)

// ErrLost is returned once the connection to libvirt is gone.
var ErrLost = errors.New("lost the connection to libvirt")

// Conn is a libvirt connection whose every call is bounded: go-libvirt
// calls take no context, so each runs in its own goroutine and a call that
// does not answer in time (or whose context ends) closes the connection
// rather than hanging labctl.
type Conn struct {
	URI     string
	api     API
	closer  func() error // closes the socket under a hung call
	timeout time.Duration
	mu      sync.Mutex
	lost    error
	// gone is closed when the connection ends under labctl (libvirtd
	// stopped, crashed or restarted); nil for connections without one.
	gone <-chan struct{}
	// Log, when set, gets each call's name and duration at debug level
	// (labctl -v), which shows where the time of an `up` goes.
	Log *slog.Logger
}

// CallTimeout bounds one ordinary libvirt call (uploads have their own).
// It is generous: the first definition after libvirtd starts probes QEMU,
// which takes tens of seconds under software emulation on a busy host.
const CallTimeout = 3 * time.Minute

// ConnectTimeout bounds opening a connection, apart from CallTimeout: a
// hung libvirtd accepts the socket and never answers, and every command
// should not wait the ordinary call bound for that. A daemon that has just
// started answers once it has probed QEMU, which takes seconds, a minute
// at worst on a loaded machine under emulation.
var ConnectTimeout = time.Minute

// NewConn wraps an API (a fake in tests) in a bounded connection.
func NewConn(api API, closer func() error) *Conn {
	if closer == nil {
		closer = func() error { return nil }
	}
	return &Conn{api: api, closer: closer, timeout: CallTimeout}
}

// Do runs fn against libvirt, bounded by ctx and the call timeout. what
// names the operation for the error.
func (c *Conn) Do(ctx context.Context, what string, fn func(API) error) error {
	return c.do(ctx, what, c.timeout, fn)
}

func (c *Conn) do(ctx context.Context, what string, timeout time.Duration, fn func(API) error) error {
	c.mu.Lock()
	lost := c.lost
	c.mu.Unlock()
	if lost != nil {
		return fmt.Errorf("%s: %w", what, lost)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	done := make(chan error, 1)
	go func() { done <- fn(c.api) }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	start := time.Now()
	select {
	case err := <-done:
		if c.Log != nil {
			c.Log.Debug("libvirt call", "call", what, "seconds", time.Since(start).Seconds(), "err", err)
		}
		// libvirt's own errors are answers; anything else may be the
		// connection ending under the call.
		var answer libvirt.Error
		if err != nil && !errors.As(err, &answer) && c.ended(time.Second) {
			lerr := fmt.Errorf("%w: libvirtd at %s closed the connection during %s (it stopped, crashed or was restarted): check it (systemctl status libvirtd; virsh -c %s list), then run the command again, which carries on", ErrLost, c.URI, what, c.URI)
			c.breakConn(lerr)
			return lerr
		}
		return err
	case <-ctx.Done():
		c.breakConn(fmt.Errorf("%w (interrupted during %s)", ErrLost, what))
		return fmt.Errorf("%s: %w", what, ctx.Err())
	case <-timer.C:
		err := fmt.Errorf("%w: libvirt did not answer %s within %s", ErrLost, what, timeout)
		c.breakConn(err)
		return err
	}
}

// ended tells whether libvirtd ended the connection, waiting up to wait
// for the end to be noticed (a call can fail a moment before).
func (c *Conn) ended(wait time.Duration) bool {
	if c.gone == nil {
		return false
	}
	select {
	case <-c.gone:
		return true
	case <-time.After(wait):
		return false
	}
}

func (c *Conn) breakConn(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost == nil {
		c.lost = err
		c.closer()
	}
}

// Close ends the connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost != nil {
		return nil
	}
	c.lost = fmt.Errorf("%w: connection closed", ErrLost)
	return c.closer()
}

// trackingDialer remembers the socket so that a hung call can be cut.
type trackingDialer struct {
	inner interface{ Dial() (net.Conn, error) }
	mu    sync.Mutex
	conn  net.Conn
}

func (d *trackingDialer) Dial() (net.Conn, error) {
	c, err := d.inner.Dial()
	d.mu.Lock()
	d.conn = c
	d.mu.Unlock()
	return c, err
}

func (d *trackingDialer) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == nil {
		return nil
	}
	return d.conn.Close()
}

// SocketPath is the libvirt daemon socket for a local qemu URI; the
// LABCTL_LIBVIRT_SOCKET variable overrides it (tests run their own daemon).
func SocketPath() string {
	if s := os.Getenv("LABCTL_LIBVIRT_SOCKET"); s != "" {
		return s
	}
	return "/var/run/libvirt/libvirt-sock"
}

// Connect opens a connection to this machine's libvirtd (qemu:///system
// or qemu:///session, over the local socket). Another machine's is reached
// with ConnectDialer over a stream that package hypervisor opens.
func Connect(ctx context.Context, uri string) (*Conn, error) {
	if err := topology.CheckLibvirtURI(uri); err != nil {
		return nil, fmt.Errorf("libvirt URI: %w", err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("libvirt URI %q: %w", uri, err)
	}
	var d *trackingDialer
	switch u.Scheme {
	case "qemu", "test":
		d = &trackingDialer{inner: dialers.NewLocal(dialers.WithSocket(SocketPath()), dialers.WithLocalTimeout(10*time.Second))}
	case "qemu+ssh":
		return nil, fmt.Errorf("libvirt URI %q is another machine's: it is reached through its SSH connection (package hypervisor), not here", uri)
	default:
		return nil, fmt.Errorf("libvirt URI %q: scheme %s is not supported (use qemu:///system or qemu+ssh://host/system)", uri, u.Scheme)
	}
	return connect(ctx, uri, u, d)
}

// ConnectDialer opens a connection for uri over streams that dial makes:
// a qemu+ssh hypervisor's socket reached through labctl's own SSH
// connection to it (package hypervisor), with its host key pinned.
func ConnectDialer(ctx context.Context, uri string, dial func() (net.Conn, error)) (*Conn, error) {
	if err := topology.CheckLibvirtURI(uri); err != nil {
		return nil, fmt.Errorf("libvirt URI: %w", err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("libvirt URI %q: %w", uri, err)
	}
	return connect(ctx, uri, u, &trackingDialer{inner: dialFunc(dial)})
}

type dialFunc func() (net.Conn, error)

func (f dialFunc) Dial() (net.Conn, error) { return f() }

func connect(ctx context.Context, uri string, u *url.URL, d *trackingDialer) (*Conn, error) {
	l := libvirt.NewWithDialer(d)
	c := NewConn(l, d.close)
	c.URI = uri
	target := libvirt.ConnectURI("qemu:///system")
	if u.Scheme == "test" {
		target = libvirt.ConnectURI(uri)
	} else if p := strings.TrimPrefix(u.Path, "/"); p == "session" {
		target = "qemu:///session"
	}
	if err := c.do(ctx, "connect to libvirt", ConnectTimeout, func(API) error { return l.ConnectToURI(target) }); err != nil {
		c.Close()
		if errors.Is(err, ErrLost) && ctx.Err() == nil {
			return nil, fmt.Errorf("libvirtd at %s took the connection but did not answer within %s: it is hung or still starting; check it (systemctl status libvirtd; virsh -c %s list) and restart it if it stays so", uri, ConnectTimeout, uri)
		}
		socket := SocketPath()
		if u.Scheme == "qemu+ssh" {
			socket = u.Host + ":/var/run/libvirt/libvirt-sock"
		}
		return nil, connectError(uri, socket, err)
	}
	c.gone = l.Disconnected()
	return c, nil
}

// IsNoObject reports whether err is libvirt's "no such domain, network,
// pool or volume".
func IsNoObject(err error) bool {
	var le libvirt.Error
	if !errors.As(err, &le) {
		return false
	}
	switch libvirt.ErrorNumber(le.Code) {
	case libvirt.ErrNoDomain, libvirt.ErrNoNetwork, libvirt.ErrNoStoragePool, libvirt.ErrNoStorageVol:
		return true
	}
	return false
}

// Local reports whether libvirtd runs on this host (not qemu+ssh).
func (c *Conn) Local() bool {
	return !strings.HasPrefix(c.URI, "qemu+ssh:")
}

// connectError says what to do about a connection libvirtd refused or
// that found no libvirtd.
func connectError(uri, socket string, err error) error {
	if errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("connect to libvirt at %s: permission denied on %s: run labctl with sudo, or join the libvirt group (sudo usermod -aG libvirt $USER, then log in again)", uri, socket)
	}
	return fmt.Errorf("connect to libvirt at %s (socket %s): %w; is libvirtd running? (Debian: apt-get install libvirt-daemon-system; systemctl start libvirtd)", uri, socket, err)
}
