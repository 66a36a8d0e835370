// A workshop's jump host: how students' laptops reach their seat's nodes.

package hypervisor

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"
)

// JumpUser is the account every workshop's jump host on a hypervisor logs
// students in as. It has no password, no home and no shell
// (/usr/sbin/nologin); it only forwards.
const JumpUser = "labctl-jump"

// JumpRoot holds each workshop's jump host on a hypervisor, one directory per
// workshop: its sshd_config, host key, authorized_keys, pid file and log.
const JumpRoot = "/var/lib/labctl/jump"

// JumpHost is a workshop's jump host on one hypervisor: an sshd of its own
// (not the hypervisor's, whose configuration labctl leaves alone),
// listening on the address students reach the hypervisor at, whose only
// use is SSH forwarding to seats' nodes. Each seat's key may open
// forwards to its own nodes' SSH and nothing else: not a shell, not
// another seat's nodes, not any other address or port, not a remote
// forward. The rules are set twice, so that one slip does not open the
// hypervisor: per key in authorized_keys (restrict,port-forwarding,
// permitopen=...), and for the whole jump host in its sshd_config (PermitOpen
// of every seat's nodes only, AllowTcpForwarding local, PermitTTY no,
// ForceCommand nologin, no agent, X11, tunnel or stream-local forwarding).
type JumpHost struct {
	Workshop string
	Listen   netip.AddrPort
	Seats    []JumpSeat
}

// JumpSeat is one seat's key and the SSH addresses of its nodes.
type JumpSeat struct {
	Seat  int
	Key   string // the seat's public key, authorized_keys format
	Nodes []netip.AddrPort
}

var workshopNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// jumpDir is the jump host's directory on the hypervisor.
func jumpDir(workshop string) (string, error) {
	if !workshopNameRE.MatchString(workshop) {
		return "", fmt.Errorf("workshop name %q: lowercase letters, digits and '-'", workshop)
	}
	return JumpRoot + "/" + workshop, nil
}

// AuthorizedKeys is the jump host's authorized_keys: a line per seat, its key
// (parsed and written again, so nothing but the key itself is taken from
// the key file) restricted to forwards to its own nodes.
func (d JumpHost) AuthorizedKeys() (string, error) {
	var b strings.Builder
	seen := map[string]int{}
	for _, s := range d.Seats {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s.Key))
		if err != nil {
			return "", fmt.Errorf("seat %d: its public key: %w", s.Seat, err)
		}
		line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
		if other, dup := seen[line]; dup {
			return "", fmt.Errorf("seats %d and %d have the same key: the jump host cannot tell them apart", other, s.Seat)
		}
		seen[line] = s.Seat
		if len(s.Nodes) == 0 {
			return "", fmt.Errorf("seat %d: no nodes to open", s.Seat)
		}
		opts := []string{"restrict", "port-forwarding"}
		for _, n := range s.Nodes {
			if !n.Addr().Is4() || n.Port() == 0 {
				return "", fmt.Errorf("seat %d: node address %s: an IPv4 address and port", s.Seat, n)
			}
			opts = append(opts, fmt.Sprintf(`permitopen="%s"`, n))
		}
		fmt.Fprintf(&b, "%s %s seat-%02d\n", strings.Join(opts, ","), line, s.Seat)
	}
	return b.String(), nil
}

// SSHDConfig is the jump host's sshd_config.
func (d JumpHost) SSHDConfig() (string, error) {
	dir, err := jumpDir(d.Workshop)
	if err != nil {
		return "", err
	}
	if !d.Listen.Addr().Is4() || d.Listen.Port() == 0 {
		return "", fmt.Errorf("the jump host's address %s: an IPv4 address and port", d.Listen)
	}
	var opens []string
	for _, s := range d.Seats {
		for _, n := range s.Nodes {
			opens = append(opens, n.String())
		}
	}
	sort.Strings(opens)
	if len(opens) == 0 {
		opens = []string{"none"}
	}
	lines := []string{
		"# The students' jump host of workshop " + d.Workshop + ", written by labctl; 'labctl workshop down' removes it.",
		"# Its only use is forwarding each seat's key to its own nodes' SSH.",
		"ListenAddress " + d.Listen.String(),
		"HostKey " + dir + "/ssh_host_ed25519_key",
		"PidFile " + dir + "/sshd.pid",
		"AuthorizedKeysFile " + dir + "/authorized_keys",
		"AuthorizedPrincipalsFile none",
		"AuthorizedKeysCommand none",
		"AllowUsers " + JumpUser,
		"PermitRootLogin no",
		"AuthenticationMethods publickey",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"HostbasedAuthentication no",
		"UsePAM no",
		"StrictModes yes",
		"AllowTcpForwarding local",
		"PermitOpen " + strings.Join(opens, " "),
		"PermitListen none",
		"GatewayPorts no",
		"AllowStreamLocalForwarding no",
		"AllowAgentForwarding no",
		"X11Forwarding no",
		"PermitTunnel no",
		"PermitTTY no",
		"PermitUserRC no",
		"PermitUserEnvironment no",
		"ForceCommand /usr/sbin/nologin",
		"PrintMotd no",
		"Banner none",
		"MaxAuthTries 3",
		// A room of students connecting at once, and re-connecting after
		// the Wi-Fi dropped: more unauthenticated connections than the
		// default 10, and dead ones noticed within a minute.
		"MaxStartups 100:30:300",
		"LoginGraceTime 30",
		"ClientAliveInterval 15",
		"ClientAliveCountMax 4",
		"LogLevel VERBOSE",
		"",
	}
	return strings.Join(lines, "\n"), nil
}

// JumpScript is the shell script that opens (or updates) the jump host on its
// hypervisor, as root: the account, the directory (root's, as sshd's
// StrictModes wants), a host key made once, the configuration tested
// with sshd -t, then the jump host's sshd started, or told to read its
// configuration again (SIGHUP: it re-executes; students already logged in
// stay). It prints the jump host's public host key, for the cards.
func JumpScript(d JumpHost) (string, error) {
	dir, err := jumpDir(d.Workshop)
	if err != nil {
		return "", err
	}
	cfg, err := d.SSHDConfig()
	if err != nil {
		return "", err
	}
	keys, err := d.AuthorizedKeys()
	if err != nil {
		return "", err
	}
	addr, port := d.Listen.Addr().String(), d.Listen.Port()
	var b strings.Builder
	fmt.Fprintf(&b, `set -eu
d=%s
sshd=/usr/sbin/sshd
[ -x "$sshd" ] || { echo "sshd is missing: the students' jump host is an sshd of its own (Debian: apt-get install openssh-server)" >&2; exit 3; }
ip -o -4 addr show | grep -qF ' inet %s/' || { echo "no interface of this machine has the address %s: give the address students reach it at (ip -br addr lists them)" >&2; exit 3; }
if ! id -u %s >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --password '*' --comment 'labctl workshop jump host, forwarding only' %s ||
    id -u %s >/dev/null # made meanwhile by another workshop's up
fi
mkdir -p %s "$d" /run/sshd
chown root:root /var/lib/labctl %s "$d"
chmod 0755 /var/lib/labctl %s "$d"
[ -s "$d/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C 'labctl-jump-%s' -f "$d/ssh_host_ed25519_key"
cat >"$d/authorized_keys.new" <<'LABCTL_EOF'
%sLABCTL_EOF
cat >"$d/sshd_config.new" <<'LABCTL_EOF'
%sLABCTL_EOF
chmod 0644 "$d/authorized_keys.new" "$d/sshd_config.new"
"$sshd" -t -f "$d/sshd_config.new"
mv -f "$d/authorized_keys.new" "$d/authorized_keys"
mv -f "$d/sshd_config.new" "$d/sshd_config"
pid=$(cat "$d/sshd.pid" 2>/dev/null || true)
if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-f $d/sshd_config"; then
  kill -HUP "$pid"
  sleep 0.5
else
  if ss -Hltn "sport = :%d" | grep -q .; then
    echo "port %d is taken on this machine: give the jump host another port (--jump %s:PORT)" >&2; ss -Hltnp "sport = :%d" >&2; exit 3
  fi
  "$sshd" -f "$d/sshd_config" -E "$d/sshd.log"
fi
i=0
until ss -Hltn "src %s" | grep -q .; do
  i=$((i+1))
  [ $i -le 100 ] || { echo "the jump host's sshd did not start listening on %s; its log:" >&2; tail -n 20 "$d/sshd.log" >&2; exit 1; }
  sleep 0.1
done
cat "$d/ssh_host_ed25519_key.pub"
`, dir, addr, addr, JumpUser, JumpUser, JumpUser, JumpRoot, JumpRoot, JumpRoot, d.Workshop, keys, cfg,
		port, port, addr, port, d.Listen, d.Listen)
	return b.String(), nil
}

// OpenJump opens or updates the workshop's jump host on the hypervisor (see
// JumpScript) and returns its public host key, which the cards pin.
func (h *Host) OpenJump(ctx context.Context, d JumpHost) (ssh.PublicKey, error) {
	script, err := JumpScript(d)
	if err != nil {
		return nil, err
	}
	out, err := h.Run(ctx, script)
	if err != nil {
		return nil, fmt.Errorf("%s: the students' jump host at %s: %w", Who(h.HV), d.Listen, err)
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("%s: the jump host's host key: %w", Who(h.HV), err)
	}
	return key, nil
}

// CloseJump stops the workshop's jump host (and waits until it has gone,
// so that nothing listens once it returns), removes its directory and, when
// no other workshop has a jump host there, the account; it says what it
// found ("" when there was no jump host).
func (h *Host) CloseJump(ctx context.Context, workshop string) (string, error) {
	dir, err := jumpDir(workshop)
	if err != nil {
		return "", err
	}
	script := fmt.Sprintf(`set -u
d=%s
pid=$(cat "$d/sshd.pid" 2>/dev/null || true)
if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-f $d/sshd_config"; then
  kill "$pid"
  i=0
  # until gone, or a zombie (which holds no socket) where nothing reaps it
  while st=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$pid/status" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ] && [ $i -lt 50 ]; do
    sleep 0.1; i=$((i+1))
  done
  kill -9 "$pid" 2>/dev/null || true
  echo "stopped its sshd (pid $pid)"
elif [ -d "$d" ]; then
  echo "its sshd was not running (pid file: ${pid:-none})"
fi
rm -rf "$d"
if rmdir %s 2>/dev/null; then rmdir /var/lib/labctl 2>/dev/null; if id -u %s >/dev/null 2>&1; then userdel %s; fi; fi
exit 0
`, dir, JumpRoot, JumpUser, JumpUser)
	out, err := h.Run(ctx, script)
	if err != nil {
		return "", fmt.Errorf("%s: close the students' jump host: %w", Who(h.HV), err)
	}
	return strings.TrimSpace(out), nil
}
