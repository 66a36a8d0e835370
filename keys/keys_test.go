package keys

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	if again, _ := l.Host("node1"); again.Fingerprint() != h1.Fingerprint() {
		t.Error("Host made a new key for a node that has one")
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

// Many processes creating the same key at once (ssh-config beside up on a
// fresh lab) all succeed and all get the one key that ended up on disk;
// none sees a half-written file. Before keys were linked into place, 6 of
// 30 concurrent pairs failed with "file exists" or "not a usable private
// key".
func TestLoadOrCreateConcurrently(t *testing.T) {
	for round := 0; round < 20; round++ {
		path := filepath.Join(t.TempDir(), "id_ed25519")
		const n = 16
		var wg sync.WaitGroup
		keys := make([]string, n)
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				p, err := LoadOrCreate(path, "lab")
				errs[i] = err
				if err == nil {
					keys[i] = p.AuthorizedKey()
				}
			}(i)
		}
		wg.Wait()
		onDisk, err := LoadOrCreate(path, "lab")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if errs[i] != nil {
				t.Fatalf("round %d, caller %d: %v", round, i, errs[i])
			}
			if keys[i] != onDisk.AuthorizedKey() {
				t.Fatalf("round %d, caller %d got a key that is not the one on disk", round, i)
			}
		}
		pub, _ := os.ReadFile(path + ".pub")
		if !strings.HasPrefix(string(pub), onDisk.AuthorizedKey()+" ") {
			t.Fatalf("round %d: %s.pub holds %q, not the private key's public half", round, path, pub)
		}
		left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*"))
		if len(left) > 0 {
			t.Fatalf("temporary files left: %v", left)
		}
	}
}
