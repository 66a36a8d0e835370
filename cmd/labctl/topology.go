package main

import (
	"github.com/labctl/labctl/topology"
	"github.com/spf13/cobra"
)

func newTopologyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Work with topology files",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "default",
		Short: "Print the built-in default topology, a starting point for your own",
		Long: `Print the built-in default topology as YAML, with comments. Save it, edit
it and pass it with -f. Fields you leave out take the values shown here.`,
		Example: "  labctl topology default > lab.yaml && labctl validate -f lab.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := g.stdout.Write(topology.DefaultYAML())
			return err
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "schema",
		Example: "  labctl topology schema > topology.schema.json",
		Short:   "Print the JSON Schema of topology files, for editors",
		Long: `Print the JSON Schema of topology files. Point your editor's YAML support at
it (for example a '# yaml-language-server: $schema=...' first line) to get
completion and checks while you type.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := g.stdout.Write(topology.SchemaJSON())
			return err
		},
	})
	return cmd
}
