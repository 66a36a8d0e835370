package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newDocsCmd writes the man pages and the Markdown command reference from
// the commands themselves (make build runs it), so that they never drift
// from --help.
func newDocsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "__docs DIR",
		Short:  "Write man pages (DIR/man/man1) and a Markdown reference (DIR/cli) of every command",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			man, md := filepath.Join(args[0], "man", "man1"), filepath.Join(args[0], "cli")
			for _, d := range []string{man, md} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			root.DisableAutoGenTag = true
			if err := doc.GenManTree(root, &doc.GenManHeader{Title: "LABCTL", Section: "1", Source: "labctl " + version}, man); err != nil {
				return err
			}
			if err := doc.GenMarkdownTree(root, md); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "man pages in %s (MANPATH=%s man labctl-up), Markdown in %s\n", man, filepath.Join(args[0], "man"), md)
			return nil
		},
	}
}
