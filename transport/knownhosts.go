package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/labctl/labctl/internal/atomicfile"
	"github.com/labctl/labctl/internal/lines"
	"golang.org/x/crypto/ssh"
)

// KnownHosts is a file of pinned host keys, one line per host: "NAME
// KEYTYPE BASE64", the known_hosts format. NAME is the caller's key: an
// inventory keys its hosts by node name (an address change keeps the pin);
// the hypervisors' pins are keyed as OpenSSH names a host in known_hosts
// (host, or [host]:port), so that plain ssh can use the same file.
type KnownHosts struct {
	Path string
	mu   sync.Mutex
}

func (k *KnownHosts) read() (map[string]ssh.PublicKey, error) {
	data, err := os.ReadFile(k.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]ssh.PublicKey{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]ssh.PublicKey{}
	err = lines.Each(bytes.NewReader(data), func(n int, line string) error {
		_, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
		if err != nil {
			return fmt.Errorf("%s:%d: %w", k.Path, n, err)
		}
		for _, h := range hosts {
			m[h] = key
		}
		return nil
	})
	return m, err
}

// Get returns the pinned key of a host, nil if none is pinned yet.
func (k *KnownHosts) Get(name string) (ssh.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m, err := k.read()
	if err != nil {
		return nil, err
	}
	return m[name], nil
}

// Pin records a host's key; a host that has a different key pinned
// already is refused.
//
// The read, check and write hold a lock on PATH.lock as well as the
// mutex, so that two labctl processes pinning hosts of the same lab at
// once (hosts check beside lab run) do not lose one another's pins.
func (k *KnownHosts) Pin(name string, key ssh.PublicKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	lf, err := os.OpenFile(k.Path+".lock", os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("lock %s: %w", k.Path, err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", k.Path, err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	m, err := k.read()
	if err != nil {
		return err
	}
	if old, ok := m[name]; ok {
		if bytes.Equal(old.Marshal(), key.Marshal()) {
			return nil
		}
		return fmt.Errorf("%s: a different host key is pinned already (%s)", name, ssh.FingerprintSHA256(old))
	}
	data, _ := os.ReadFile(k.Path)
	line := name + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) + "\n"
	return atomicfile.Write(k.Path, append(data, line...), 0o600)
}
