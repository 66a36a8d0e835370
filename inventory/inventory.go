// Package inventory describes hosts that labctl did not create (Vagrant
// boxes, machines in a classroom, labctl's own VMs reached another way):
// how to log into each, and which NICs and addresses it has on the lab's
// networks. The labs run on them with the same engine; what labctl would
// have created (VMs, networks, Docker) is assumed to be there.
//
// Host keys are trusted on first use: the first connection records the
// key the host offers (and labctl prints its fingerprint), every later
// connection must see the same key.
package inventory

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/labctl/labctl/internal/lines"
	"github.com/labctl/labctl/internal/strictyaml"

	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/topology"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
)

// Inventory is the file: defaults, then one entry per host.
type Inventory struct {
	User  string `yaml:"user,omitempty" json:"user,omitempty" doc:"Login user for every host that names none."`
	Key   string `yaml:"key,omitempty" json:"key,omitempty" doc:"Private key file for every host that names none (relative to the inventory file)."`
	Hosts []Host `yaml:"hosts" json:"hosts" doc:"The hosts, named as the topology's nodes."`

	file  string
	lines map[string]int
}

// Host is one machine.
type Host struct {
	Name      string            `yaml:"name" json:"name" doc:"The topology node this host plays (node1, ...)."`
	Address   string            `yaml:"address" json:"address" doc:"Where to reach its SSH server: a host name or address, optionally :port."`
	Port      int               `yaml:"port,omitempty" json:"port,omitempty" doc:"SSH port when address has none (default 22)."`
	User      string            `yaml:"user,omitempty" json:"user,omitempty" doc:"Login user (sudo without a password, in the docker group)."`
	Key       string            `yaml:"key,omitempty" json:"key,omitempty" doc:"Private key file."`
	NICs      map[string]string `yaml:"nics,omitempty" json:"nics,omitempty" doc:"Interface name per network role (nat, hostonly) when not the topology's."`
	Addresses map[string]string `yaml:"addresses,omitempty" json:"addresses,omitempty" doc:"Address/prefix per network role when not the topology's."`
}

// Load reads and checks an inventory file: unknown fields are problems
// with their line, as in topologies.
func Load(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes an inventory.
func Parse(path string, data []byte) (*Inventory, error) {
	var inv Inventory
	lines, err := strictyaml.Decode(path, data, "inventory", "user, key, hosts",
		"write one from 'labctl hosts import --vagrant', or see 'labctl hosts --help' for the format", &inv)
	if err != nil {
		return nil, err
	}
	inv.file, inv.lines = path, lines
	return &inv, nil
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)
var ifRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)

// Validate checks the inventory against the lab's plan: every host is a
// node of the topology (once), has an address, a user and a readable key,
// NIC names are interface names and addresses lie in their network. All
// problems are returned, each with its field path and line.
func (inv *Inventory) Validate(p *plan.Plan) topology.Problems {
	var ps topology.Problems
	add := func(path, format string, a ...any) {
		ps = append(ps, topology.Problem{File: inv.file, Line: inv.line(path), Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	if len(inv.Hosts) == 0 {
		add("hosts", "no hosts; list at least one (name, address)")
	}
	seen := map[string]bool{}
	topKeyChecked := false
	for i, h := range inv.Hosts {
		at := fmt.Sprintf("hosts[%d]", i)
		switch _, ok := p.Node(h.Name); {
		case h.Name == "":
			add(at+".name", "required: the topology node this host plays (%s)", nodeNames(p))
		case !nameRE.MatchString(h.Name):
			add(at+".name", "%q is not a node name (lower case letters, digits, '-')", h.Name)
		case !ok:
			add(at+".name", "%q is not a node of the topology (%s)", h.Name, nodeNames(p))
		case seen[h.Name]:
			add(at+".name", "%q is listed twice", h.Name)
		}
		seen[h.Name] = true
		if h.Address == "" {
			add(at+".address", "required: where its SSH server answers")
		} else if host, port, err := net.SplitHostPort(h.Address); err == nil {
			if !validHost(host) || !validPort(port) {
				add(at+".address", "%s: want host or host:port, the host a name or an IP address", topology.Quote(h.Address))
			} else if h.Port != 0 {
				add(at+".port", "the address already has a port")
			}
		} else if !validHost(h.Address) {
			add(at+".address", "%s: want host or host:port, the host a name or an IP address", topology.Quote(h.Address))
		}
		if h.Port < 0 || h.Port > 65535 {
			add(at+".port", "%d is not a port", h.Port)
		}
		if h.user(inv) == "" {
			add(at+".user", "required here or at the top (user:)")
		}
		if k := h.keyPath(inv); k == "" {
			add(at+".key", "required here or at the top (key:): the private key that logs in")
		} else if h.Key != "" || !topKeyChecked {
			path := at + ".key"
			if h.Key == "" {
				// The top-level key: checked (and a problem with it
				// said) once, not once per host that uses it.
				path, topKeyChecked = "key", true
			}
			if err := checkKey(k); err != nil {
				add(path, "%v", err)
			}
		}
		for role, nic := range h.NICs {
			if role != plan.RoleNAT && role != plan.RoleHostOnly {
				add(at+".nics."+role, "unknown network role %q (nat or hostonly)", role)
			} else if !ifRE.MatchString(nic) {
				add(at+".nics."+role, "%q is not an interface name", nic)
			}
		}
		for role, a := range h.Addresses {
			n := p.Net(role)
			if role != plan.RoleNAT && role != plan.RoleHostOnly || n == nil {
				add(at+".addresses."+role, "unknown network role %q (nat or hostonly)", role)
				continue
			}
			ip, ipn, err := net.ParseCIDR(a)
			if err != nil || ip.To4() == nil {
				add(at+".addresses."+role, "%q: want an IPv4 address with its prefix, e.g. 192.168.56.11/24", a)
				continue
			}
			_, sub, _ := net.ParseCIDR(n.Subnet)
			if sub != nil && (!sub.Contains(ip) || ipn.String() != sub.String()) {
				add(at+".addresses."+role, "%s is not in the topology's %s network %s (edit the topology's networks to match the hosts)", a, role, n.Subnet)
			}
		}
	}
	return ps
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 65536
}

// hostnameRE is a DNS name: labels of letters, digits and '-', not
// starting with '-' (which ssh and other tools would read as an option).
var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$`)

// validHost accepts an IP address or a host name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return len(h) <= 253 && hostnameRE.MatchString(h)
}

// checkKey accepts an unencrypted private key that only its owner can
// read, as OpenSSH insists for the same file.
func checkKey(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cannot read the key: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read the key: %w", err)
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey(data); err == nil {
		return fmt.Errorf("%s is a public key; give the private key that goes with it (%s)", path, strings.TrimSuffix(path, ".pub"))
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s can be read by others (mode %04o); ssh would refuse it too: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	if _, err := ssh.ParsePrivateKey(data); err != nil {
		return fmt.Errorf("%s is not an unencrypted private key: %v", path, err)
	}
	return nil
}

func nodeNames(p *plan.Plan) string {
	var ns []string
	for _, n := range p.Nodes {
		ns = append(ns, n.Name)
	}
	return strings.Join(ns, ", ")
}

func (inv *Inventory) line(path string) int {
	for p := path; p != ""; {
		if l, ok := inv.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 1 // a field the file lacks: the document as a whole
}

func (h Host) user(inv *Inventory) string {
	if h.User != "" {
		return h.User
	}
	return inv.User
}

func (h Host) keyPath(inv *Inventory) string {
	k := h.Key
	if k == "" {
		k = inv.Key
	}
	if k == "" {
		return ""
	}
	if strings.HasPrefix(k, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			k = filepath.Join(home, k[2:])
		}
	}
	if !filepath.IsAbs(k) && inv.file != "" {
		k = filepath.Join(filepath.Dir(inv.file), k)
	}
	return k
}

// Addr is the host's SSH address, host:port.
func (h Host) Addr() string {
	if _, _, err := net.SplitHostPort(h.Address); err == nil {
		return h.Address
	}
	port := h.Port
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(h.Address, strconv.Itoa(port))
}

// Apply returns the plan the labs see on these hosts: the topology's nodes
// that the inventory lists (in the topology's order), with the
// inventory's NIC names and addresses, the VLAN sub-interfaces renamed
// with their parent.
func (inv *Inventory) Apply(p *plan.Plan) *plan.Plan {
	q := *p
	q.Nodes = nil
	for _, n := range p.Nodes {
		h, ok := inv.Host(n.Name)
		if !ok {
			continue
		}
		n.NICs = append([]plan.NIC(nil), n.NICs...)
		n.VLANs = append([]plan.SubIf(nil), n.VLANs...)
		n.Routes = append([]plan.Route(nil), n.Routes...)
		for i, nic := range n.NICs {
			if g := h.NICs[nic.Role]; g != "" {
				old := nic.Guest
				n.NICs[i].Guest = g
				for j, v := range n.VLANs {
					if v.Parent == old {
						n.VLANs[j].Parent = g
						n.VLANs[j].Name = fmt.Sprintf("%s.%d", g, v.ID)
					}
				}
				for j, r := range n.Routes {
					if r.Dev == old {
						n.Routes[j].Dev = g
					}
				}
			}
			if a := h.Addresses[nic.Role]; a != "" {
				n.NICs[i].Address = a
			}
		}
		q.Nodes = append(q.Nodes, n)
	}
	return &q
}

// Host returns the entry for a node.
func (inv *Inventory) Host(name string) (Host, bool) {
	for _, h := range inv.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}

// Signer reads the host's private key.
func (inv *Inventory) Signer(h Host) (ssh.Signer, error) {
	data, err := os.ReadFile(h.keyPath(inv))
	if err != nil {
		return nil, err
	}
	return ssh.ParsePrivateKey(data)
}

// LoginUser is the host's login user.
func (inv *Inventory) LoginUser(h Host) string { return h.user(inv) }

// Marshal writes the inventory as YAML with a header comment.
func (inv *Inventory) Marshal(w io.Writer, header string) error {
	if header != "" {
		for _, l := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
			fmt.Fprintf(w, "# %s\n", l)
		}
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(inv); err != nil {
		return err
	}
	return enc.Close()
}

// FromSSHConfig reads what `vagrant ssh-config` prints (an OpenSSH client
// config: Host, HostName, User, Port, IdentityFile per machine) into an
// inventory. Options it does not need are ignored.
func FromSSHConfig(r io.Reader) (*Inventory, error) {
	inv := &Inventory{}
	var cur *Host
	err := lines.Each(r, func(n int, line string) error {
		key, val, ok := strings.Cut(line, " ")
		if !ok {
			key, val, _ = strings.Cut(line, "\t")
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.ToLower(key) {
		case "host":
			inv.Hosts = append(inv.Hosts, Host{Name: val})
			cur = &inv.Hosts[len(inv.Hosts)-1]
		case "hostname", "user", "port", "identityfile":
			if cur == nil {
				return fmt.Errorf("ssh config line %d: %s before any Host line", n, key)
			}
			switch strings.ToLower(key) {
			case "hostname":
				cur.Address = val
			case "user":
				cur.User = val
			case "port":
				p, err := strconv.Atoi(val)
				if err != nil {
					return fmt.Errorf("ssh config line %d: port %q", n, val)
				}
				cur.Port = p
			case "identityfile":
				if cur.Key == "" { // the first one, as ssh tries them in order
					cur.Key = val
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(inv.Hosts) == 0 {
		return nil, fmt.Errorf("no Host entries in the ssh config (are the Vagrant machines up? 'vagrant status')")
	}
	for i := range inv.Hosts {
		if inv.Hosts[i].Port == 22 {
			inv.Hosts[i].Port = 0
		}
	}
	return inv, nil
}
