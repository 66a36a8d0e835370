// Snapshots of a lab's nodes (memory included), for a fast way back to a
// known state: a workshop seat reset to right after its up.

package vm

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/labctl/labctl/plan"
)

// ReadySnapshot is the snapshot taken once a seat is up and provisioned.
const ReadySnapshot = "labctl-ready"

// snapshotXML asks for an internal snapshot of the node's disk and memory;
// the read-only seed (vdb) has nothing to keep.
func snapshotXML(name, description string) string {
	return `<domainsnapshot><name>` + name + `</name><description>` + description + `</description>` +
		`<memory snapshot="internal"/><disks><disk name="vda" snapshot="internal"/><disk name="vdb" snapshot="no"/></disks></domainsnapshot>`
}

// StageSnapshot is the name of a workshop stage's snapshot: stage is one
// of ValidStage's names.
func StageSnapshot(stage string) string { return "labctl-stage-" + stage }

var stageName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ValidStage checks a stage's name: lower-case letters, digits and dashes,
// at most 32, as it goes into a snapshot's name.
func ValidStage(stage string) error {
	if !stageName.MatchString(stage) {
		return fmt.Errorf("stage name %q: use 1 to 32 lower-case letters, digits and dashes, starting with a letter or digit", stage)
	}
	return nil
}

// Snapshot takes the named snapshot of every node of the part that does
// not have it yet, and tells how many it took.
func Snapshot(ctx context.Context, c *Conn, part plan.Part, name string) (int, error) {
	return snapshot(ctx, c, part, name, false)
}

// Retake takes the named snapshot of every node of the part anew,
// replacing one taken before.
func Retake(ctx context.Context, c *Conn, part plan.Part, name string) (int, error) {
	return snapshot(ctx, c, part, name, true)
}

func snapshot(ctx context.Context, c *Conn, part plan.Part, name string, replace bool) (int, error) {
	desc := "labctl: the node as it was right after up"
	if name != ReadySnapshot {
		desc = "labctl: the node at a workshop stage"
	}
	taken := 0
	for _, n := range part.Nodes {
		err := c.Do(ctx, "snapshot "+n.Domain, func(a API) error {
			dom, err := a.DomainLookupByName(n.Domain)
			if err != nil {
				return err
			}
			if old, err := a.DomainSnapshotLookupByName(dom, name, 0); err == nil {
				if !replace {
					return nil
				}
				if err := a.DomainSnapshotDelete(old, 0); err != nil {
					return err
				}
			} else if !isNoSnapshot(err) {
				return err
			}
			if _, err := a.DomainSnapshotCreateXML(dom, snapshotXML(name, desc), 0); err != nil {
				return err
			}
			taken++
			return nil
		})
		if err != nil {
			return taken, fmt.Errorf("%s: %w", n.Name, err)
		}
	}
	return taken, nil
}

// ErrNoSnapshot is a node without the snapshot to go back to.
var ErrNoSnapshot = errors.New("no snapshot to go back to")

// Revert puts every node of the part back to the named snapshot, running.
//
// A running node is reverted in its own QEMU: the monitor's loadvm puts
// the disk and memory back in place (about 1 s a node under emulation,
// measured). libvirt's revert stops that QEMU and starts a new one that
// loads the snapshot, 2-3 s more a node. libvirt marks a domain whose
// monitor was used "tainted: custom-monitor" in its log; it keeps
// tracking the domain's state (loadvm pauses it and resumes it). Where
// loadvm cannot serve (the node not running, the monitor refused, QEMU
// reporting an error, after which the node may be left paused), libvirt's
// revert does it.
func Revert(ctx context.Context, c *Conn, part plan.Part, name string) error {
	for _, n := range part.Nodes {
		err := c.Do(ctx, "revert "+n.Domain, func(a API) error {
			dom, err := a.DomainLookupByName(n.Domain)
			if err != nil {
				return err
			}
			snap, err := a.DomainSnapshotLookupByName(dom, name, 0)
			if isNoSnapshot(err) {
				if name != ReadySnapshot {
					return fmt.Errorf("%w (%s): take the stage's snapshot first", ErrNoSnapshot, name)
				}
				return fmt.Errorf("%w (%s): it is taken when the seat first comes up", ErrNoSnapshot, name)
			} else if err != nil {
				return err
			}
			if loadInPlace(a, dom, name) {
				return nil
			}
			return a.DomainRevertToSnapshot(snap, uint32(libvirt.DomainSnapshotRevertRunning))
		})
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
	}
	return nil
}

// monitorHMP is VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP: the command is the
// human monitor's, its reply plain text.
const monitorHMP = 1

// snapshotName is what goes into the monitor's command line unquoted: the
// ready snapshot's name and the stages' (StageSnapshot).
var snapshotName = regexp.MustCompile(`^labctl-[a-z0-9-]{1,45}$`)

// loadInPlace reverts a running domain to its internal snapshot name with
// the monitor's loadvm, and tells whether that worked: loadvm says
// nothing when it did, and QEMU runs the domain again.
func loadInPlace(a API, dom libvirt.Domain, name string) bool {
	if !snapshotName.MatchString(name) {
		return false
	}
	if st, _, err := a.DomainGetState(dom, 0); err != nil || libvirt.DomainState(st) != libvirt.DomainRunning {
		return false
	}
	out, err := a.QEMUDomainMonitorCommand(dom, "loadvm "+name, monitorHMP)
	if err != nil || strings.TrimSpace(out) != "" {
		return false
	}
	// libvirt learns from QEMU's events that the domain runs again: a
	// moment after loadvm returns.
	for range 20 {
		st, _, err := a.DomainGetState(dom, 0)
		if err != nil {
			return false
		}
		if libvirt.DomainState(st) == libvirt.DomainRunning {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func isNoSnapshot(err error) bool {
	var le libvirt.Error
	return errors.As(err, &le) && libvirt.ErrorNumber(le.Code) == libvirt.ErrNoDomainSnapshot
}
