package inventory

import (
	"fmt"

	"github.com/labctl/labctl/transport"
	"golang.org/x/crypto/ssh"
)

// Target is how to log into h: its pinned host key, or, on first contact,
// trust on first use: the key is pinned and announce is told its
// fingerprint.
func (inv *Inventory) Target(h Host, kh *transport.KnownHosts, announce func(node, fingerprint string)) (transport.Target, error) {
	signer, err := inv.Signer(h)
	if err != nil {
		return transport.Target{}, fmt.Errorf("%s: login key: %w", h.Name, err)
	}
	pinned, err := kh.Get(h.Name)
	if err != nil {
		return transport.Target{}, err
	}
	t := transport.Target{
		Node: h.Name, Addr: h.Addr(), User: inv.LoginUser(h), Signer: signer, HostKey: pinned,
		MismatchHint: fmt.Sprintf("or the host was reinstalled (then remove its line from %s and connect again to trust the new key)", kh.Path),
	}
	if pinned == nil {
		t.FirstUse = func(key ssh.PublicKey) error {
			if err := kh.Pin(h.Name, key); err != nil {
				return err
			}
			if announce != nil {
				announce(h.Name, ssh.FingerprintSHA256(key))
			}
			return nil
		}
	}
	return t, nil
}
