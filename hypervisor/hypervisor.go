// Package hypervisor reaches the hosts a lab's VMs run on: this machine,
// or another over one SSH connection per host. That connection, with the
// host's key pinned on first use, carries both the libvirt protocol (a
// stream to the remote libvirtd's socket) and the few commands labctl runs
// there itself: creating and removing the VXLAN devices that join the
// lab's bridges across hypervisors (tunnels.go).
//
// Why kernel VXLAN devices on libvirt's own bridges rather than Open
// vSwitch: every Linux hypervisor has the vxlan and bridge modules and
// iproute2, and libvirt already makes the bridge; Open vSwitch would be
// one more daemon to install and keep running on every hypervisor for the
// same layer 2.
package hypervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/transport"
	"github.com/labctl/labctl/vm"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// RemoteSocket is the system libvirtd's socket on a hypervisor.
const RemoteSocket = "/var/run/libvirt/libvirt-sock"

// Host is one open hypervisor.
type Host struct {
	HV     plan.Hypervisor
	client *transport.Client // nil: this machine
	sudo   bool              // commands need sudo -n (not logged in as root)
	wrap   []string          // local commands run under this prefix (tests: ip netns exec NS)
}

// Options say how to reach hypervisors.
type Options struct {
	// KnownHosts pins the hypervisors' SSH host keys (keyed by host or
	// [host]:port as in known_hosts, so that labs sharing a hypervisor
	// share its pin).
	KnownHosts *transport.KnownHosts
	// FirstContact is told when a hypervisor's key is pinned on first use
	// (hypervisor is Who's name for it).
	FirstContact func(hypervisor, fingerprint, pinFile string)
	// Timeout bounds connecting (default 30 s).
	Timeout time.Duration
}

// Who names a hypervisor in messages: "hypervisor NAME", or for the one
// implicit hypervisor of a topology's libvirt.uri, "hypervisor URI".
func Who(hv plan.Hypervisor) string {
	if hv.Name == "" {
		return "hypervisor " + hv.URI
	}
	return "hypervisor " + hv.Name
}

// Local reports whether the hypervisor is this machine.
func (h *Host) Local() bool { return h.client == nil }

// Open connects to a hypervisor: nothing to do for this machine; for
// qemu+ssh, SSH with the hypervisor's identity and pinned key.
func Open(ctx context.Context, hv plan.Hypervisor, o Options) (*Host, error) {
	u, err := url.Parse(hv.URI)
	if err != nil {
		return nil, fmt.Errorf("%s: URI %s: %w", Who(hv), hv.URI, err)
	}
	if u.Scheme != "qemu+ssh" {
		return &Host{HV: hv, sudo: os.Geteuid() != 0}, nil
	}
	login := ""
	if u.User != nil {
		login = u.User.Username()
	}
	if login == "" {
		cur, err := user.Current()
		if err != nil {
			return nil, err
		}
		login = cur.Username
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	signer, err := identity(hv.Identity)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Who(hv), err)
	}
	// As OpenSSH names it in a known_hosts file (host, or [host]:port),
	// so that the pin file serves plain ssh too (the lab's ssh config
	// jumps through a remote gateway with it).
	pin := knownhosts.Normalize(addr)
	pinned, err := o.KnownHosts.Get(pin)
	if err != nil {
		return nil, err
	}
	t := transport.Target{
		Node: Who(hv), Addr: addr, User: login, Signer: signer, HostKey: pinned,
		MismatchHint: fmt.Sprintf("or the hypervisor was reinstalled (then remove the line %s from %s and connect again to trust the new key)", pin, o.KnownHosts.Path),
	}
	if pinned == nil {
		t.FirstUse = func(key ssh.PublicKey) error {
			if err := o.KnownHosts.Pin(pin, key); err != nil {
				return err
			}
			if o.FirstContact != nil {
				o.FirstContact(Who(hv), ssh.FingerprintSHA256(key), o.KnownHosts.Path)
			}
			return nil
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	c, err := transport.Dial(ctx, t, transport.DialOptions{Timeout: o.Timeout, Attempt: 10 * time.Second})
	if err != nil {
		// transport's error names "hypervisor NAME" already.
		return nil, fmt.Errorf("%w; %s needs sshd reachable at %s and %s's public key in %s's authorized_keys", err, hv.URI, addr, keyName(hv.Identity), login)
	}
	return &Host{HV: hv, client: c, sudo: login != "root"}, nil
}

func keyName(identity string) string {
	if identity != "" {
		return identity
	}
	return "your key (~/.ssh/id_ed25519, id_ecdsa or id_rsa)"
}

// identity reads the SSH key for a hypervisor: the topology's file, else
// the user's usual keys.
func identity(file string) (ssh.Signer, error) {
	files := []string{file}
	if file == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		files = nil
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			files = append(files, filepath.Join(home, ".ssh", n))
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) && file == "" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("SSH identity: %w", err)
		}
		s, err := ssh.ParsePrivateKey(data)
		var pp *ssh.PassphraseMissingError
		if errors.As(err, &pp) {
			return nil, fmt.Errorf("SSH identity %s is protected by a passphrase; give the hypervisor an identity: without one (hypervisors[].identity)", f)
		}
		if err != nil {
			return nil, fmt.Errorf("SSH identity %s: %w", f, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("no SSH key found (%s); create one with ssh-keygen -t ed25519 or set hypervisors[].identity", strings.Join(files, ", "))
}

// Libvirt opens the hypervisor's libvirt connection: the local socket, or
// a stream to the remote socket through the SSH connection.
func (h *Host) Libvirt(ctx context.Context) (*vm.Conn, error) {
	if h.client == nil {
		return vm.Connect(ctx, h.HV.URI)
	}
	sc := h.client.SSH()
	c, err := vm.ConnectDialer(ctx, h.HV.URI, func() (net.Conn, error) { return sc.Dial("unix", RemoteSocket) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Who(h.HV), err)
	}
	return c, nil
}

// Run runs a shell script on the hypervisor as root (through sudo -n when
// not logged in as root) and returns its output.
func (h *Host) Run(ctx context.Context, script string) (string, error) {
	cmd := "sh -s"
	if h.sudo {
		cmd = "sudo -n sh -s"
	}
	var out, errb bytes.Buffer
	if h.client == nil {
		argv := append(append([]string(nil), h.wrap...), strings.Fields(cmd)...)
		c := exec.CommandContext(ctx, argv[0], argv[1:]...)
		c.Stdin, c.Stdout, c.Stderr = strings.NewReader(script), &out, &errb
		if err := c.Run(); err != nil {
			return out.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
		}
		return out.String(), nil
	}
	if err := h.client.Stream(ctx, cmd, strings.NewReader(script), &out, &errb); err != nil {
		msg := strings.TrimSpace(errb.String())
		if h.sudo && strings.Contains(msg, "password is required") {
			msg += " (the login user needs passwordless sudo for ip and bridge on the hypervisor, or log in as root)"
		}
		return out.String(), fmt.Errorf("%v: %s", err, msg)
	}
	return out.String(), nil
}

// DialContext connects to addr from the hypervisor (how nodes behind a
// remote gateway hypervisor are reached); on this machine, directly.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if h.client == nil {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := h.client.SSH().Dial(network, addr)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// Close ends the SSH connection.
func (h *Host) Close() error {
	if h.client == nil {
		return nil
	}
	return h.client.Close()
}
