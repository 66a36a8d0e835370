package images

import (
	"archive/tar"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// slimmer collects a few paths of a root file system, with everything
// they need (parent directories, symlink targets, the shared libraries of
// ELF programs), and writes them as one image layer. A Debian rootfs with
// nginx is 100 MiB; nginx with its libraries is a few MiB, which is what
// every node has to receive and unpack.
type slimmer struct {
	root  string
	paths map[string]bool // root-relative, resolved
	links map[string]string
	// applets are links to /bin/busybox written into the layer
	applets map[string]bool
}

func newSlimmer(root string) *slimmer {
	return &slimmer{root: root, paths: map[string]bool{}, links: map[string]string{}, applets: map[string]bool{}}
}

// libDirs are where the dynamic loader looks (Debian, amd64).
var libDirs = []string{"usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib", "lib", "usr/lib64", "lib64"}

// resolve follows symlinks in p (root-relative) inside the root, adding
// every link it passes, and returns the resolved root-relative path.
func (s *slimmer) resolve(p string, depth int) (string, error) {
	if depth > 40 {
		return "", fmt.Errorf("%s: too many levels of symbolic links", p)
	}
	parts := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	cur := ""
	for i, part := range parts {
		if part == "" {
			continue
		}
		next := path.Join(cur, part)
		fi, err := os.Lstat(filepath.Join(s.root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		target, err := os.Readlink(filepath.Join(s.root, next))
		if err != nil {
			return "", err
		}
		s.links[next] = target
		var t string
		if path.IsAbs(target) {
			t = strings.TrimPrefix(path.Clean(target), "/")
		} else {
			t = path.Join(cur, target)
		}
		resolved, err := s.resolve(path.Join(append([]string{t}, parts[i+1:]...)...), depth+1)
		if err != nil {
			return "", err
		}
		return resolved, nil
	}
	return cur, nil
}

// add includes p (a file, or a directory with everything in it).
func (s *slimmer) add(p string) error {
	r, err := s.resolve(p, 0)
	if err != nil {
		return err
	}
	return filepath.WalkDir(filepath.Join(s.root, r), func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.root, full)
		rel = filepath.ToSlash(rel)
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(full)
			if err != nil {
				return err
			}
			s.links[rel] = target
			// The target comes along when it is a file in the root (a
			// link to /dev/stdout stays a link).
			if t, err := s.resolve(rel, 0); err == nil {
				if fi, err := os.Stat(filepath.Join(s.root, t)); err == nil && fi.Mode().IsRegular() {
					s.paths[t] = true
				}
			}
			return nil
		}
		s.paths[rel] = true
		return nil
	})
}

// addProgram includes an ELF program or library with its interpreter and
// the shared libraries it needs, recursively.
func (s *slimmer) addProgram(p string) error {
	r, err := s.resolve(p, 0)
	if err != nil {
		return err
	}
	if s.paths[r] {
		return nil
	}
	s.paths[r] = true
	f, err := elf.Open(filepath.Join(s.root, r))
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b, err := io.ReadAll(prog.Open())
			if err != nil {
				return err
			}
			if err := s.addProgram(strings.TrimRight(string(b), "\x00")); err != nil {
				return err
			}
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	for _, lib := range needed {
		found := false
		for _, d := range libDirs {
			c := path.Join(d, lib)
			if _, err := os.Stat(filepath.Join(s.root, c)); err == nil {
				if _, err := s.resolve(c, 0); err != nil {
					return err
				}
				if err := s.addProgram(c); err != nil {
					return err
				}
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("%s needs %s, which is not in the root file system", p, lib)
		}
	}
	return nil
}

// addApplets adds a link to /bin/busybox for every applet (e.g.
// "bin/ping") whose path the layer does not have already.
func (s *slimmer) addApplets(applets []string) {
	for _, a := range applets {
		a = strings.TrimPrefix(path.Clean("/"+a), "/")
		dir, err := s.resolve(path.Dir(a), 0)
		if err != nil {
			continue // an applet directory the root does not have
		}
		n := path.Join(dir, path.Base(a))
		if _, isLink := s.links[n]; !s.paths[n] && !isLink {
			s.applets[n] = true
		}
	}
}

// write writes the layer: directories, files and links sorted by name,
// with their modes and owners, and the fixed image timestamp.
func (s *slimmer) write(w io.Writer) error {
	entries := map[string]bool{}
	for a := range s.applets {
		for d := path.Dir(a); d != "." && d != "/"; d = path.Dir(d) {
			entries[d] = true
		}
		entries[a] = true
	}
	for p := range s.paths {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			entries[d] = true
		}
		entries[p] = true
	}
	for l := range s.links {
		for d := path.Dir(l); d != "." && d != "/"; d = path.Dir(d) {
			entries[d] = true
		}
		entries[l] = true
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, n := range names {
		if s.applets[n] {
			h := &tar.Header{Name: n, Linkname: "/bin/busybox", Mode: 0o777, Typeflag: tar.TypeSymlink,
				ModTime: imageEpoch, AccessTime: imageEpoch, ChangeTime: imageEpoch, Format: tar.FormatPAX}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		full := filepath.Join(s.root, n)
		fi, err := os.Lstat(full)
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, s.links[n])
		if err != nil {
			return err
		}
		h.Name = n
		if fi.IsDir() {
			h.Name += "/"
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		}
		h.Uname, h.Gname = "", ""
		h.ModTime, h.AccessTime, h.ChangeTime = imageEpoch, imageEpoch, imageEpoch
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(full)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return tw.Close()
}
