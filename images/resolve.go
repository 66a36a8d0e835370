package images

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// IsLocalPath reports whether an image spec names a file rather than a
// catalogue entry or URL.
func IsLocalPath(spec string) bool {
	return strings.HasPrefix(spec, "/") || strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../")
}

// Resolve returns the verified cache entry for a topology's image spec:
//   - a name in the cache (built or pulled before);
//   - a catalogue name (downloaded now if missing) or URL#sha256:HEX;
//   - a local qcow2 file (copied into the cache once, keyed by content).
//
// A build recipe that is not cached is an error that says how to build it:
// builds need root and minutes, so they are never started implicitly.
func (c *Cache) Resolve(ctx context.Context, spec string, d *Downloader) (Entry, error) {
	if e, err := c.Get(spec); err == nil {
		return e, nil
	} else if !isNotCached(err) {
		return Entry{}, err
	}
	if r, ok := LookupRemote(spec); ok {
		return c.Pull(ctx, d, r)
	}
	if strings.Contains(spec, "://") {
		r, err := RemoteFromURL(spec)
		if err != nil {
			return Entry{}, err
		}
		return c.Pull(ctx, d, r)
	}
	if IsLocalPath(spec) {
		return c.Import(spec)
	}
	if _, ok := LookupRecipe(spec); ok {
		return Entry{}, fmt.Errorf("image %s is not in the image cache: run `sudo labctl image build %s` first", spec, spec)
	}
	return Entry{}, fmt.Errorf("image %q: not cached, not a catalogue name (%s), not a URL#sha256:HEX and not a path", spec, strings.Join(catalogueNames(), ", "))
}

func isNotCached(err error) bool {
	return err != nil && strings.Contains(err.Error(), ErrNotCached.Error())
}

func catalogueNames() []string {
	var n []string
	for _, r := range Catalogue {
		n = append(n, r.Name)
	}
	return n
}

// Import copies a local disk image into the cache (once per content) and
// returns its entry. Images imported this way boot from their own disk.
func (c *Cache) Import(path string) (Entry, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Entry{}, err
	}
	// Only a qcow2 image becomes a node's disk: any other file named in a
	// topology (a key, /etc/shadow) would be handed to the node whole.
	if err := isQcow2(abs); err != nil {
		return Entry{}, fmt.Errorf("image %s: %w", path, err)
	}
	sum, err := fileSHA256(abs)
	if err != nil {
		return Entry{}, fmt.Errorf("image %s: %w", path, err)
	}
	name := "file-" + sum[:12]
	if e, err := c.Get(name); err == nil {
		return e, nil
	}
	tmp, err := c.TempDir("import-")
	if err != nil {
		return Entry{}, err
	}
	defer os.RemoveAll(tmp)
	dst := filepath.Join(tmp, "disk")
	if err := copyFile(abs, dst); err != nil {
		return Entry{}, fmt.Errorf("image %s: %w", path, err)
	}
	f, err := c.AddFile(dst, filepath.Join("vm", name+".img"), "disk")
	if err != nil {
		return Entry{}, err
	}
	if f.SHA256 != sum {
		os.Remove(c.Abs(f.Path))
		return Entry{}, fmt.Errorf("image %s changed while it was copied", path)
	}
	e := Entry{Name: name, Kind: KindVMImage, Source: abs, Files: []File{f}, Created: time.Now().UTC(), Meta: map[string]string{"boot": "disk"}}
	return e, c.Put(e)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// isQcow2 accepts a regular file that starts with qcow2's magic.
func isQcow2(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil || string(magic) != "QFI\xfb" {
		return fmt.Errorf("not a qcow2 image (an image path names a qcow2 disk, e.g. one made with qemu-img or 'labctl image build')")
	}
	return nil
}
