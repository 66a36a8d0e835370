package transport

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

func newHostKey(t *testing.T) ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Pins made at once by several processes (each its own KnownHosts, as
// hosts check beside lab run) are all kept: the read-modify-write holds a
// file lock, not only the in-process mutex.
func TestPinsFromSeveralProcessesAreAllKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inventory_known_hosts")
	const n = 24
	var wg sync.WaitGroup
	keys := make([]ssh.PublicKey, n)
	for i := 0; i < n; i++ {
		keys[i] = newHostKey(t)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			kh := &KnownHosts{Path: path}
			if err := kh.Pin(fmt.Sprintf("node%d", i), keys[i]); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	kh := &KnownHosts{Path: path}
	for i := 0; i < n; i++ {
		got, err := kh.Get(fmt.Sprintf("node%d", i))
		if err != nil || got == nil || !bytes.Equal(got.Marshal(), keys[i].Marshal()) {
			t.Errorf("node%d: pin lost (%v)", i, err)
		}
	}
}
