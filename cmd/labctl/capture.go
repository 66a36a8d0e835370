package main

import (
	"errors"
	"io"
	"os"
	"strings"

	"github.com/labctl/labctl/lab"
	"github.com/spf13/cobra"
)

func newCaptureCmd(g *globals) *cobra.Command {
	var filter, write string
	var count int
	cmd := &cobra.Command{
		Use:   "capture NODE IFACE",
		Short: "Capture packets on a node's interface with tcpdump, streamed here (text, or pcap with -w)",
		Long: `Run tcpdump on a node's interface over SSH and stream what it sees: decoded
lines (with link-level headers: MACs, 802.1q tags), or with -w a pcap file
(-w - writes pcap to standard output, for Wireshark). Ctrl-C stops tcpdump
on the node cleanly; --count N stops after N packets.`,
		Example: `  labctl capture node1 ens33 --filter 'vlan and icmp' --count 10
  labctl capture node2 ens34 --filter 'udp port 4789' -w vxlan.pcap
  labctl capture node1 ens33 -w - | wireshark -k -i -`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			node, iface := args[0], args[1]
			if !ifaceName(iface) {
				return usageErr("capture: %q is not an interface name", iface)
			}
			if count < 0 {
				return usageErr("--count %d: 1 or more (0: until Ctrl-C)", count)
			}
			l, err := g.openLab("", false)
			if err != nil {
				return err
			}
			defer l.Close()
			var out io.Writer = g.stdout
			var f *os.File
			if write != "" && write != "-" {
				if f, err = os.Create(write + ".part"); err != nil {
					return err
				}
				defer os.Remove(write + ".part")
				out = f
			}
			err = l.Capture(cmd.Context(), node, iface, filter, count, write != "", out, g.stderr)
			var nn *lab.NoNodeError
			if errors.As(err, &nn) {
				return usageErr("%v", err)
			}
			if f != nil {
				if cerr := f.Close(); err == nil && cerr != nil {
					err = cerr
				}
				if err == nil {
					err = os.Rename(write+".part", write)
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&filter, "filter", "", "a pcap filter, e.g. 'icmp or arp'")
	cmd.Flags().IntVar(&count, "count", 0, "stop after N packets (0: until Ctrl-C)")
	cmd.Flags().StringVarP(&write, "write", "w", "", "write pcap to FILE (- for standard output)")
	return cmd
}

// ifaceName tells a Linux interface name (at most 15 bytes, no spaces or
// slashes).
func ifaceName(s string) bool {
	return s != "" && len(s) <= 15 && !strings.ContainsAny(s, " /\t\n'\"$")
}
