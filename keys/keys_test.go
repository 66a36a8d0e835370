package keys

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	l := Lab{Dir: dir, Lab: "t"}
	p1, err := l.User()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(l.UserKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v", fi.Mode().Perm())
	}
	if d, _ := os.Stat(dir); d.Mode().Perm() != 0o700 {
		t.Errorf("key directory mode %v", d.Mode().Perm())
	}
	p2, err := l.User()
	if err != nil {
		t.Fatal(err)
	}
	if p1.Fingerprint() != p2.Fingerprint() {
		t.Error("second load made a new key")
	}
	if !strings.HasPrefix(p1.AuthorizedKey(), "ssh-ed25519 ") {
		t.Errorf("authorized key %q", p1.AuthorizedKey())
	}
	pub, _ := os.ReadFile(l.UserKeyPath() + ".pub")
	if k, _, _, _, err := ssh.ParseAuthorizedKey(pub); err != nil || ssh.FingerprintSHA256(k) != p1.Fingerprint() {
		t.Errorf(".pub does not match: %v", err)
	}
	if _, err := p1.Signer(); err != nil {
		t.Error(err)
	}
	h1, _ := l.Host("node1")
	h2, _ := l.Host("node2")
	if h1.Fingerprint() == h2.Fingerprint() || h1.Fingerprint() == p1.Fingerprint() {
		t.Error("host keys are not distinct")
	}
	l.RemoveHost("node1")
	h1b, _ := l.Host("node1")
	if h1b.Fingerprint() == h1.Fingerprint() {
		t.Error("RemoveHost did not forget the key")
	}
}

func TestRefusesOpenOrBrokenKeys(t *testing.T) {
	dir := t.TempDir()
	l := Lab{Dir: dir, Lab: "t"}
	if _, err := l.User(); err != nil {
		t.Fatal(err)
	}
	os.Chmod(l.UserKeyPath(), 0o644)
	if _, err := l.User(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: %v", err)
	}
	os.WriteFile(l.UserKeyPath(), []byte("junk"), 0o600)
	if _, err := l.User(); err == nil || !strings.Contains(err.Error(), "not a usable private key") {
		t.Errorf("broken key: %v", err)
	}
}
