package images

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// miniRoot makes a merged-/usr root with this machine's /usr/bin/true and
// the libraries it needs, a config directory with a dangling log link,
// and a file that must stay out of the layer.
func miniRoot(t *testing.T) string {
	t.Helper()
	host := "/usr/bin/true"
	f, err := elf.Open(host)
	if err != nil {
		t.Skipf("no ELF %s here: %v", host, err)
	}
	libs, _ := f.ImportedLibraries()
	f.Close()
	root := t.TempDir()
	mk := func(p string, data []byte, mode os.FileMode) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	ln := func(target, p string) {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	copyIn := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Skipf("%v", err)
		}
		mk(dst, b, 0o755)
	}
	copyIn(host, "usr/bin/true")
	for _, l := range libs {
		copyIn(filepath.Join("/usr/lib/x86_64-linux-gnu", l), filepath.Join("usr/lib/x86_64-linux-gnu", l))
	}
	copyIn("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
	ln("../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "usr/lib64/ld-linux-x86-64.so.2")
	ln("usr/bin", "bin")
	ln("usr/lib", "lib")
	ln("usr/lib64", "lib64")
	mk("etc/app/app.conf", []byte("x=1\n"), 0o644)
	ln("/dev/stdout", "etc/app/log")
	mk("usr/share/doc/huge", bytes.Repeat([]byte("x"), 1<<20), 0o644)
	return root
}

func layerEntries(t *testing.T, data []byte) map[string]*tar.Header {
	t.Helper()
	m := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return m
		}
		if err != nil {
			t.Fatal(err)
		}
		m[h.Name] = h
	}
}

func TestSlimLayerTakesProgramsWithTheirLibraries(t *testing.T) {
	root := miniRoot(t)
	s := newSlimmer(root)
	if err := s.addProgram("bin/true"); err != nil {
		t.Fatal(err)
	}
	if err := s.add("etc/app"); err != nil {
		t.Fatal(err)
	}
	s.addApplets([]string{"bin/true", "bin/sh", "sbin/nothere"})
	var b bytes.Buffer
	if err := s.write(&b); err != nil {
		t.Fatal(err)
	}
	e := layerEntries(t, b.Bytes())
	for _, want := range []string{"usr/bin/true", "usr/lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "etc/app/app.conf", "usr/", "usr/lib/"} {
		if e[want] == nil {
			t.Errorf("layer lacks %s", want)
		}
	}
	for link, target := range map[string]string{"bin": "usr/bin", "lib64": "usr/lib64", "usr/lib64/ld-linux-x86-64.so.2": "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "etc/app/log": "/dev/stdout", "usr/bin/sh": "/bin/busybox"} {
		if h := e[link]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != target {
			t.Errorf("%s: want a link to %s, got %+v", link, target, h)
		}
	}
	if h := e["usr/bin/true"]; h != nil && h.Typeflag != tar.TypeReg {
		t.Errorf("the program was replaced by an applet link: %+v", h)
	}
	if e["usr/share/doc/huge"] != nil || e["sbin/nothere"] != nil {
		t.Error("layer has files nobody asked for")
	}
	for n, h := range e {
		if strings.HasPrefix(n, "/") || strings.Contains(n, "..") || !h.ModTime.Equal(imageEpoch) {
			t.Errorf("entry %s: name or time not as an image layer needs (%v)", n, h.ModTime)
		}
	}
	// The same root gives the same bytes (reproducible image IDs).
	var b2 bytes.Buffer
	s2 := newSlimmer(root)
	s2.addProgram("bin/true")
	s2.add("etc/app")
	s2.addApplets([]string{"bin/true", "bin/sh", "sbin/nothere"})
	if err := s2.write(&b2); err != nil || !bytes.Equal(b.Bytes(), b2.Bytes()) {
		t.Errorf("not reproducible (err=%v)", err)
	}
}

func TestSlimLayerMissingLibraryIsAnError(t *testing.T) {
	root := miniRoot(t)
	os.Remove(filepath.Join(root, "usr/lib/x86_64-linux-gnu/libc.so.6"))
	err := newSlimmer(root).addProgram("usr/bin/true")
	if err == nil || !strings.Contains(err.Error(), "needs libc.so.6") {
		t.Errorf("got %v", err)
	}
}
