package main

import (
	"fmt"
	"time"

	"github.com/labctl/labctl/lab"
	"github.com/spf13/cobra"
)

func newImpairCmd(g *globals) *cobra.Command {
	var delay, jitter time.Duration
	var loss, rate string
	var clear bool
	cmd := &cobra.Command{
		Use:   "impair NODE IFACE",
		Short: "Add delay, jitter, loss or a rate limit to a node's interface (tc netem), or --clear it",
		Long: `Put Linux's netem on the outgoing side of a node's interface, to see what a
slow or lossy link does to the labs (a 100 ms delay shows in ping's round
trip; loss in its statistics). Running it again replaces the impairment;
--clear removes it. 'labctl status' lists what is impaired and 'labctl lab
run' warns about it.`,
		Example: `  labctl impair node1 ens33 --delay 100ms --jitter 10ms
  labctl impair node2 ens34 --loss 5% --rate 1mbit
  labctl impair node1 ens33 --clear`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var im lab.Impairment
			if !clear {
				im = lab.Impairment{Delay: delay, Jitter: jitter, Rate: rate}
				if loss != "" {
					var err error
					if im.Loss, err = lab.ParseLoss(loss); err != nil {
						return usageErr("--loss: %v", err)
					}
				}
			} else if delay != 0 || jitter != 0 || loss != "" || rate != "" {
				return usageErr("impair: --clear takes no --delay, --jitter, --loss or --rate")
			}
			l, err := g.openLab("labctl impair", false)
			if err != nil {
				return err
			}
			defer l.Close()
			spec, err := l.Impair(cmd.Context(), args[0], args[1], im, clear)
			if err != nil {
				return err
			}
			if clear {
				fmt.Fprintf(g.stderr, "%s %s: no impairment\n", args[0], args[1])
			} else {
				fmt.Fprintf(g.stderr, "%s %s: netem %s\n", args[0], args[1], spec)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&delay, "delay", 0, "added to every outgoing packet, e.g. 100ms")
	cmd.Flags().DurationVar(&jitter, "jitter", 0, "the delay varies by up to this much")
	cmd.Flags().StringVar(&loss, "loss", "", "percent of packets dropped, e.g. 5%")
	cmd.Flags().StringVar(&rate, "rate", "", "bandwidth limit, e.g. 1mbit")
	cmd.Flags().BoolVar(&clear, "clear", false, "remove the impairment")
	return cmd
}
