// Snapshots of a lab's nodes (memory included), for a fast way back to a
// known state: a workshop seat reset to right after its up.

package vm

import (
	"context"
	"errors"
	"fmt"
	"regexp"

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
			return a.DomainRevertToSnapshot(snap, uint32(libvirt.DomainSnapshotRevertRunning))
		})
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
	}
	return nil
}

func isNoSnapshot(err error) bool {
	var le libvirt.Error
	return errors.As(err, &le) && libvirt.ErrorNumber(le.Code) == libvirt.ErrNoDomainSnapshot
}
