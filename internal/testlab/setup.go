package testlab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/internal/testenv"
)

// Setup says what an integration test needs.
type Setup struct {
	Lab      string   // the lab's name
	Topology string   // its topology file's content ("" for the built-in one)
	Images   []string // recipes to build into the shared test cache
	Upstream bool     // add the "outside" host the labs ping
	Tools    []string // commands needed beside the harness's
	// Hypervisors names simulated hypervisors started beside the
	// harness's own namespace (which is then hypervisor "hv1" at
	// UnderlayAddr(1)); their hypervisors: list is appended to Topology.
	Hypervisors []string
	// RemoteGateway lists the simulated hypervisors before hv1, so that
	// the first of them is the gateway and the harness's namespace (where
	// labctl runs) reaches the nodes only through it.
	RemoteGateway bool
	// Capacity is added to every hypervisors: entry (hv1's too), e.g.
	// "cpus: 8, memory: 8GiB": a workshop places seats by it.
	Capacity string
}

// Harness is a started harness with one lab's CLI.
type Harness struct {
	Env   *Env
	CLI   *CLI
	Cache *images.Cache
	Work  string // the test's directory (logs, state, files)
	// Hypervisors are the simulated ones of Setup.Hypervisors, in order.
	Hypervisors []*Hypervisor
}

// Start is the one setup of every integration test: it skips unless
// integration tests are enabled, builds the images (a cache hit after the
// first test), starts libvirtd in a network namespace of the test's own,
// writes the topology, builds labctl, removes what a crashed earlier run of
// the lab left, and registers the clean-up: `down`, a check that nothing of
// the lab is left in libvirt, and the harness's end.
func Start(t *testing.T, ctx context.Context, s Setup) *Harness {
	t.Helper()
	tools := append(append(append([]string(nil), Tools...), "mmdebstrap"), s.Tools...)
	if len(s.Hypervisors) > 0 {
		tools = append(tools, HypervisorTools...)
	}
	testenv.Integration(t, tools...)
	cache := Images(t, ctx, s.Images...)
	work := t.TempDir()
	env, err := StartEnv(work)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Stop)
	if s.Upstream {
		if err := env.AddUpstream(); err != nil {
			t.Fatal(err)
		}
	}
	var hvs []*Hypervisor
	if len(s.Hypervisors) > 0 {
		capacity := ""
		if s.Capacity != "" {
			for _, kv := range strings.Split(s.Capacity, ",") {
				capacity += "    " + strings.TrimSpace(kv) + "\n"
			}
		}
		hv1 := fmt.Sprintf("  - name: hv1\n    uri: qemu:///system\n    address: %s\n%s", UnderlayAddr(1), capacity)
		var b strings.Builder
		b.WriteString("hypervisors:\n")
		if !s.RemoteGateway {
			b.WriteString(hv1)
		}
		for i, name := range s.Hypervisors {
			h, err := env.AddHypervisor(name, i+2, filepath.Join(work, "hv-"+name))
			if err != nil {
				t.Fatal(err)
			}
			hvs = append(hvs, h)
			fmt.Fprintf(&b, "  - name: %s\n    uri: %s\n    address: %s\n    identity: %s\n%s", name, h.URI, h.Addr, h.Identity, capacity)
		}
		if s.RemoteGateway {
			b.WriteString(hv1)
		}
		s.Topology += b.String()
	}
	file := ""
	if s.Topology != "" {
		file = filepath.Join(work, "lab.yaml")
		if err := os.WriteFile(file, []byte(s.Topology), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := NewCLI(t, env, work, cache.Dir, s.Lab, file)
	c.hypervisors = hvs
	if _, _, err := c.Run(ctx, "down"); err != nil {
		t.Fatalf("removing what an earlier run left: %v", err)
	}
	t.Cleanup(func() { c.Down(t) })
	return &Harness{Env: env, CLI: c, Cache: cache, Work: work, Hypervisors: hvs}
}

// Down takes the CLI's lab down and fails the test if anything of it is
// left in libvirt.
func (c *CLI) Down(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c.Run(ctx, "down")
	left, err := Leftovers(c.Lab, "labctl")
	if err != nil {
		t.Error(err)
	}
	if len(c.hypervisors) > 0 {
		links := LabLinks(c.Lab)
		for _, l := range links {
			if out, err := c.Env.Command(ctx, "ip", "link", "show", "dev", l).CombinedOutput(); err == nil {
				left = append(left, "link "+l+" (hv1): "+strings.TrimSpace(string(out)))
			}
		}
		for _, h := range c.hypervisors {
			hl, err := h.Leftovers(c.Lab, "labctl", links)
			if err != nil {
				t.Error(err)
			}
			for _, x := range hl {
				left = append(left, x+" ("+h.Name+")")
			}
		}
	}
	if len(left) > 0 {
		t.Errorf("libvirt objects of lab %s left behind: %v", c.Lab, left)
	}
}
