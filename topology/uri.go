// URIs in a topology: the libvirt connection and Docker's registry
// mirrors, accepted only as what labctl and Docker can honour.

package topology

import (
	"fmt"
	"net/url"
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
		if u.Hostname() == "" || strings.HasPrefix(u.Hostname(), "-") {
			return fmt.Errorf("%s: qemu+ssh needs a host name or address: qemu+ssh://user@host/system", Quote(uri))
		}
	default:
		return fmt.Errorf("%s: transport %s is not supported; %s", Quote(uri), Quote(u.Scheme), hint)
	}
	return nil
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
