package vm

import (
	"fmt"
	"net/url"
	"os/user"

	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// sshDialer reaches a remote libvirt daemon over SSH, the way virsh does
// for qemu+ssh URIs: the user's ssh agent or default key, the remote host
// key checked against ~/.ssh/known_hosts (an unknown key is refused, never
// accepted silently).
func sshDialer(u *url.URL) (*dialers.SSH, error) {
	if u.Hostname() == "" {
		return nil, fmt.Errorf("libvirt URI %s: no host", u)
	}
	cur, err := user.Current()
	if err != nil {
		return nil, err
	}
	opts := []dialers.SSHOption{
		dialers.WithSystemSSHDefaults(cur),
		dialers.WithSSHAuthMethods((&dialers.SSHAuthMethods{}).Agent().PrivKey()),
	}
	if u.User != nil && u.User.Username() != "" {
		opts = append(opts, dialers.UseSSHUsername(u.User.Username()))
	}
	if p := u.Port(); p != "" {
		opts = append(opts, dialers.UseSSHPort(p))
	}
	if s := u.Query().Get("socket"); s != "" {
		opts = append(opts, dialers.WithRemoteSocket(s))
	}
	return dialers.NewSSH(u.Hostname(), opts...), nil
}
