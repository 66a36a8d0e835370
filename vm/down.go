package vm

import (
	"context"
	"fmt"
	"strings"

	"github.com/digitalocean/go-libvirt"
	"github.com/hashicorp/go-multierror"
	"libvirt.org/go/libvirtxml"
)

// Removed lists what Down removed and what it kept.
type Removed struct {
	Domains  []string `json:"domains"`
	Volumes  []string `json:"volumes"`
	Networks []string `json:"networks"`
	Kept     []string `json:"kept,omitempty"` // with the reason
}

// Down removes every libvirt object of the lab: its domains (found by their
// labctl metadata), its volumes in the pool (by name) and its networks (by
// metadata) unless a domain of someone else still uses one. It needs no
// state file, and it carries on past errors, reporting them all at the end.
func Down(ctx context.Context, c *Conn, lab, poolName string) (Removed, error) {
	var r Removed
	var errs *multierror.Error
	var doms []libvirt.Domain
	err := c.Do(ctx, "list domains", func(a API) (err error) {
		doms, _, err = a.ConnectListAllDomains(1, 0)
		return err
	})
	if err != nil {
		return r, err
	}
	// Which networks do the domains that survive use?
	usedBy := map[string][]string{}
	for _, d := range doms {
		var desc string
		if err := c.Do(ctx, "read domain "+d.Name, func(a API) (err error) {
			desc, err = a.DomainGetXMLDesc(d, libvirt.DomainXMLInactive)
			return err
		}); err != nil {
			if IsNoObject(err) {
				continue
			}
			errs = multierror.Append(errs, err)
			continue
		}
		if o, ok := ParseOwner(desc); ok && o.Lab == lab {
			if err := c.Do(ctx, "remove domain "+d.Name, func(a API) error {
				st, _, err := a.DomainGetState(d, 0)
				if err != nil {
					return err
				}
				if libvirt.DomainState(st) != libvirt.DomainShutoff {
					if err := a.DomainDestroy(d); err != nil && !IsNoObject(err) {
						return err
					}
				}
				return a.DomainUndefineFlags(d, libvirt.DomainUndefineManagedSave|libvirt.DomainUndefineNvram)
			}); err != nil && !IsNoObject(err) {
				errs = multierror.Append(errs, fmt.Errorf("domain %s: %w", d.Name, err))
				continue
			}
			r.Domains = append(r.Domains, d.Name)
			continue
		}
		var dx libvirtxml.Domain
		if dx.Unmarshal(desc) == nil && dx.Devices != nil {
			for _, i := range dx.Devices.Interfaces {
				if i.Source != nil && i.Source.Network != nil {
					usedBy[i.Source.Network.Network] = append(usedBy[i.Source.Network.Network], d.Name)
				}
			}
		}
	}

	err = c.Do(ctx, "remove volumes", func(a API) error {
		pool, err := a.StoragePoolLookupByName(poolName)
		if IsNoObject(err) {
			return nil
		}
		if err != nil {
			return err
		}
		_ = a.StoragePoolRefresh(pool, 0)
		vols, _, err := a.StoragePoolListAllVolumes(pool, 1, 0)
		if err != nil {
			return err
		}
		for _, v := range vols {
			if !strings.HasPrefix(v.Name, volumePrefix(lab)) {
				continue
			}
			if err := a.StorageVolDelete(v, 0); err != nil && !IsNoObject(err) {
				errs = multierror.Append(errs, fmt.Errorf("volume %s: %w", v.Name, err))
				continue
			}
			r.Volumes = append(r.Volumes, v.Name)
		}
		return nil
	})
	if err != nil {
		errs = multierror.Append(errs, err)
	}

	var nets []libvirt.Network
	if err := c.Do(ctx, "list networks", func(a API) (err error) {
		nets, _, err = a.ConnectListAllNetworks(1, 0)
		return err
	}); err != nil {
		errs = multierror.Append(errs, err)
	}
	for _, n := range nets {
		err := c.Do(ctx, "remove network "+n.Name, func(a API) error {
			desc, err := a.NetworkGetXMLDesc(n, 0)
			if err != nil {
				return err
			}
			if o, ok := ParseOwner(desc); !ok || o.Lab != lab {
				return nil
			}
			if users := usedBy[n.Name]; len(users) > 0 {
				r.Kept = append(r.Kept, fmt.Sprintf("network %s: still used by domain %s", n.Name, strings.Join(users, ", ")))
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
			r.Networks = append(r.Networks, n.Name)
			return nil
		})
		if err != nil && !IsNoObject(err) {
			errs = multierror.Append(errs, fmt.Errorf("network %s: %w", n.Name, err))
		}
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	return r, errs.ErrorOrNil()
}
