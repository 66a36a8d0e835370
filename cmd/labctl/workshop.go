package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/labctl/labctl/topology"
	"github.com/labctl/labctl/workshop"
	"github.com/spf13/cobra"
)

func newWorkshopCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workshop",
		Short: "Many identical labs (seats) from one topology",
		Long: `A workshop is N labs ("seats") made from one topology: seat N is the lab
NAME-sNN (--lab is NAME). Everything of a seat that meets the host - its
libvirt names, bridges and MACs, its NAT and host-only subnets, the ipvlan L3
subnets the host routes - is derived from the seat's number, so seats never
overlap; what lives inside a seat's own networks (VLANs, Docker's pools, the
tutorial's container addresses) stays as the topology has it.`,
	}
	cmd.AddCommand(newWorkshopPlanCmd(g))
	return cmd
}

func newWorkshopPlanCmd(g *globals) *cobra.Command {
	var seats int
	var hvs []string
	var space, l3space string
	cmd := &cobra.Command{
		Use:   "plan --seats N [--hypervisor NAME=CPUS,MEMORY]...",
		Short: "Show each seat's lab, subnets and hypervisor, without creating anything",
		Long: `Plan the seats: each seat's lab name, NAT and host-only subnets (from
--space, two per seat), ipvlan L3 subnets (from --l3-space) and the
hypervisor it goes to. With --hypervisor (repeatable) seats are placed whole
on the hypervisor with the most free memory that fits them, within each
one's CPUs and memory; without, all seats are on this machine. Every seat's
topology is validated; nothing is created.`,
		Example: `  labctl workshop plan --lab ws --seats 20
  labctl workshop plan --lab ws --seats 40 --hypervisor hv1=48,96GiB --hypervisor hv2=48,96GiB -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o := workshop.Options{Name: g.lab, Seats: seats}
			for _, h := range hvs {
				hv, err := parseHypervisor(h)
				if err != nil {
					return usageErr("--hypervisor %q: %v", h, err)
				}
				o.Hypervisors = append(o.Hypervisors, hv)
			}
			for _, s := range []struct {
				flag, v string
				dst     *netip.Prefix
			}{{"--space", space, &o.Space}, {"--l3-space", l3space, &o.L3Space}} {
				if s.v == "" {
					continue
				}
				p, err := netip.ParsePrefix(s.v)
				if err != nil || !p.Addr().Is4() {
					return usageErr("%s %q: an IPv4 network in CIDR form, e.g. 10.200.0.0/16", s.flag, s.v)
				}
				*s.dst = p
			}
			t, _, err := g.loadPlan(true)
			if err != nil {
				return err
			}
			p, err := workshop.New(t, o)
			if err != nil {
				return err
			}
			return g.emit(p, func() error {
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SEAT\tLAB\tHYPERVISOR\tCPUS\tMEMORY\tNAT\tHOST-ONLY\tIPVLAN L3")
				for _, s := range p.Seats {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%dMiB\t%s\t%s\t%s\n", s.N, s.Lab, s.Hypervisor, s.CPUs, s.MemoryMiB, s.NAT, s.HostOnly, strings.Join(s.L3, ","))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(g.stdout)
				tw = tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "HYPERVISOR\tSEATS\tCPUS USED\tMEMORY USED")
				for _, l := range p.Load {
					capCPU, capMem := "-", "-"
					if l.CPUs > 0 || l.MemoryMiB > 0 {
						capCPU, capMem = strconv.Itoa(l.CPUs), fmt.Sprintf("%dMiB", l.MemoryMiB)
					}
					fmt.Fprintf(tw, "%s\t%d\t%d of %s\t%dMiB of %s\n", l.Name, len(l.Seats), l.UsedCPUs, capCPU, l.UsedMemoryMiB, capMem)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().IntVar(&seats, "seats", 0, "how many seats")
	cmd.Flags().StringArrayVar(&hvs, "hypervisor", nil, "NAME=CPUS,MEMORY of a hypervisor to place seats on (repeatable), e.g. hv1=48,96GiB")
	cmd.Flags().StringVar(&space, "space", "", "where the seats' NAT and host-only subnets come from (default "+workshop.DefaultSpace.String()+")")
	cmd.Flags().StringVar(&l3space, "l3-space", "", "where the seats' ipvlan L3 subnets come from (default "+workshop.DefaultL3Space.String()+")")
	return cmd
}

// parseHypervisor reads NAME=CPUS,MEMORY.
func parseHypervisor(s string) (workshop.Hypervisor, error) {
	name, rest, ok := strings.Cut(s, "=")
	cpus, mem, ok2 := strings.Cut(rest, ",")
	if !ok || !ok2 || name == "" {
		return workshop.Hypervisor{}, fmt.Errorf("use NAME=CPUS,MEMORY, e.g. hv1=48,96GiB")
	}
	n, err := strconv.Atoi(cpus)
	if err != nil || n < 1 {
		return workshop.Hypervisor{}, fmt.Errorf("CPUS %q: a whole number of vCPUs", cpus)
	}
	b, err := topology.Size(mem).Bytes()
	if err != nil {
		return workshop.Hypervisor{}, fmt.Errorf("MEMORY %q: %v", mem, err)
	}
	return workshop.Hypervisor{Name: name, CPUs: n, MemoryMiB: b >> 20}, nil
}
