// Snapshots of a lab's nodes (memory included), for a fast way back to a
// known state: a workshop seat reset to right after its up.

package vm

import (
	"context"
	"errors"
	"fmt"

	"github.com/digitalocean/go-libvirt"
	"github.com/labctl/labctl/plan"
)

// ReadySnapshot is the snapshot taken once a seat is up and provisioned.
const ReadySnapshot = "labctl-ready"

// snapshotXML asks for an internal snapshot of the node's disk and memory;
// the read-only seed (vdb) has nothing to keep.
func snapshotXML(name string) string {
	return `<domainsnapshot><name>` + name + `</name><description>labctl: the node as it was right after up</description>` +
		`<memory snapshot="internal"/><disks><disk name="vda" snapshot="internal"/><disk name="vdb" snapshot="no"/></disks></domainsnapshot>`
}

// Snapshot takes the named snapshot of every node of the part that does
// not have it yet, and tells how many it took.
func Snapshot(ctx context.Context, c *Conn, part plan.Part, name string) (int, error) {
	taken := 0
	for _, n := range part.Nodes {
		err := c.Do(ctx, "snapshot "+n.Domain, func(a API) error {
			dom, err := a.DomainLookupByName(n.Domain)
			if err != nil {
				return err
			}
			if _, err := a.DomainSnapshotLookupByName(dom, name, 0); err == nil {
				return nil
			} else if !isNoSnapshot(err) {
				return err
			}
			if _, err := a.DomainSnapshotCreateXML(dom, snapshotXML(name), 0); err != nil {
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
