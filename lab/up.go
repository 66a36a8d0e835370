package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/labctl/labctl/network"
	"github.com/labctl/labctl/provision"
	"github.com/labctl/labctl/vm"
)

// What provisioning puts on every node from the image cache: the offline
// Docker bundle (when Docker is installed from it) and the container
// images the labs run. bench --vagrant gives Vagrant's nodes the same.
const dockerBundle = "docker.io-debian-12"

var labImages = []string{"busybox", "nginx"}

// UpOptions tune Up.
type UpOptions struct {
	Parallel    int           // nodes created, started and provisioned at once (0: all)
	BootTimeout time.Duration // how long a node may take to answer on SSH (0: vm's default)
	Docker      string        // provision.InstallOffline (default) or provision.InstallOnline
	NoProvision bool          // only create and start the VMs
}

// Up creates and starts whatever of the lab is missing, waits for every
// node's SSH server and provisions Docker, recording each phase's timing
// in the lab's state (State().Phases). It needs the lab locked. After a
// failure or an interruption, Up again carries on.
func (l *Lab) Up(ctx context.Context, o UpOptions) error {
	if l.lock == nil {
		return fmt.Errorf("lab %s: up needs the lab's lock (open it with Options.Lock)", l.Name)
	}
	if o.Docker == "" {
		o.Docker = provision.InstallOffline
	}
	if o.Docker != provision.InstallOffline && o.Docker != provision.InstallOnline {
		return fmt.Errorf("docker install mode %q: use offline or online", o.Docker)
	}
	if err := l.openCache(); err != nil {
		return err
	}
	if err := l.connect(ctx); err != nil {
		return err
	}
	if err := l.Preflight(ctx); err != nil {
		return err
	}
	start := time.Now()
	l.mu.Lock()
	l.st.Phases = nil
	l.mu.Unlock()
	err := provision.WriteSSHFiles(l.Plan, l.dir)
	if err == nil {
		m := vm.NewManager(l.conn, l.Plan, vm.Options{
			StateDir: l.dir.Path, Keys: l.Keys(), Cache: l.cache, Parallel: o.Parallel,
			Log: l.o.Log, Phase: l.recordPhase, Boot: o.BootTimeout, Progress: l.o.Progress,
			DockerConfig: provision.DaemonJSON(l.Plan),
		})
		err = m.Up(ctx)
	}
	if err == nil && !o.NoProvision {
		err = provision.Provision(ctx, provision.Options{
			Plan: l.Plan, Keys: l.Keys(), Progress: l.o.Progress, Phase: l.recordPhase, Parallel: o.Parallel, Log: l.o.Log,
			Docker: provision.DockerOptions{
				Plan: l.Plan, Cache: l.cache, Mode: o.Docker,
				Bundle: dockerBundle, Images: labImages,
			},
		})
	}
	l.recordPhase("up", "", start, time.Since(start), err)
	if serr := l.save(true); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("lab %s: up: %w\n(run 'labctl up' again to carry on, or 'labctl down' to remove what was created)", l.Name, err)
	}
	return nil
}

// Preflight compares the plan with this host and libvirt's networks
// before anything is created.
func (l *Lab) Preflight(ctx context.Context) error {
	if err := l.connect(ctx); err != nil {
		return err
	}
	h, err := network.ReadHost()
	if err != nil {
		return err
	}
	if h.Libvirt, err = vm.ExistingNetworks(ctx, l.conn); err != nil {
		return err
	}
	if clashes := network.Preflight(l.Plan, h); len(clashes) > 0 {
		return network.ClashError(clashes)
	}
	if l.conn.Local() {
		if w := vm.KVMDeviceWarning(vm.KVMDevice); w != "" {
			l.o.Log.Warn(w)
		}
	}
	return nil
}
