package vm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"
)

// Removed lists what Down removed and what it kept.
type Removed struct {
	Domains  []string `json:"domains"`
	Volumes  []string `json:"volumes"`
	Networks []string `json:"networks"`
	// Tunnels are VXLAN devices of a lab spread over hypervisors, as
	// HYPERVISOR/DEVICE.
	Tunnels []string `json:"tunnels,omitempty"`
	Kept    []string `json:"kept,omitempty"` // with the reason
}

// Add appends what o removed.
func (r *Removed) Add(o Removed) {
	r.Domains = append(r.Domains, o.Domains...)
	r.Volumes = append(r.Volumes, o.Volumes...)
	r.Networks = append(r.Networks, o.Networks...)
	r.Tunnels = append(r.Tunnels, o.Tunnels...)
	r.Kept = append(r.Kept, o.Kept...)
}

// Down removes every libvirt object of the lab: its domains (found by their
// labctl metadata), its volumes in the pool (by name) and its networks (by
// metadata) unless a domain of someone else still uses one. It needs no
// state file, and it carries on past errors, reporting them all at the end.
func Down(ctx context.Context, c *Conn, lab, poolName string) (Removed, error) {
	d := &downer{c: c, lab: lab}
	usedBy, err := d.domains(ctx)
	if err != nil {
		return d.r, err
	}
	d.volumes(ctx, poolName)
	d.networks(ctx, usedBy)
	if err := ctx.Err(); err != nil {
		return d.r, err
	}
	return d.r, errors.Join(d.errs...)
}

// Down removes the lab's libvirt objects (see the function Down).
func (m *Manager) Down(ctx context.Context) (Removed, error) {
	return Down(ctx, m.c, m.part.Plan.Lab, m.part.Plan.Libvirt.Pool)
}

// downer is one Down: what it removed, kept, and every error on the way.
type downer struct {
	c    *Conn
	lab  string
	r    Removed
	errs []error
}

// domains removes the lab's domains and returns, for the networks, which
// other domains use them. Only failing to list the domains ends Down.
func (d *downer) domains(ctx context.Context) (usedBy map[string][]string, err error) {
	var doms []libvirt.Domain
	if err := d.c.Do(ctx, "list domains", func(a API) (err error) {
		doms, _, err = a.ConnectListAllDomains(1, 0)
		return err
	}); err != nil {
		return nil, err
	}
	usedBy = map[string][]string{}
	for _, dom := range doms {
		var desc string
		if err := d.c.Do(ctx, "read domain "+dom.Name, func(a API) (err error) {
			desc, err = a.DomainGetXMLDesc(dom, libvirt.DomainXMLInactive)
			return err
		}); err != nil {
			if !IsNoObject(err) {
				d.errs = append(d.errs, err)
			}
			continue
		}
		if o, ok := ParseOwner(desc); ok && o.Lab == d.lab {
			if err := d.c.Do(ctx, "remove domain "+dom.Name, func(a API) error { return removeDomain(a, dom) }); err != nil && !IsNoObject(err) {
				d.errs = append(d.errs, fmt.Errorf("domain %s: %w", dom.Name, err))
				continue
			}
			d.r.Domains = append(d.r.Domains, dom.Name)
			continue
		}
		var dx libvirtxml.Domain
		if dx.Unmarshal(desc) == nil && dx.Devices != nil {
			for _, i := range dx.Devices.Interfaces {
				if i.Source != nil && i.Source.Network != nil {
					usedBy[i.Source.Network.Network] = append(usedBy[i.Source.Network.Network], dom.Name)
				}
			}
		}
	}
	return usedBy, nil
}

// removeDomain stops a domain if it runs and undefines it.
func removeDomain(a API, dom libvirt.Domain) error {
	st, _, err := a.DomainGetState(dom, 0)
	if err != nil {
		return err
	}
	if libvirt.DomainState(st) != libvirt.DomainShutoff {
		if err := a.DomainDestroy(dom); err != nil && !IsNoObject(err) {
			return err
		}
	}
	return a.DomainUndefineFlags(dom, libvirt.DomainUndefineManagedSave|libvirt.DomainUndefineNvram|libvirt.DomainUndefineSnapshotsMetadata)
}

// volumes removes the lab's volumes from the pool (by their name prefix).
func (d *downer) volumes(ctx context.Context, poolName string) {
	gone, err := deleteVolumes(ctx, d.c, poolName, volumePrefix(d.lab))
	d.r.Volumes = append(d.r.Volumes, gone...)
	if err != nil {
		d.errs = append(d.errs, err)
	}
}

// deleteVolumes deletes the volumes of a pool whose names start with
// prefix, going on past one that cannot be deleted; it returns the names
// deleted and every error. A missing pool has none; so has a pool that is
// not running and cannot be started (its directory is gone, and the
// volumes with it).
func deleteVolumes(ctx context.Context, c *Conn, poolName, prefix string) ([]string, error) {
	var gone []string
	var errs []error
	err := c.Do(ctx, "remove volumes "+prefix+"*", func(a API) error {
		pool, err := a.StoragePoolLookupByName(poolName)
		if IsNoObject(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if active, err := a.StoragePoolIsActive(pool); err == nil && active == 0 {
			if a.StoragePoolCreate(pool, 0) != nil {
				return nil
			}
		}
		_ = a.StoragePoolRefresh(pool, 0)
		vols, _, err := a.StoragePoolListAllVolumes(pool, 1, 0)
		if err != nil {
			return err
		}
		for _, v := range vols {
			if !strings.HasPrefix(v.Name, prefix) {
				continue
			}
			if err := a.StorageVolDelete(v, 0); err != nil && !IsNoObject(err) {
				errs = append(errs, fmt.Errorf("volume %s: %w", v.Name, err))
				continue
			}
			gone = append(gone, v.Name)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return gone, errors.Join(errs...)
}

// networks removes the lab's networks, keeping one that a domain of
// someone else still uses (usedBy), and saying so.
func (d *downer) networks(ctx context.Context, usedBy map[string][]string) {
	var nets []libvirt.Network
	if err := d.c.Do(ctx, "list networks", func(a API) (err error) {
		nets, _, err = a.ConnectListAllNetworks(1, 0)
		return err
	}); err != nil {
		d.errs = append(d.errs, err)
	}
	for _, n := range nets {
		err := d.c.Do(ctx, "remove network "+n.Name, func(a API) error {
			desc, err := a.NetworkGetXMLDesc(n, 0)
			if err != nil {
				return err
			}
			if o, ok := ParseOwner(desc); !ok || o.Lab != d.lab {
				return nil
			}
			if users := usedBy[n.Name]; len(users) > 0 {
				d.r.Kept = append(d.r.Kept, fmt.Sprintf("network %s: still used by domain %s", n.Name, strings.Join(users, ", ")))
				return nil
			}
			if active, err := a.NetworkIsActive(n); err == nil && active == 1 {
				if err := a.NetworkDestroy(n); err != nil && !IsNoObject(err) {
					return err
				}
			}
			if err := a.NetworkUndefine(n); err != nil && !IsNoObject(err) {
				return err
			}
			d.r.Networks = append(d.r.Networks, n.Name)
			return nil
		})
		if err != nil && !IsNoObject(err) {
			d.errs = append(d.errs, fmt.Errorf("network %s: %w", n.Name, err))
		}
	}
}
