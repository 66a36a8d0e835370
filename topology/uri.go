// URIs in a topology: the libvirt connection and Docker's registry
// mirrors, accepted only as what labctl and Docker can honour.

package topology

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// CheckLibvirtURI accepts the libvirt URIs labctl can honour: the local
// daemon (qemu:///system or qemu:///session, no host) and a remote one
// over SSH (qemu+ssh://[user@]host[:port]/system). Anything else would be
// refused later or, worse, quietly reach another daemon than the one
// written (qemu://HOST/system names a remote daemon that labctl has no
// transport for; it must not fall back to the local socket).
func CheckLibvirtURI(uri string) error {
	const hint = "use qemu:///system (this machine) or qemu+ssh://user@host/system"
	u, err := url.Parse(uri)
	if err != nil || uri == "" || u.Scheme == "" {
		return fmt.Errorf("%s is not a libvirt URI; %s", Quote(uri), hint)
	}
	if u.Scheme == "test" { // libvirt's test driver
		return nil
	}
	if u.Path != "/system" && u.Path != "/session" {
		return fmt.Errorf("%s: the path must be /system or /session; %s", Quote(uri), hint)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s: options after '?' are not supported; %s", Quote(uri), hint)
	}
	switch u.Scheme {
	case "qemu":
		if u.Host != "" {
			return fmt.Errorf("%s names host %s, but qemu:// is the local daemon only; reach a remote one over SSH: qemu+ssh://%s%s", Quote(uri), Quote(u.Host), u.Host, u.Path)
		}
		if u.User != nil {
			return fmt.Errorf("%s: qemu:/// is the local daemon and takes no user; a remote one over SSH: qemu+ssh://user@host%s", Quote(uri), u.Path)
		}
	case "qemu+ssh":
		if u.Hostname() == "" {
			return fmt.Errorf("%s: qemu+ssh needs a host name or address: qemu+ssh://user@host/system", Quote(uri))
		}
		if !hostName(u.Hostname()) {
			return fmt.Errorf("%s: %s is not a host name (letters, digits and -, in labels joined by dots) or an IP address", Quote(uri), Quote(u.Hostname()))
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || p[0] == '0' {
				return fmt.Errorf("%s: port %s: 1 to 65535", Quote(uri), Quote(p))
			}
		} else if strings.HasSuffix(u.Host, ":") {
			return fmt.Errorf("%s: an empty port after the host; write the port or leave the ':' out", Quote(uri))
		}
		if u.User != nil {
			if _, set := u.User.Password(); set {
				return fmt.Errorf("%s: a password in the URI is not supported (it would be kept in files and shown by plan); log in with a key (hypervisors[].identity, or your ~/.ssh key)", redactURI(u))
			}
			if !loginRE.MatchString(u.User.Username()) {
				return fmt.Errorf("%s: %s is not a user name to log in as (letters, digits, '.', '_' or '-', not starting with '-' or '.', at most 32)", Quote(uri), Quote(u.User.Username()))
			}
		}
	default:
		return fmt.Errorf("%s: transport %s is not supported; %s", Quote(uri), Quote(u.Scheme), hint)
	}
	return nil
}

// loginRE is a user name to log in as over SSH: what useradd accepts,
// without anything an ssh config or a shell would read (spaces, quotes,
// %, newlines).
var loginRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9._-]{0,31}$`)

// hostName tells an IP address (v4, or v6 without a zone) or an RFC 1123
// host name: labels of letters, digits and '-' (not at either end), at
// most 63 bytes each and 253 in all.
func hostName(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Zone() == ""
	}
	if len(h) > 253 || strings.HasSuffix(h, ".") {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	// All digits and dots is an IPv4 address that did not parse.
	return strings.Trim(h, "0123456789.") != ""
}

// redactURI is the URI with its password replaced, for messages.
func redactURI(u *url.URL) string {
	c := *u
	c.User = url.UserPassword(u.User.Username(), "xxxxx")
	return Quote(c.String())
}

// checkMirror accepts what Docker accepts as a registry mirror (an http
// or https URL of a host, nothing after it); dockerd refuses to start on
// anything else, on every node at once.
func checkMirror(m string) error {
	u, err := url.Parse(m)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("%s is not an http(s) URL such as https://mirror.example:5000", Quote(m))
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("%s: a mirror is a scheme and host[:port] only (no path, query or user), e.g. https://mirror.example:5000", Quote(m))
	}
	return nil
}
