// Package images provides what the VMs and the labs are made from, cached
// locally with checksums: VM base images (downloaded from a catalogue or
// built offline from Debian packages with mmdebstrap), the offline Docker
// engine bundle, and the busybox and nginx container image archives.
//
// Everything in the cache is listed in a manifest with its size and SHA-256
// and is verified again when it is used, so a corrupt or tampered file is
// never handed to a VM.
package images

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/labctl/labctl/internal/atomicfile"
)

// Kinds of cached artefact.
const (
	KindVMImage        = "vm-image"
	KindDockerBundle   = "docker-bundle"
	KindContainerImage = "container-image"
)

// Entry is one cached artefact: one or more files.
type Entry struct {
	Name      string            `json:"name"`
	Kind      string            `json:"kind"`
	Source    string            `json:"source"`
	Files     []File            `json:"files"`
	Created   time.Time         `json:"created"`
	InputHash string            `json:"input_hash,omitempty"` // builds: what it was built from
	Meta      map[string]string `json:"meta,omitempty"`
}

// File is one file of an entry, relative to the cache directory.
type File struct {
	Role   string `json:"role"` // disk, kernel, initrd, archive, deb, index
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Size is the total size of the entry's files.
func (e Entry) Size() int64 {
	var n int64
	for _, f := range e.Files {
		n += f.Size
	}
	return n
}

// File returns the entry's first file with the given role.
func (e Entry) File(role string) (File, bool) {
	for _, f := range e.Files {
		if f.Role == role {
			return f, true
		}
	}
	return File{}, false
}

// ErrNotCached is returned for a name the cache does not hold.
var ErrNotCached = errors.New("not in the image cache")

// ErrCorrupt is returned when a cached file does not match the manifest.
var ErrCorrupt = errors.New("cached file does not match its checksum")

// Cache is the local image cache.
type Cache struct {
	Dir string
}

// DefaultCacheDir is $LABCTL_CACHE_DIR, else $XDG_CACHE_HOME/labctl, else
// ~/.cache/labctl. (LABCTL_CACHE_DIR lets several users or labs share one
// cache, e.g. on a workshop server.)
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("LABCTL_CACHE_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "labctl"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: set XDG_CACHE_HOME or HOME: %w", err)
	}
	return filepath.Join(home, ".cache", "labctl"), nil
}

// OpenCache opens (creating if needed) the cache at dir.
func OpenCache(dir string) (*Cache, error) {
	for _, d := range []string{dir, filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("image cache: %w", err)
		}
	}
	return &Cache{Dir: dir}, nil
}

// Abs returns the absolute path of a cache-relative path.
func (c *Cache) Abs(rel string) string { return filepath.Join(c.Dir, rel) }

type manifest struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

func (c *Cache) manifestPath() string { return filepath.Join(c.Dir, "manifest.json") }

// lock serialises manifest updates between labctl processes.
func (c *Cache) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(c.Dir, "manifest.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("image cache: lock: %w", err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func (c *Cache) read() (*manifest, error) {
	data, err := os.ReadFile(c.manifestPath())
	if errors.Is(err, fs.ErrNotExist) {
		return &manifest{Version: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("image cache: manifest %s is damaged (%v); remove it and rebuild or pull the images", c.manifestPath(), err)
	}
	return &m, nil
}

func (c *Cache) write(m *manifest) error {
	sort.Slice(m.Entries, func(i, j int) bool { return m.Entries[i].Name < m.Entries[j].Name })
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(c.manifestPath(), append(data, '\n'), 0o644)
}

// List returns every cached entry, sorted by name.
func (c *Cache) List() ([]Entry, error) {
	m, err := c.read()
	if err != nil {
		return nil, err
	}
	return m.Entries, nil
}

// Lookup returns the entry called name without verifying it.
func (c *Cache) Lookup(name string) (Entry, error) {
	m, err := c.read()
	if err != nil {
		return Entry{}, err
	}
	for _, e := range m.Entries {
		if e.Name == name {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("%s: %w", name, ErrNotCached)
}

// Get returns the entry called name after verifying every file against
// its recorded size and checksum: what Get returns is safe to use.
func (c *Cache) Get(name string) (Entry, error) {
	e, err := c.Lookup(name)
	if err != nil {
		return Entry{}, err
	}
	if err := c.Verify(e); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// Verify checks each file of e against the manifest.
func (c *Cache) Verify(e Entry) error {
	for _, f := range e.Files {
		fi, err := os.Stat(c.Abs(f.Path))
		if err != nil {
			return fmt.Errorf("%s: %s: %w (%v); remove it with `labctl image rm %s` and build or pull it again", e.Name, f.Path, ErrCorrupt, err, e.Name)
		}
		if fi.Size() != f.Size {
			return fmt.Errorf("%s: %s: %w: size %d, manifest says %d; remove it with `labctl image rm %s` and build or pull it again", e.Name, f.Path, ErrCorrupt, fi.Size(), f.Size, e.Name)
		}
		sum, err := fileSHA256(c.Abs(f.Path))
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		if sum != f.SHA256 {
			return fmt.Errorf("%s: %s: %w: sha256 %s, manifest says %s; remove it with `labctl image rm %s` and build or pull it again", e.Name, f.Path, ErrCorrupt, sum, f.SHA256, e.Name)
		}
	}
	return nil
}

// update changes the manifest under the cache lock and writes it back.
func (c *Cache) update(fn func(m *manifest) error) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	m, err := c.read()
	if err != nil {
		return err
	}
	if err := fn(m); err != nil {
		return err
	}
	if err := c.write(m); err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	return nil
}

// Put records e, replacing an entry of the same name. Files of a replaced
// entry that e no longer uses are removed.
func (c *Cache) Put(e Entry) error {
	keep := map[string]bool{}
	for _, f := range e.Files {
		keep[f.Path] = true
	}
	var stale []string
	err := c.update(func(m *manifest) error {
		out := m.Entries[:0]
		for _, old := range m.Entries {
			if old.Name == e.Name {
				for _, f := range old.Files {
					if !keep[f.Path] {
						stale = append(stale, f.Path)
					}
				}
				continue
			}
			out = append(out, old)
		}
		m.Entries = append(out, e)
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range stale {
		os.Remove(c.Abs(p))
	}
	return nil
}

// Remove deletes the entry called name and its files.
func (c *Cache) Remove(name string) error {
	var files []File
	err := c.update(func(m *manifest) error {
		found := false
		out := m.Entries[:0]
		for _, e := range m.Entries {
			if e.Name == name {
				found = true
				files = e.Files
				continue
			}
			out = append(out, e)
		}
		if !found {
			return fmt.Errorf("%s: %w", name, ErrNotCached)
		}
		m.Entries = out
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	dirs := map[string]bool{}
	for _, f := range files {
		if err := os.Remove(c.Abs(f.Path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		dirs[filepath.Dir(c.Abs(f.Path))] = true
	}
	for d := range dirs {
		if d != c.Dir {
			os.Remove(d) // only if empty
		}
	}
	return errors.Join(errs...)
}

// TempDir makes a scratch directory inside the cache (same filesystem, so
// finished files can be renamed into place).
func (c *Cache) TempDir(prefix string) (string, error) {
	return os.MkdirTemp(filepath.Join(c.Dir, "tmp"), prefix)
}

// AddFile moves src into the cache as rel (relative path) and describes it.
func (c *Cache) AddFile(src, rel, role string) (File, error) {
	dst := c.Abs(rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return File{}, err
	}
	sum, err := fileSHA256(src)
	if err != nil {
		return File{}, err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return File{}, err
	}
	if err := os.Rename(src, dst); err != nil {
		return File{}, err
	}
	return File{Role: role, Path: rel, Size: fi.Size(), SHA256: sum}, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func ensureDir(file string) error { return os.MkdirAll(filepath.Dir(file), 0o755) }

// describe computes the File record of a file already in the cache.
func describe(c *Cache, rel, role string) (File, error) {
	fi, err := os.Stat(c.Abs(rel))
	if err != nil {
		return File{}, err
	}
	sum, err := fileSHA256(c.Abs(rel))
	if err != nil {
		return File{}, err
	}
	return File{Role: role, Path: rel, Size: fi.Size(), SHA256: sum}, nil
}
