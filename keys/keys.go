// Package keys makes and keeps a lab's SSH keys: one ed25519 key pair the
// lab user logs in with, and one ed25519 host key per node. labctl
// generates the host keys itself and hands them to the node through its
// first-boot seed, so that the lab's known_hosts can pin them before the
// node has ever booted: the SSH client never has to trust a key it sees
// for the first time.
package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/labctl/labctl/internal/atomicfile"

	"golang.org/x/crypto/ssh"
)

// Pair is an ed25519 key pair in OpenSSH formats.
type Pair struct {
	PrivatePEM []byte        // OpenSSH private key, PEM
	Public     ssh.PublicKey // the public half
}

// AuthorizedKey is the public key as one authorized_keys / known_hosts line
// fragment ("ssh-ed25519 AAAA...").
func (p *Pair) AuthorizedKey() string {
	b := ssh.MarshalAuthorizedKey(p.Public)
	return string(b[:len(b)-1])
}

// Fingerprint is the key's SHA256 fingerprint as ssh-keygen prints it.
func (p *Pair) Fingerprint() string { return ssh.FingerprintSHA256(p.Public) }

// Signer returns an ssh.Signer for the private key.
func (p *Pair) Signer() (ssh.Signer, error) { return ssh.ParsePrivateKey(p.PrivatePEM) }

// Generate makes a new ed25519 pair.
func Generate(comment string) (*Pair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return &Pair{PrivatePEM: pem.EncodeToMemory(block), Public: sp}, nil
}

// LoadOrCreate returns the pair stored at path (private key) and path.pub,
// creating both when missing. It is safe when several labctl processes do
// it at once (ssh-config and up on a fresh lab): the key is written whole
// into a private temporary file (0600 from its first byte, synced) and
// linked into place, which fails if another process linked its key first;
// then that key is used. So no reader ever sees a half-written key, and
// every process ends up with the same one.
func LoadOrCreate(path, comment string) (*Pair, error) {
	p, err := load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return p, err
	}
	p, err = Generate(comment)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := atomicfile.Create(path, p.PrivatePEM, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return load(path) // another labctl made it first
		}
		return nil, err
	}
	pub := []byte(p.AuthorizedKey() + " " + comment + "\n")
	if err := atomicfile.Write(path+".pub", pub, 0o644); err != nil {
		return nil, err
	}
	return p, nil
}

// load reads the pair at path; fs.ErrNotExist when there is none.
func load(path string) (*Pair, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not a usable private key (%v); remove it to make a new one", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: private key is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	return &Pair{PrivatePEM: data, Public: signer.PublicKey()}, nil
}

// Lab holds a lab's keys on disk, inside its state directory.
type Lab struct {
	Dir string // the lab's state directory
	Lab string
}

// UserKeyPath is the lab user's private key (the IdentityFile).
func (l Lab) UserKeyPath() string { return filepath.Join(l.Dir, "id_ed25519") }

// HostKeyPath is a node's host private key.
func (l Lab) HostKeyPath(node string) string {
	return filepath.Join(l.Dir, "hostkeys", node+"_ssh_host_ed25519_key")
}

// User returns the lab's login key pair, creating it on first use.
func (l Lab) User() (*Pair, error) {
	return LoadOrCreate(l.UserKeyPath(), "labctl-"+l.Lab)
}

// Host returns a node's host key pair, creating it on first use.
func (l Lab) Host(node string) (*Pair, error) {
	return LoadOrCreate(l.HostKeyPath(node), "root@"+node)
}

// RemoveHost forgets a node's host key (when the node is destroyed, its
// next incarnation gets a new one).
func (l Lab) RemoveHost(node string) error {
	for _, p := range []string{l.HostKeyPath(node), l.HostKeyPath(node) + ".pub"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
