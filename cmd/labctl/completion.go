package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/state"
	"github.com/spf13/cobra"
)

// Dynamic completion ('labctl completion bash|zsh|fish|powershell' writes
// the shell's script): node names, labs, exercises and lab files, and the
// values of enum flags - all from the lab's files and state, quickly,
// without libvirt or SSH.
func addCompletions(root *cobra.Command, g *globals) {
	nodes := func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return g.nodeNames(toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	exercises := func(withAll bool) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			c, err := g.catalog()
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			var out []string
			if withAll {
				out = append(out, "all")
			}
			for _, e := range c.All() {
				out = append(out, e.Name)
			}
			// Lab files are paths: let the shell complete those too.
			return prefixed(out, toComplete), cobra.ShellCompDirectiveDefault
		}
	}
	recipes := func(kind string, one bool) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if one && len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, r := range images.Recipes() {
				if kind == "" || r.Kind == kind {
					out = append(out, r.Name)
				}
			}
			return prefixed(out, toComplete), cobra.ShellCompDirectiveNoFileComp
		}
	}
	for path, fn := range map[string]func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective){
		"image build": recipes("", false), "image vagrant-box": recipes(images.KindVMImage, true),
		"ssh": nodes, "exec": nodes, "console": nodes, "capture": nodes, "impair": nodes,
		"lab run": exercises(true), "lab check": exercises(false), "lab explain": exercises(false),
	} {
		if c, _, err := root.Find(strings.Fields(path)); err == nil && c.Name() == strings.Fields(path)[len(strings.Fields(path))-1] {
			c.ValidArgsFunction = fn
		}
	}
	enum := func(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		}
	}
	root.RegisterFlagCompletionFunc("output", enum("text", "json"))
	root.RegisterFlagCompletionFunc("lab", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return prefixed(existingLabs(), toComplete), cobra.ShellCompDirectiveNoFileComp
	})
	for path, flags := range map[string]map[string][]string{
		"graph":       {"format": {"dot", "mermaid", "svg"}},
		"up":          {"docker": {"offline", "online"}},
		"workshop up": {"docker": {"offline", "online"}},
	} {
		c, _, err := root.Find(strings.Fields(path))
		if err != nil {
			continue
		}
		for flag, values := range flags {
			c.RegisterFlagCompletionFunc(flag, enum(values...))
		}
	}
}

// nodeNames are the lab's nodes starting with prefix, from its topology.
func (g *globals) nodeNames(prefix string) []string {
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	_, p, err := g.loadPlan(true)
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range p.Nodes {
		out = append(out, n.Name)
	}
	return prefixed(out, prefix)
}

// existingLabs are the labs that have state here.
func existingLabs() []string {
	root, err := state.Root()
	if err != nil {
		return nil
	}
	entries, _ := os.ReadDir(filepath.Join(root, "labs"))
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func prefixed(all []string, prefix string) []string {
	var out []string
	for _, s := range all {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}
