package vmtest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/labctl/labctl/images"
)

// SSHGreeting is a dial function whose every connection answers like an
// SSH server's greeting, then closes: what the SSH wait of an up looks
// for, with no network.
func SSHGreeting(ctx context.Context, network, addr string) (net.Conn, error) {
	a, b := net.Pipe()
	go func() {
		b.Write([]byte("SSH-2.0-fake\r\n"))
		time.Sleep(100 * time.Millisecond)
		b.Close()
	}()
	return a, nil
}

// Cache is an image cache in a temporary directory holding a VM image
// (a disk, kernel and initrd of a few bytes each) with extra metadata,
// under each of names: debian-12 when none are given.
func Cache(t testing.TB, extra map[string]string, names ...string) *images.Cache {
	t.Helper()
	c, err := images.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var files []images.File
	for _, role := range []string{"disk", "kernel", "initrd"} {
		src := filepath.Join(t.TempDir(), role)
		if err := os.WriteFile(src, []byte("fake "+role), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := c.AddFile(src, "vm/debian-12/"+role, role)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	meta := map[string]string{"boot": "kernel", "cmdline": images.KernelCmdline}
	for k, v := range extra {
		meta[k] = v
	}
	if len(names) == 0 {
		names = []string{"debian-12"}
	}
	for _, name := range names {
		if err := c.Put(images.Entry{Name: name, Kind: images.KindVMImage, Files: files, Meta: meta}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}
