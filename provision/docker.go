package provision

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/transport"
)

// Install modes.
const (
	InstallOffline = "offline" // from the cached .deb bundle, no network needed
	InstallOnline  = "online"  // apt-get from the guest's own archive
)

// DockerOptions say how to install Docker and what to load.
type DockerOptions struct {
	Plan   *plan.Plan
	Cache  *images.Cache
	Mode   string   // InstallOffline or InstallOnline
	Bundle string   // cache name of the offline bundle
	Images []string // cache names of the container images to load
	// Settle, once images were loaded, drops the node's page cache and
	// compacts its memory, so that the free pages come in whole blocks a
	// balloon with free page reporting hands back to the hypervisor: an
	// idle node then holds what it uses, not what loading its images
	// passed through. Only where the node has a balloon (the command
	// looks); for labctl's own VMs only.
	Settle bool
	Log    func(msg string)
}

// remote paths (in the lab user's home: SFTP runs as that user)
const (
	remoteDir    = ".labctl"
	remoteBundle = ".labctl/bundle"
)

// DaemonJSON is the Docker daemon configuration for the lab: docker0's
// address and the pools for user networks (both chosen so that they avoid
// every lab subnet), and bounded container logs.
func DaemonJSON(p *plan.Plan) []byte {
	type pool struct {
		Base string `json:"base"`
		Size int    `json:"size"`
	}
	cfg := struct {
		BIP       string            `json:"bip"`
		Pools     []pool            `json:"default-address-pools"`
		LogDriver string            `json:"log-driver"`
		LogOpts   map[string]string `json:"log-opts"`
		Mirrors   []string          `json:"registry-mirrors,omitempty"`
		// MTU of docker0 and bridge networks: the lab networks' when
		// lowered for tunnels between hypervisors.
		MTU int `json:"mtu,omitempty"`
	}{BIP: p.Docker.BridgeIP, LogDriver: "json-file", LogOpts: map[string]string{"max-size": "10m", "max-file": "3"}, Mirrors: p.Docker.RegistryMirrors}
	if n := p.Net(plan.RoleNAT); n != nil {
		cfg.MTU = n.MTU
	}
	for _, ap := range p.Docker.AddressPools {
		cfg.Pools = append(cfg.Pools, pool{ap.Base, ap.Size})
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return append(b, '\n')
}

// InstallDocker makes Docker ready on one node. Each step checks first and
// does nothing when its result is already there, so a second run is quick
// and changes nothing. Round trips are few (one probe of the node's state,
// one wait for the daemon, one image listing): under software emulation
// each command costs about a second.
func InstallDocker(ctx context.Context, r Runner, user string, o DockerOptions) error {
	log := o.Log
	if log == nil {
		log = func(string) {}
	}
	st, err := probeNode(ctx, r, user)
	if err != nil {
		return err
	}
	h := st.home
	// daemon.json: written only when it differs (labctl's seed has written
	// it already; a host of an inventory has not), and before Docker is
	// installed, so that the package starts dockerd once, with it; on a
	// node that has Docker, dockerd is restarted to apply it.
	if want := DaemonJSON(o.Plan); !bytes.Equal(bytes.TrimSpace(st.daemonJSON), bytes.TrimSpace(want)) {
		log("writing /etc/docker/daemon.json")
		if err := writeDaemonJSON(ctx, r, h, want, st.dockerInstalled); err != nil {
			return err
		}
	}
	if !st.dockerInstalled {
		switch o.Mode {
		case InstallOnline:
			log("installing docker.io from the guest's package archive")
			if _, err := r.Run(ctx, dpkgSettled+" && sudo DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends docker.io apparmor iptables"); err != nil {
				return fmt.Errorf("install docker.io online: %w", err)
			}
		default:
			if err := installOffline(ctx, r, h, o, log); err != nil {
				return err
			}
		}
	}
	if _, err := r.Run(ctx, "{ sudo systemctl is-active --quiet docker || sudo systemctl enable --now docker; } && "+
		"for i in $(seq 60); do sudo docker info >/dev/null 2>&1 && exit 0; sleep 1; done; sudo docker info"); err != nil {
		return fmt.Errorf("docker does not answer: %w", err)
	}
	if !st.inDockerGroup {
		if _, err := r.Run(ctx, "sudo usermod -aG docker "+transport.Quote(user)); err != nil {
			return fmt.Errorf("add %s to the docker group: %w", user, err)
		}
	}
	return loadImages(ctx, r, h, o.Cache, o.Images, o.Settle, log)
}

// settleCmd drops the page cache and compacts memory (see
// DockerOptions.Settle) when the node has a virtio balloon, whose driver
// then lists its device; a kernel that refuses either is no failure.
const settleCmd = "{ if ls /sys/bus/virtio/drivers/virtio_balloon 2>/dev/null | grep -q '^virtio'; then sync; echo 1 | sudo tee /proc/sys/vm/drop_caches /proc/sys/vm/compact_memory >/dev/null 2>&1 || true; fi; }"

// writeDaemonJSON installs /etc/docker/daemon.json, restarting dockerd
// when asked.
func writeDaemonJSON(ctx context.Context, r Runner, home string, data []byte, restart bool) error {
	tmp := path.Join(home, remoteDir, "daemon.json")
	if err := r.Upload(ctx, bytes.NewReader(data), int64(len(data)), tmp, 0o644); err != nil {
		return err
	}
	cmd := "sudo install -D -m 0644 " + transport.Quote(tmp) + " /etc/docker/daemon.json"
	if restart {
		cmd += " && sudo systemctl restart docker"
	}
	if _, err := r.Run(ctx, cmd); err != nil {
		return fmt.Errorf("apply daemon.json: %w", err)
	}
	return nil
}

// dpkgSettled waits (up to 10 minutes) for an apt or dpkg that is still
// running on the node - one whose SSH session was cut off goes on until it
// writes to the closed connection - and then finishes any installation
// that was interrupted, so that apt starts from a consistent package state
// instead of refusing with "dpkg was interrupted".
const dpkgSettled = `i=0; while grep -qsxE 'apt-get|dpkg' /proc/[0-9]*/comm && [ $i -lt 600 ]; do i=$((i+1)); sleep 1; done; ` +
	`sudo DEBIAN_FRONTEND=noninteractive dpkg --force-unsafe-io --configure -a`

// nodeState is what InstallDocker needs to know of a node before it acts.
type nodeState struct {
	home            string
	dockerInstalled bool
	daemonJSON      []byte
	inDockerGroup   bool
}

// probeNode reads the node's state in one command.
func probeNode(ctx context.Context, r Runner, user string) (nodeState, error) {
	// Partial uploads of a run whose connection was lost go first (the
	// lab's lock keeps other labctl runs off this node).
	out, err := r.Run(ctx, `find "$HOME/`+remoteDir+`" -name '*.part' -type f -delete 2>/dev/null; `+
		`printf 'home %s\n' "$HOME"; `+
		`printf 'docker %s\n' "$(dpkg-query -W -f '${Status}' docker.io 2>/dev/null)"; `+
		`printf 'daemon %s\n' "$(sudo base64 -w0 /etc/docker/daemon.json 2>/dev/null)"; `+
		`printf 'groups %s\n' "$(id -nG `+transport.Quote(user)+`)"`)
	if err != nil {
		return nodeState{}, err
	}
	var st nodeState
	for _, line := range strings.Split(string(out), "\n") {
		key, val, _ := strings.Cut(line, " ")
		switch key {
		case "home":
			st.home = strings.TrimSpace(val)
		case "docker":
			st.dockerInstalled = strings.Contains(val, "install ok installed")
		case "daemon":
			if st.daemonJSON, err = base64.StdEncoding.DecodeString(strings.TrimSpace(val)); err != nil {
				return st, fmt.Errorf("read /etc/docker/daemon.json: %w", err)
			}
		case "groups":
			for _, g := range strings.Fields(val) {
				st.inDockerGroup = st.inDockerGroup || g == "docker"
			}
		}
	}
	if !path.IsAbs(st.home) {
		return st, fmt.Errorf("cannot tell the home directory of %s on the node (got %q)", user, st.home)
	}
	return st, nil
}

// installOffline uploads the bundle (files already on the node with the
// right checksum are not sent again) and installs from it with apt, as a
// file: repository, so apt resolves dependencies against what the guest
// already has.
func installOffline(ctx context.Context, r Runner, home string, o DockerOptions, log func(string)) error {
	e, err := o.Cache.Get(o.Bundle)
	if err != nil {
		return fmt.Errorf("offline Docker bundle: %w (run 'sudo labctl image build %s')", err, o.Bundle)
	}
	dir := path.Join(home, remoteBundle)
	have := map[string]string{}
	if out, err := r.Run(ctx, "mkdir -p "+transport.Quote(dir)+" && cd "+transport.Quote(dir)+" && find . -maxdepth 1 -type f ! -name '*.part' -exec sha256sum {} +"); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				have[strings.TrimPrefix(f[1], "./")] = f[0]
			}
		}
	} else {
		return err
	}
	sent := 0
	var total int64
	for _, f := range e.Files {
		base := path.Base(f.Path)
		if have[base] == f.SHA256 {
			continue
		}
		src, err := os.Open(o.Cache.Abs(f.Path))
		if err != nil {
			return err
		}
		err = r.Upload(ctx, src, f.Size, path.Join(dir, base), 0o644)
		src.Close()
		if err != nil {
			return err
		}
		sent++
		total += f.Size
	}
	log(fmt.Sprintf("offline bundle: %d files sent (%d MiB), %d already there; installing docker.io", sent, total>>20, len(e.Files)-sent))
	list := path.Join(home, remoteDir, "bundle.list")
	src := []byte("deb [trusted=yes] file:" + dir + " ./\n")
	if err := r.Upload(ctx, bytes.NewReader(src), int64(len(src)), list, 0o644); err != nil {
		return err
	}
	// dpkg without an fsync per unpacked file (--force-unsafe-io, as image
	// builders use): a node that crashes while installing is recreated
	// anyway, and the flushes are slow through an emulated disk.
	apt := "sudo DEBIAN_FRONTEND=noninteractive apt-get -q -o Dir::Etc::SourceList=" + transport.Quote(list) +
		" -o Dir::Etc::SourceParts=/nonexistent -o APT::Get::List-Cleanup=0 -o Dpkg::Options::=--force-unsafe-io -o DPkg::Lock::Timeout=600"
	// The lab user's home is not readable by apt's sandbox user.
	cmd := dpkgSettled + " && chmod 755 " + transport.Quote(home) + " " + transport.Quote(path.Join(home, remoteDir)) + " " + transport.Quote(dir) + " && " +
		apt + " update && " + apt + " install -y --no-install-recommends " + strings.Join(strings.Fields(e.Meta["packages"]), " ")
	if _, err := r.Run(ctx, cmd); err != nil {
		return fmt.Errorf("install docker.io from the offline bundle: %w", err)
	}
	return nil
}

// loadImages loads the cached container images the node does not have
// (same tag and image ID), with one listing and one load command.
func loadImages(ctx context.Context, r Runner, home string, c *images.Cache, names []string, settle bool, log func(string)) error {
	if len(names) == 0 {
		return nil
	}
	out, err := r.Run(ctx, "sudo docker images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}'")
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	have := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			have[f[0]] = f[1]
		}
	}
	var loads []string
	for _, name := range names {
		e, err := c.Get(name)
		if err != nil {
			return fmt.Errorf("container image %s: %w (run 'sudo labctl image build %s')", name, err, name)
		}
		tag, id := e.Meta["tag"], e.Meta["image_id"]
		if id != "" && have[tag] == id {
			continue
		}
		f, ok := e.File("archive")
		if !ok {
			return fmt.Errorf("container image %s has no archive", name)
		}
		src, err := os.Open(c.Abs(f.Path))
		if err != nil {
			return err
		}
		dst := path.Join(home, remoteDir, name+".tar")
		log(fmt.Sprintf("loading image %s (%d MiB)", tag, f.Size>>20))
		err = r.Upload(ctx, src, f.Size, dst, 0o644)
		src.Close()
		if err != nil {
			return err
		}
		loads = append(loads, "sudo docker load -q -i "+transport.Quote(dst)+" && rm -f "+transport.Quote(dst))
	}
	if len(loads) == 0 {
		return nil
	}
	cmd := strings.Join(loads, " && ")
	if settle {
		cmd += " && " + settleCmd
	}
	if _, err := r.Run(ctx, cmd); err != nil {
		return fmt.Errorf("docker load: %w", err)
	}
	return nil
}

// CheckGuestNetwork verifies what the labs expect of a node's network: the
// VLAN sub-interfaces up, and every node's name resolvable to its IPv4
// address. Names are looked up with `getent ahostsv4`, not `getent hosts`:
// the latter asks for an IPv6 address first, which /etc/hosts does not
// have, so it goes on to the NAT network's DNS, and a dnsmasq whose
// upstream does not answer (an offline room) lets it wait out two 5 s
// timeouts per name before the IPv4 lookup answers from /etc/hosts.
func CheckGuestNetwork(ctx context.Context, r Runner, p *plan.Plan, n plan.Node) error {
	var cmds []string
	for _, v := range n.VLANs {
		cmds = append(cmds, "ip link show "+transport.Quote(v.Name)+" >/dev/null")
	}
	for _, o := range p.Nodes {
		cmds = append(cmds, "getent ahostsv4 "+transport.Quote(o.Hostname)+" >/dev/null")
	}
	if len(cmds) == 0 {
		return nil
	}
	if _, err := r.Run(ctx, strings.Join(cmds, " && ")); err != nil {
		return fmt.Errorf("guest network: %w", err)
	}
	return nil
}
