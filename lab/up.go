package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/labctl/labctl/internal/phase"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/provision"
	"github.com/labctl/labctl/topology"
	"github.com/labctl/labctl/vm"
)

// What provisioning puts on every node from the image cache: the offline
// Docker bundle (when Docker is installed from it) and the container
// images the labs run. bench --vagrant gives Vagrant's nodes the same.
const DockerBundle = "docker.io-debian-12"

// LabImages are the container images loaded on every node.
var LabImages = []string{"busybox", "nginx"}

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
	if err := l.chooseImage(); err != nil {
		return err
	}
	parts, err := l.openParts(ctx, true)
	if err != nil {
		return fmt.Errorf("lab %s: up: %w\n(nothing was created; run 'labctl up' again once every hypervisor answers)", l.Name, err)
	}
	if err := l.Preflight(ctx); err != nil {
		return err
	}
	start := time.Now()
	l.mu.Lock()
	l.st.Phases = nil
	l.mu.Unlock()
	dial, err := l.dial(ctx)
	if err != nil {
		return err
	}
	jump, err := l.jump()
	if err == nil {
		err = provision.WriteSSHFiles(l.Plan, l.dir, jump)
	}
	if err == nil {
		// Every hypervisor at once: its networks, then its tunnels to
		// the others (which need only their addresses, not that they are
		// ready), then its nodes.
		err = eachPart(ctx, parts, func(ctx context.Context, p *part) error {
			vo := vm.Options{
				StateDir: l.dir.Path, Keys: l.Keys(), Cache: l.cache, Parallel: o.Parallel,
				Log: l.o.Log, Phase: l.recordPhase, Boot: o.BootTimeout, Progress: l.o.Progress,
				DockerConfig: provision.DaemonJSON(l.Plan), Dial: dial,
			}
			vo.AfterNetworks = func(ctx context.Context) error {
				if l.Plan.Tunnels != nil {
					if err := phase.Func(l.recordPhase).Time("tunnels", p.Hypervisor.Name, func() error { return p.host.Stitch(ctx, l.Plan) }); err != nil {
						return err
					}
				}
				if l.Plan.Isolated && p.Hypervisor.Gateway {
					return phase.Func(l.recordPhase).Time("isolation", p.Hypervisor.Name, func() error { return p.host.Isolate(ctx, l.Plan) })
				}
				return nil
			}
			return vm.NewManager(p.conn, p.Part, vo).Up(ctx)
		})
	}
	if err == nil && !o.NoProvision {
		err = provision.Provision(ctx, provision.Options{
			Plan: l.Plan, Keys: l.Keys(), Progress: l.o.Progress, Phase: l.recordPhase, Parallel: o.Parallel, Log: l.o.Log, Dial: dial,
			Docker: provision.DockerOptions{
				Plan: l.Plan, Cache: l.cache, Mode: o.Docker,
				Bundle: DockerBundle, Images: LabImages, Settle: true,
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
	parts, err := l.openParts(ctx, true)
	if err != nil {
		return err
	}
	return eachPart(ctx, parts, l.preflightPart)
}

// chooseImage settles which image a lab whose topology names none boots:
// the one its first up chose (recorded in the state: a lab's nodes never
// mix base images), else the Docker-ready image when the cache has it,
// else the plain image with Docker installed from the offline bundle. It
// says which, and why; with neither image cached it leaves the default,
// whose "not in the image cache" error says what to build.
func (l *Lab) chooseImage() error {
	if l.Topology == nil || !l.Topology.ImageDefaulted() {
		return nil
	}
	cached := func(name string) bool { _, err := l.cache.Lookup(name); return err == nil }
	ready, readyErr := l.cache.Lookup(topology.DefaultImage)
	l.mu.Lock()
	recorded, before := l.st.Image, len(l.st.Phases) > 0
	l.mu.Unlock()
	choice, why := topology.DefaultImage, ""
	switch {
	case recorded != "":
		choice, why = recorded, "as at this lab's first up (recorded in its state)"
	case before:
		// Brought up by a labctl that recorded no choice: its default
		// was the plain image.
		choice, why = topology.PlainImage, "as this lab's nodes were made (by a labctl whose default it was)"
	case readyErr == nil:
		why = "the Docker-ready image: Docker is installed in it, up only configures it"
		if imgs := ready.Meta["images"]; imgs != "" {
			why = "the Docker-ready image: Docker is installed in it with the labs' container images (" + imgs + "), up only configures it"
		}
	case cached(topology.PlainImage):
		choice = topology.PlainImage
		why = fmt.Sprintf("%s is not in the image cache, so Docker is installed from the offline bundle (slower: 'sudo labctl image build %s' makes the Docker-ready image for the next lab)", topology.DefaultImage, topology.DefaultImage)
	default:
		return nil
	}
	// The plan again from the topology with the image chosen (a copy: a
	// topology given in Options stays the caller's): plan.New gives it to
	// every node that names none of its own.
	t := *l.Topology
	t.Image = choice
	p, err := plan.New(l.Name, &t)
	if err != nil {
		return err
	}
	l.Topology, l.Plan = &t, p
	l.mu.Lock()
	l.st.Image = choice
	l.mu.Unlock()
	l.o.Progress("", "image "+choice+" (the topology names none): "+why)
	return nil
}
