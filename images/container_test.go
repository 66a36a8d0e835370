package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func readTar(t *testing.T, r io.Reader) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

func TestBusyboxLayerAndArchive(t *testing.T) {
	var layer bytes.Buffer
	fakeBin := []byte("\x7fELF not really busybox")
	if err := BusyboxLayer(&layer, fakeBin, []string{"bin/sh", "usr/bin/wget", "sbin/ip", "bin/ping", "linuxrc", "bin/sh"}); err != nil {
		t.Fatal(err)
	}
	hs := readTar(t, bytes.NewReader(layer.Bytes()))
	for _, l := range []string{"bin/sh", "usr/bin/wget", "sbin/ip", "bin/ping"} {
		h := hs[l]
		if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/bin/busybox" {
			t.Errorf("%s: %+v", l, h)
		}
	}
	if _, ok := hs["linuxrc"]; ok {
		t.Error("applet outside bin/sbin linked")
	}
	if hs["tmp/"].Mode != 0o1777 || hs["bin/busybox"].Size != int64(len(fakeBin)) {
		t.Error("tmp mode or busybox size wrong")
	}

	lp := filepath.Join(t.TempDir(), "layer.tar")
	os.WriteFile(lp, layer.Bytes(), 0o644)
	var arch bytes.Buffer
	id, err := WriteDockerArchive(&arch, "busybox", lp, ImageConfig{Cmd: []string{"sh"}, ExposedPorts: []string{"80/tcp"}})
	if err != nil {
		t.Fatal(err)
	}
	// Read it back as docker load would: manifest -> config -> layer.
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(arch.Bytes()))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 1 || manifest[0].RepoTags[0] != "busybox:latest" || manifest[0].Config != id+".json" {
		t.Fatalf("manifest %+v", manifest)
	}
	cfg := files[manifest[0].Config]
	sum := sha256.Sum256(cfg)
	if hex.EncodeToString(sum[:]) != id {
		t.Error("image ID is not the config's digest")
	}
	var c struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
		Config struct {
			Cmd          []string
			ExposedPorts map[string]any
		} `json:"config"`
	}
	json.Unmarshal(cfg, &c)
	ls := sha256.Sum256(files[manifest[0].Layers[0]])
	if len(c.RootFS.DiffIDs) != 1 || c.RootFS.DiffIDs[0] != "sha256:"+hex.EncodeToString(ls[:]) {
		t.Errorf("diff_id %v does not match the layer", c.RootFS.DiffIDs)
	}
	if c.Config.Cmd[0] != "sh" || c.Config.ExposedPorts["80/tcp"] == nil {
		t.Errorf("config %+v", c.Config)
	}
	// Same inputs, same image: the archive is reproducible.
	var again bytes.Buffer
	id2, _ := WriteDockerArchive(&again, "busybox", lp, ImageConfig{Cmd: []string{"sh"}, ExposedPorts: []string{"80/tcp"}})
	if id2 != id || !bytes.Equal(again.Bytes(), arch.Bytes()) {
		t.Error("archive is not reproducible")
	}
}

func TestCheckRootfs(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/ssh"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr/sbin"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/machine-id"), nil, 0o644)
	if err := checkRootfs(root); err == nil {
		t.Error("update-initramfs not diverted, accepted")
	}
	os.Symlink("/bin/true", filepath.Join(root, "usr/sbin/update-initramfs"))
	if err := checkRootfs(root); err != nil {
		t.Fatalf("clean rootfs rejected: %v", err)
	}
	os.WriteFile(filepath.Join(root, "usr/sbin/policy-rc.d"), []byte("#!/bin/sh\nexit 101\n"), 0o755)
	if err := checkRootfs(root); err == nil {
		t.Error("leftover policy-rc.d accepted")
	}
	os.Remove(filepath.Join(root, "usr/sbin/policy-rc.d"))
	os.WriteFile(filepath.Join(root, "etc/ssh/ssh_host_ed25519_key"), []byte("k"), 0o600)
	if err := checkRootfs(root); err == nil {
		t.Error("baked host key accepted")
	}
	os.Remove(filepath.Join(root, "etc/ssh/ssh_host_ed25519_key"))
	os.WriteFile(filepath.Join(root, "etc/machine-id"), []byte("abc\n"), 0o644)
	if err := checkRootfs(root); err == nil {
		t.Error("machine-id accepted")
	}
}
