// The lab's libvirt networks, and adopting what an interrupted up made.

package vm

import (
	"context"
	"fmt"

	"github.com/digitalocean/go-libvirt"
	"github.com/labctl/labctl/plan"
)

// orAdopt handles the one race every create and start in libvirt has with
// an interrupted labctl: a request sent by an up that was killed can still
// complete in libvirtd after the next up looked, so the next up's own
// request then fails ("already exists", "already running"). When the call
// (v, err) failed, found reads the object again and says whether it is
// now there, in the wanted state and this lab's; then it is used as if
// this call had made it. Used as orAdopt(call(...))(found).
func orAdopt[T any](v T, err error) func(found func() (T, bool)) (T, error) {
	return func(found func() (T, bool)) (T, error) {
		if err == nil {
			return v, nil
		}
		if again, ok := found(); ok {
			return again, nil
		}
		return v, err
	}
}

// ownsNetwork reports whether net carries this lab's metadata.
func (m *Manager) ownsNetwork(a API, net libvirt.Network) bool {
	desc, err := a.NetworkGetXMLDesc(net, 0)
	if err != nil {
		return false
	}
	o, ok := ParseOwner(desc)
	return ok && o.Lab == m.part.Plan.Lab
}

// ensureNetwork defines and starts one of the lab's networks. A network of
// the same name that labctl did not create for this lab is an error.
func (m *Manager) ensureNetwork(ctx context.Context, n plan.Net) error {
	x, err := NetworkXML(m.part.Plan, n)
	if err != nil {
		return err
	}
	return m.c.Do(ctx, "network "+n.Name, func(a API) error {
		net, err := a.NetworkLookupByName(n.Name)
		if IsNoObject(err) {
			net, err = orAdopt(a.NetworkDefineXML(x))(func() (libvirt.Network, bool) {
				again, lerr := a.NetworkLookupByName(n.Name)
				return again, lerr == nil && m.ownsNetwork(a, again)
			})
			if err != nil {
				return fmt.Errorf("define network %s: %w", n.Name, err)
			}
		} else if err != nil {
			return err
		} else {
			desc, err := a.NetworkGetXMLDesc(net, 0)
			if err != nil {
				return err
			}
			if o, ok := ParseOwner(desc); !ok || o.Lab != m.part.Plan.Lab {
				return fmt.Errorf("a libvirt network named %s already exists and does not belong to lab %s; remove it or use another --lab", n.Name, m.part.Plan.Lab)
			}
		}
		active, err := a.NetworkIsActive(net)
		if err != nil {
			return err
		}
		if active == 0 {
			if _, err := orAdopt(struct{}{}, a.NetworkCreate(net))(func() (struct{}, bool) {
				now, aerr := a.NetworkIsActive(net)
				return struct{}{}, aerr == nil && now == 1
			}); err != nil {
				return fmt.Errorf("start network %s: %w", n.Name, err)
			}
		}
		return nil
	})
}
