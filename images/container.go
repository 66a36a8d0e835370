package images

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// imageEpoch is the timestamp in built container images: fixed, so that
// the same inputs give the same image ID.
var imageEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// ImageConfig is the part of a container image's configuration labctl sets.
type ImageConfig struct {
	Cmd          []string
	Env          []string
	ExposedPorts []string // e.g. "80/tcp"
	StopSignal   string
	WorkingDir   string
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// WriteDockerArchive writes a single-layer image in the `docker save`
// format (loadable with `docker load`), tagged tag (e.g. "busybox:latest",
// which Docker shows as the image "busybox"). layer is an uncompressed tar
// of the root file system.
func WriteDockerArchive(w io.Writer, tag, layer string, cfg ImageConfig) (imageID string, err error) {
	diffID, size, err := sha256File(layer)
	if err != nil {
		return "", err
	}
	ports := map[string]struct{}{}
	for _, p := range cfg.ExposedPorts {
		ports[p] = struct{}{}
	}
	type containerConfig struct {
		Cmd          []string            `json:"Cmd,omitempty"`
		Env          []string            `json:"Env,omitempty"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
		StopSignal   string              `json:"StopSignal,omitempty"`
		WorkingDir   string              `json:"WorkingDir,omitempty"`
	}
	config := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      imageEpoch.Format(time.RFC3339),
		"config": containerConfig{
			Cmd: cfg.Cmd, Env: cfg.Env, ExposedPorts: ports, StopSignal: cfg.StopSignal, WorkingDir: cfg.WorkingDir,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + diffID}},
		"history": []map[string]string{{
			"created":    imageEpoch.Format(time.RFC3339),
			"created_by": "labctl image build (from Debian packages)",
		}},
	}
	cfgJSON, err := json.Marshal(config)
	if err != nil {
		return "", err
	}
	cfgSum := sha256.Sum256(cfgJSON)
	imageID = hex.EncodeToString(cfgSum[:])
	repo, ver, _ := strings.Cut(tag, ":")
	if ver == "" {
		ver = "latest"
	}
	manifest, _ := json.Marshal([]map[string]any{{
		"Config":   imageID + ".json",
		"RepoTags": []string{repo + ":" + ver},
		"Layers":   []string{diffID + "/layer.tar"},
	}})
	repos, _ := json.Marshal(map[string]map[string]string{repo: {ver: diffID}})

	tw := tar.NewWriter(w)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: imageEpoch, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: diffID + "/", Mode: 0o755, ModTime: imageEpoch, Typeflag: tar.TypeDir}); err != nil {
		return "", err
	}
	if err := add(diffID+"/VERSION", []byte("1.0")); err != nil {
		return "", err
	}
	lf, err := os.Open(layer)
	if err != nil {
		return "", err
	}
	defer lf.Close()
	if err := tw.WriteHeader(&tar.Header{Name: diffID + "/layer.tar", Mode: 0o644, Size: size, ModTime: imageEpoch, Typeflag: tar.TypeReg}); err != nil {
		return "", err
	}
	if _, err := io.Copy(tw, lf); err != nil {
		return "", err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{imageID + ".json", cfgJSON}, {"manifest.json", manifest}, {"repositories", repos}} {
		if err := add(f.name, f.data); err != nil {
			return "", err
		}
	}
	return imageID, tw.Close()
}

func sha256File(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// BusyboxLayer writes the root file system of the busybox image as a tar:
// the static busybox binary, a link for every applet it lists, and the few
// files a shell expects. applets are paths such as "bin/sh".
func BusyboxLayer(w io.Writer, busybox []byte, applets []string) error {
	tw := tar.NewWriter(w)
	hdr := func(h *tar.Header) error {
		h.ModTime = imageEpoch
		h.Uname, h.Gname = "root", "root"
		return tw.WriteHeader(h)
	}
	dirs := []string{"bin", "dev", "etc", "home", "proc", "root", "sbin", "sys", "tmp", "usr", "usr/bin", "usr/sbin", "var", "var/run", "var/www"}
	for _, d := range dirs {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if d == "root" {
			mode = 0o700
		}
		if err := hdr(&tar.Header{Name: d + "/", Mode: mode, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"bin/busybox", 0o755, busybox},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{"etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")},
		{"etc/hostname", 0o644, []byte("busybox\n")},
		{"var/www/index.html", 0o644, []byte("<h1>busybox httpd</h1>\n")},
	}
	for _, f := range files {
		if err := hdr(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	seen := map[string]bool{"bin/busybox": true}
	sort.Strings(applets)
	for _, a := range applets {
		a = strings.TrimPrefix(path.Clean("/"+a), "/")
		dir := path.Dir(a)
		if seen[a] || (dir != "bin" && dir != "sbin" && dir != "usr/bin" && dir != "usr/sbin") {
			continue
		}
		seen[a] = true
		if err := hdr(&tar.Header{Name: a, Linkname: "/bin/busybox", Mode: 0o777, Typeflag: tar.TypeSymlink}); err != nil {
			return err
		}
	}
	return tw.Close()
}

// containerRecipe wraps the common part of the two image recipes.
func containerRecipe(name, desc string, inputs string, build func(ctx context.Context, b *builder, layer string) (ImageConfig, error)) Recipe {
	return Recipe{
		Name: name, Kind: KindContainerImage, Description: desc,
		Tools:  []string{"mmdebstrap"},
		inputs: inputs,
		build: func(ctx context.Context, b *builder) ([]File, map[string]string, error) {
			layer := filepath.Join(b.dir, "layer.tar")
			cfg, err := build(ctx, b, layer)
			if err != nil {
				return nil, nil, err
			}
			archive := filepath.Join(b.dir, name+".tar")
			f, err := os.Create(archive)
			if err != nil {
				return nil, nil, err
			}
			bw := bufio.NewWriterSize(f, 1<<20)
			id, err := WriteDockerArchive(bw, name+":latest", layer, cfg)
			if err == nil {
				err = bw.Flush()
			}
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, nil, err
			}
			cf, err := b.store(archive, filepath.Join("containers", name+".tar"), "archive")
			if err != nil {
				return nil, nil, err
			}
			return []File{cf}, map[string]string{"tag": name + ":latest", "image_id": "sha256:" + id}, nil
		},
	}
}

// busyboxImage builds `busybox` from Debian's busybox-static.
func busyboxImage() Recipe {
	return containerRecipe("busybox", "busybox container image from Debian's busybox-static", "busybox-static", func(ctx context.Context, b *builder, layer string) (ImageConfig, error) {
		root := filepath.Join(b.dir, "extract")
		fmt.Fprintf(b.opts.Log, "busybox: extracting busybox-static\n")
		if err := b.mmdebstrap(ctx, root, "--variant=extract", "--format=directory", "--include=busybox-static"); err != nil {
			return ImageConfig{}, err
		}
		bin := filepath.Join(root, "bin", "busybox")
		data, err := os.ReadFile(bin)
		if err != nil {
			return ImageConfig{}, fmt.Errorf("busybox-static did not provide /bin/busybox: %w", err)
		}
		out, err := exec.CommandContext(ctx, bin, "--list-full").Output()
		if err != nil {
			return ImageConfig{}, fmt.Errorf("list busybox applets: %w", err)
		}
		f, err := os.Create(layer)
		if err != nil {
			return ImageConfig{}, err
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		if err := BusyboxLayer(bw, data, strings.Fields(string(out))); err != nil {
			return ImageConfig{}, err
		}
		if err := bw.Flush(); err != nil {
			return ImageConfig{}, err
		}
		return ImageConfig{Cmd: []string{"sh"}, Env: []string{defaultPath}}, nil
	})
}

// nginxHook configures the nginx image: logs to the container's output, and
// /hostname answers with the container's name, so that a check can tell
// which task of a service answered.
const nginxHook = `set -e
root="$1"
cat > "$root/etc/nginx/sites-available/default" <<'EOF'
server {
	listen 80 default_server;
	listen [::]:80 default_server;
	root /var/www/html;
	index index.html index.nginx-debian.html;
	server_name _;
	location = /hostname {
		default_type text/plain;
		return 200 "$hostname\n";
	}
	location / {
		try_files $uri $uri/ =404;
	}
}
EOF
ln -sf /dev/stdout "$root/var/log/nginx/access.log"
ln -sf /dev/stderr "$root/var/log/nginx/error.log"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*
`

// nginxImage builds `nginx` from Debian's nginx-light: installed on a
// minimal Debian, from which only nginx, its modules and libraries, its
// configuration and static busybox (so that ping, ip and nc work inside it
// too) go into the image: a few MiB instead of a whole Debian, which
// matters when every node of every lab loads it.
func nginxImage() Recipe {
	return containerRecipe("nginx", "nginx container image from Debian's nginx-light (only nginx, its libraries and busybox)", "nginx-light,busybox-static\x00slim-1\x00"+nginxHook, func(ctx context.Context, b *builder, layer string) (ImageConfig, error) {
		hook := filepath.Join(b.dir, "nginx.sh")
		if err := os.WriteFile(hook, []byte(nginxHook), 0o755); err != nil {
			return ImageConfig{}, err
		}
		root := filepath.Join(b.dir, "rootfs")
		fmt.Fprintf(b.opts.Log, "nginx: installing nginx-light on a minimal Debian\n")
		err := b.mmdebstrap(ctx, root,
			"--variant=essential", "--format=directory",
			"--include=nginx-light,busybox-static",
			"--customize-hook=sh "+hook+` "$1"`,
		)
		if err != nil {
			return ImageConfig{}, err
		}
		s := newSlimmer(root)
		for _, p := range []string{"usr/sbin/nginx", "bin/busybox"} {
			if err := s.addProgram(p); err != nil {
				return ImageConfig{}, err
			}
		}
		if mods, err := filepath.Glob(filepath.Join(root, "usr/lib/nginx/modules/*.so")); err == nil {
			for _, m := range mods {
				rel, _ := filepath.Rel(root, m)
				if err := s.addProgram(rel); err != nil {
					return ImageConfig{}, err
				}
			}
		}
		for _, p := range []string{"etc/nginx", "usr/share/nginx", "var/lib/nginx", "var/log/nginx", "var/www/html", "etc/passwd", "etc/group", "etc/nsswitch.conf", "tmp", "run"} {
			if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
				if p == "usr/share/nginx" {
					continue
				}
				return ImageConfig{}, fmt.Errorf("nginx image: %s missing from the root file system: %w", p, err)
			}
			if err := s.add(p); err != nil {
				return ImageConfig{}, err
			}
		}
		out, err := exec.CommandContext(ctx, filepath.Join(root, "bin", "busybox"), "--list-full").Output()
		if err != nil {
			return ImageConfig{}, fmt.Errorf("list busybox applets: %w", err)
		}
		s.addApplets(strings.Fields(string(out)))
		f, err := os.Create(layer)
		if err != nil {
			return ImageConfig{}, err
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		err = s.write(bw)
		if err == nil {
			err = bw.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return ImageConfig{}, err
		}
		return ImageConfig{
			Cmd:          []string{"nginx", "-g", "daemon off;"},
			Env:          []string{defaultPath},
			ExposedPorts: []string{"80/tcp"},
			StopSignal:   "SIGQUIT",
		}, nil
	})
}
