package provision

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/labctl/labctl/internal/atomicfile"

	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/state"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Files of a lab's SSH setup inside its state directory.
const (
	KnownHostsFile = "known_hosts"
	SSHConfigFile  = "ssh_config"
)

// HostOnlyAddr is the node's stable address (the one SSH uses).
func HostOnlyAddr(n plan.Node) string { return n.Addr(plan.RoleHostOnly) }

// KnownHosts renders the lab's known_hosts: each node's pinned host key
// under its alias, its name and its host-only address.
func KnownHosts(p *plan.Plan, k keys.Lab) ([]byte, error) {
	var b bytes.Buffer
	for _, n := range p.Nodes {
		hk, err := k.Host(n.Name)
		if err != nil {
			return nil, err
		}
		names := []string{n.SSHAlias}
		if n.Name != n.SSHAlias {
			names = append(names, n.Name)
		}
		names = append(names, HostOnlyAddr(n))
		b.WriteString(knownhosts.Line(names, hk.Public) + "\n")
	}
	return b.Bytes(), nil
}

// Jump is a host the nodes are reached through: the gateway hypervisor of
// a lab spread over hypervisors when it is not this machine (the lab's
// host-only network is routed nowhere else).
type Jump struct {
	Alias    string // Host alias in the lab's ssh config
	HostName string
	Port     string
	User     string // "" for ssh's default
	Identity string // "" for ssh's default keys
	// KnownHosts holds its pinned key (labctl's hypervisor pins, in
	// known_hosts format).
	KnownHosts string
}

// SSHConfig renders the lab's ssh config: one Host block per node alias.
// OpenSSH (`ssh node1`) and the Docker CLI (`docker -H ssh://node1`) use it
// as it is; the host key is checked strictly against the lab's known_hosts.
// With jump, every node is reached through that host (ProxyJump), whose
// key is checked as strictly against labctl's pin. Every value goes
// through ConfigValue: one that an ssh config cannot hold as it is is an
// error, and nothing is written.
func SSHConfig(p *plan.Plan, labDir string, jump *Jump) ([]byte, error) {
	return sshConfig(p, labDir, jump, "ERROR")
}

// StudentSSHConfig is SSHConfig for a workshop student's folder: the same,
// with ssh's own messages kept (LogLevel INFO), so that a student told no
// sees why ("open failed: administratively prohibited").
func StudentSSHConfig(p *plan.Plan, folder string, jump *Jump) ([]byte, error) {
	return sshConfig(p, folder, jump, "INFO")
}

func sshConfig(p *plan.Plan, labDir string, jump *Jump, logLevel string) ([]byte, error) {
	w := &configWriter{}
	fmt.Fprintf(&w.b, "# labctl lab %s: generated, do not edit (labctl ssh-config)\n", p.Lab)
	if jump != nil {
		w.b.WriteString("\n# the gateway hypervisor, which reaches the lab's networks\n")
		w.set("Host", jump.Alias, false)
		w.set("  HostName", jump.HostName, false)
		w.set("  Port", jump.Port, false)
		if jump.User != "" {
			w.set("  User", jump.User, false)
		}
		if jump.Identity != "" {
			// Only that key: agent keys tried first would use up the
			// jump host's authentication attempts.
			w.set("  IdentityFile", jump.Identity, true)
			w.b.WriteString("  IdentitiesOnly yes\n")
		}
		w.set("  UserKnownHostsFile", jump.KnownHosts, true)
		w.b.WriteString("  StrictHostKeyChecking yes\n  ForwardAgent no\n  ForwardX11 no\n  LogLevel " + logLevel + "\n")
	}
	for _, n := range p.Nodes {
		w.b.WriteString("\n")
		w.set("Host", n.SSHAlias, false)
		if jump != nil {
			w.set("  ProxyJump", jump.Alias, false)
		}
		w.set("  HostName", HostOnlyAddr(n), false)
		w.set("  User", p.User, false)
		w.set("  IdentityFile", filepath.Join(labDir, "id_ed25519"), true)
		w.b.WriteString("  IdentitiesOnly yes\n")
		w.set("  UserKnownHostsFile", filepath.Join(labDir, KnownHostsFile), true)
		w.b.WriteString("  StrictHostKeyChecking yes\n  ConnectTimeout 15\n")
		w.set("  HostKeyAlias", n.SSHAlias, false)
		w.b.WriteString("  ForwardAgent no\n  ForwardX11 no\n  LogLevel " + logLevel + "\n")
	}
	if w.err != nil {
		return nil, fmt.Errorf("lab %s's ssh config: %w", p.Lab, w.err)
	}
	return w.b.Bytes(), nil
}

// configWriter writes ssh config lines; the first value that cannot be
// written is kept as the error.
type configWriter struct {
	b   bytes.Buffer
	err error
}

func (w *configWriter) set(key, value string, path bool) {
	v, err := ConfigValue(value, path)
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("%s: %w", strings.TrimSpace(key), err)
		}
		return
	}
	fmt.Fprintf(&w.b, "%s %s\n", key, v)
}

// ConfigValue is the one way a value is written into an ssh config: as it
// is, or in double quotes when it holds a space or a character the config
// reads otherwise. A value with a line break, another control character,
// a double quote or a backslash cannot be written and is refused; so is %
// outside a path (OpenSSH expands %-tokens), while a path (path set) has
// its % written as %%, the literal.
func ConfigValue(v string, path bool) (string, error) {
	if v == "" {
		return "", errors.New("an empty value")
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return "", fmt.Errorf("%q cannot be written in an ssh config (a line break, control character, double quote or backslash)", v)
		}
	}
	if strings.Contains(v, "%") {
		if !path {
			return "", fmt.Errorf("%q: a %% in an ssh config value is a token OpenSSH expands", v)
		}
		v = strings.ReplaceAll(v, "%", "%%")
	}
	if strings.ContainsAny(v, " \t#='") {
		return `"` + v + `"`, nil
	}
	return v, nil
}

// WriteSSHFiles writes the lab's known_hosts and ssh config.
func WriteSSHFiles(p *plan.Plan, d *state.Dir, jump *Jump) error {
	kh, err := KnownHosts(p, keys.Lab{Dir: d.Path, Lab: p.Lab})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(d.Join(KnownHostsFile), kh, 0o600); err != nil {
		return err
	}
	cfg, err := SSHConfig(p, d.Path, jump)
	if err != nil {
		return err
	}
	return atomicfile.Write(d.Join(SSHConfigFile), cfg, 0o600)
}

// PinnedKey returns the node's pinned host key.
func PinnedKey(k keys.Lab, node string) (ssh.PublicKey, error) {
	hk, err := k.Host(node)
	if err != nil {
		return nil, err
	}
	return hk.Public, nil
}

// throughLink returns the file a symbolic link at path points to (path
// itself when it is no link or does not exist), so that an atomic rewrite
// replaces the file and not the link.
func throughLink(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return path, nil
	}
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s is a symbolic link to a file that does not exist; create that file or remove the link", path)
	}
	return real, err
}

// includeLine is the Include of the lab's config; Include reads globs,
// so a path with one cannot be included as it is.
func includeLine(labConfig string) (string, error) {
	if strings.ContainsAny(labConfig, "*?[%") {
		return "", fmt.Errorf("%s: a path with *, ?, [ or %% cannot be included in an ssh config as it is; set XDG_STATE_HOME to a plainer directory", labConfig)
	}
	v, err := ConfigValue(labConfig, false)
	return "Include " + v, err
}

// InstallInclude adds an Include of the lab's ssh config at the top of the
// user's ssh config (Include lines must come before any Host block to apply
// to every host). It is idempotent, keeps a backup of the previous file and
// leaves the rest of the file as it was.
//
// A ~/.ssh/config that is a symbolic link (dotfiles kept in a repository)
// is written through: the file it points to gets the line, the link stays.
func InstallInclude(userConfig, labConfig string) (changed bool, err error) {
	if userConfig, err = throughLink(userConfig); err != nil {
		return false, err
	}
	line, err := includeLine(labConfig)
	if err != nil {
		return false, err
	}
	old, err := os.ReadFile(userConfig)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	for _, l := range strings.Split(string(old), "\n") {
		if strings.TrimSpace(l) == line {
			return false, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(userConfig), 0o700); err != nil {
		return false, err
	}
	if old != nil {
		if err := os.WriteFile(userConfig+".labctl-backup", old, 0o600); err != nil {
			return false, err
		}
	}
	perm := fs.FileMode(0o600)
	if fi, err := os.Stat(userConfig); err == nil {
		perm = fi.Mode().Perm()
	}
	updated := append([]byte(line+"\n"), old...)
	return true, atomicfile.Write(userConfig, updated, perm)
}

// UninstallInclude removes the Include line InstallInclude added.
func UninstallInclude(userConfig, labConfig string) (changed bool, err error) {
	if userConfig, err = throughLink(userConfig); err != nil {
		return false, err
	}
	old, err := os.ReadFile(userConfig)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	line, err := includeLine(labConfig)
	if err != nil {
		return false, err
	}
	lines := strings.SplitAfter(string(old), "\n")
	var out []string
	for _, l := range lines {
		if strings.TrimSpace(l) == line {
			changed = true
			continue
		}
		out = append(out, l)
	}
	if !changed {
		return false, nil
	}
	fi, err := os.Stat(userConfig)
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(userConfig+".labctl-backup", old, 0o600); err != nil {
		return false, err
	}
	return true, atomicfile.Write(userConfig, []byte(strings.Join(out, "")), fi.Mode().Perm())
}
