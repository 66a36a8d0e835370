package vm

import (
	"context"
	"sort"

	"github.com/digitalocean/go-libvirt"
)

// Labs lists the labs that own libvirt objects here (domains and
// networks), by their labctl metadata: what a workshop's down finds without
// its state.
func Labs(ctx context.Context, c *Conn) ([]string, error) {
	seen := map[string]bool{}
	err := c.Do(ctx, "list labs", func(a API) error {
		doms, _, err := a.ConnectListAllDomains(1, 0)
		if err != nil {
			return err
		}
		for _, d := range doms {
			if x, err := a.DomainGetXMLDesc(d, libvirt.DomainXMLInactive); err == nil {
				if o, ok := ParseOwner(x); ok {
					seen[o.Lab] = true
				}
			}
		}
		nets, _, err := a.ConnectListAllNetworks(1, 0)
		if err != nil {
			return err
		}
		for _, n := range nets {
			if x, err := a.NetworkGetXMLDesc(n, 0); err == nil {
				if o, ok := ParseOwner(x); ok {
					seen[o.Lab] = true
				}
			}
		}
		return nil
	})
	var out []string
	for l := range seen {
		out = append(out, l)
	}
	sort.Strings(out)
	return out, err
}
