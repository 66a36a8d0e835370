package vagrant

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Node is one Vagrant machine.
type Node struct {
	Name      string
	CPUs      int
	MemoryMiB int
}

// Spec is one Vagrant environment of the bench.
type Spec struct {
	Dir        string // holds the Vagrantfile, .vagrant and VAGRANT_HOME
	Box        string // box name (added from BoxFile)
	BoxFile    string // the box made by BuildBox
	PrivateKey string // the key Vagrant logs in with (BuildBox's authorized key)
	Nodes      []Node
	Driver     string // kvm or qemu, as labctl's nodes
	Pool       string // libvirt storage pool
	Prefix     string // domain names are Prefix+node
	Network    string // Vagrant's management network
	Subnet     string // its IPv4 subnet, e.g. 192.168.121.0/24
	Kernel     string // kernel, initrd and command line labctl's nodes boot
	Initrd     string
	Cmdline    string
	Bundle     string   // BundleTar's file, uploaded to every node
	Packages   []string // installed from the bundle
	Archives   []string // container image archives in the bundle
	DaemonJSON string   // /etc/docker/daemon.json, as labctl writes it
	// DockerReady: the box is of labctl's Docker-ready image, so nothing
	// is installed or loaded; the only provisioner waits until Docker
	// answers, as labctl's up does.
	DockerReady bool
	Out         io.Writer
}

// vagrantfile mirrors what labctl gives its nodes: same CPUs and memory,
// q35, direct kernel boot, a virtio RNG, no graphics, the disk on virtio.
// It has no balloon, as labctl's emulated nodes have none (under emulation
// free page reporting costs lab time). The shell provisioner does what
// labctl's offline install
// does: the same packages from the same file: repository with the same
// dpkg options, daemon.json, Docker started and answering, the images
// loaded, the login user in the docker group.
var vagrantfile = template.Must(template.New("Vagrantfile").Funcs(template.FuncMap{"q": rubyQuote}).Parse(`# Written by labctl bench --vagrant.
Vagrant.configure("2") do |config|
  config.vm.box = {{q .Box}}
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.ssh.insert_key = false
  config.ssh.private_key_path = [{{q .PrivateKey}}]
  config.vm.boot_timeout = 1200
  config.vm.provider :libvirt do |lv|
    lv.driver = {{q .Driver}}
    lv.storage_pool_name = {{q .Pool}}
    lv.default_prefix = {{q .Prefix}}
    lv.management_network_name = {{q .Network}}
    lv.management_network_address = {{q .Subnet}}
    lv.machine_type = "q35"
    lv.kernel = {{q .Kernel}}
    lv.initrd = {{q .Initrd}}
    lv.cmd_line = {{q .Cmdline}}
    lv.graphics_type = "none"
    lv.memballoon_enabled = false
    lv.random :model => "random"
    lv.disk_bus = "virtio"
{{- if eq .Driver "kvm"}}
    lv.cpu_mode = "host-passthrough"
{{- end}}
  end
{{- if not .DockerReady}}
  config.vm.provision "file", source: {{q .Bundle}}, destination: "/tmp/labctl-bundle.tar"
{{- end}}
  config.vm.provision "shell", privileged: true, inline: {{q .Script}}
{{- range .Nodes}}
  config.vm.define {{q .Name}} do |n|
    n.vm.provider :libvirt do |lv|
      lv.cpus = {{.CPUs}}
      lv.memory = {{.MemoryMiB}}
    end
  end
{{- end}}
end
`))

// waitDocker waits until Docker answers.
const waitDocker = "for i in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done\ndocker info >/dev/null\n"

// script is the shell provisioner.
func (s Spec) script() string {
	if s.DockerReady {
		return "set -e\n" + waitDocker
	}
	const dir = "/var/lib/labctl/bundle"
	apt := "apt-get -q -o Dir::Etc::SourceList=/etc/apt/labctl-bundle.list -o Dir::Etc::SourceParts=/nonexistent -o APT::Get::List-Cleanup=0 -o Dpkg::Options::=--force-unsafe-io -o DPkg::Lock::Timeout=600"
	var b strings.Builder
	fmt.Fprintf(&b, "set -e\nexport DEBIAN_FRONTEND=noninteractive\nmkdir -p %s\ntar -xf /tmp/labctl-bundle.tar -C %s\n", dir, dir)
	fmt.Fprintf(&b, "echo 'deb [trusted=yes] file:%s ./' > /etc/apt/labctl-bundle.list\n", dir)
	fmt.Fprintf(&b, "mkdir -p /etc/docker\ncat > /etc/docker/daemon.json <<'EOF'\n%s\nEOF\n", strings.TrimSpace(s.DaemonJSON))
	fmt.Fprintf(&b, "%s update\n%s install -y --no-install-recommends %s\n", apt, apt, strings.Join(s.Packages, " "))
	b.WriteString("systemctl is-active --quiet docker || systemctl enable --now docker\n")
	b.WriteString(waitDocker)
	for _, a := range s.Archives {
		fmt.Fprintf(&b, "docker load -q -i %s/%s\n", dir, a)
	}
	b.WriteString("usermod -aG docker vagrant\n")
	return b.String()
}

// Write writes the Vagrantfile into s.Dir.
func (s Spec) Write() error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := vagrantfile.Execute(&b, struct {
		Spec
		Script string
	}{s, s.script()}); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "Vagrantfile"), b.Bytes(), 0o644)
}

// Vagrant runs the vagrant command in s.Dir with its own VAGRANT_HOME (so
// the bench's box and state never mix with the user's), copying its
// output to s.Out.
func (s Spec) Vagrant(ctx context.Context, args ...string) error {
	_, err := s.output(ctx, true, args...)
	return err
}

func (s Spec) output(ctx context.Context, echo bool, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "vagrant", args...)
	// Interrupted, Vagrant is told as by Ctrl-C, so that it cleans up what
	// it was creating; killed only if it has not ended two minutes later.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 2 * time.Minute
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "VAGRANT_HOME="+filepath.Join(s.Dir, "home"), "VAGRANT_DEFAULT_PROVIDER=libvirt",
		"VAGRANT_CHECKPOINT_DISABLE=1", "VAGRANT_NO_COLOR=1")
	var out bytes.Buffer
	w := io.Writer(&out)
	if echo && s.Out != nil {
		w = io.MultiWriter(&out, &lines{w: s.Out})
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return out.Bytes(), ctx.Err()
		}
		return out.Bytes(), fmt.Errorf("vagrant %s: %w\n%s", strings.Join(args, " "), err, tail(out.String(), 2000))
	}
	return out.Bytes(), nil
}

// AddBox adds the box (again, replacing an older one of the same name).
func (s Spec) AddBox(ctx context.Context) error {
	return s.Vagrant(ctx, "box", "add", "--force", "--name", s.Box, s.BoxFile)
}

// Up brings every machine up and provisions it.
func (s Spec) Up(ctx context.Context) error {
	return s.Vagrant(ctx, "up", "--provider=libvirt", "--provision")
}

// Destroy removes every machine.
func (s Spec) Destroy(ctx context.Context) error {
	return s.Vagrant(ctx, "destroy", "-f")
}

// Meminfo returns a machine's /proc/meminfo.
func (s Spec) Meminfo(ctx context.Context, node string) ([]byte, error) {
	return s.output(ctx, false, "ssh", node, "-c", "cat /proc/meminfo")
}

// Domain is the libvirt domain of a machine.
func (s Spec) Domain(node string) string { return s.Prefix + node }

// lines passes Vagrant's output on line by line, without its progress
// meters (hundreds of "Progress: N%" redrawn with carriage returns and
// escape codes per upload, dpkg's "Reading database ... N%").
type lines struct {
	w   io.Writer
	buf []byte
}

func (l *lines) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexAny(l.buf, "\r\n")
		if i < 0 {
			return len(p), nil
		}
		line := string(bytes.ReplaceAll(l.buf[:i], []byte("\x1b[K"), nil))
		l.buf = l.buf[i+1:]
		if strings.TrimSpace(line) == "" || strings.Contains(line, "Progress: ") || strings.Contains(line, "(Reading database ... ") && strings.HasSuffix(line, "%") {
			continue
		}
		if _, err := io.WriteString(l.w, line+"\n"); err != nil {
			return len(p), err
		}
	}
}

// rubyQuote is a Ruby double-quoted string literal: Go's escapes (which
// Ruby reads the same way) and # escaped, so that nothing is interpolated.
func rubyQuote(s string) string { return strings.ReplaceAll(strconv.Quote(s), "#", `\#`) }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
