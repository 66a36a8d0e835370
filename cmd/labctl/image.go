package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/vagrant"
	"github.com/spf13/cobra"
)

// defaultBuilds is what `labctl image build` makes with no argument:
// everything a lab needs with no network but Debian's archive - the
// Docker-ready image a topology naming no image boots, and the plain image
// with the offline bundle for labs that name debian-12 and for hosts of an
// inventory.
var defaultBuilds = []string{"debian-12-docker", "debian-12", "docker.io-debian-12", "busybox", "nginx"}

func newImageCmd(g *globals) *cobra.Command {
	var cacheDir string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build, download and manage VM images, the Docker bundle and container images",
		Long: `labctl keeps what labs are made from in a local cache ($XDG_CACHE_HOME/labctl,
default ~/.cache/labctl), each file listed in a manifest with its size and
SHA-256 and verified again whenever it is used.

Two ways to get a VM image:
  labctl image build debian-12           built offline from Debian packages (needs root, mmdebstrap)
  labctl image pull debian-12-genericcloud   downloaded, verified against the published checksums

Built from Debian packages as well:
  docker.io-debian-12   the Docker engine and its dependencies as .deb files (offline install)
  busybox, nginx        container images tagged exactly busybox and nginx, for 'docker load'
  debian-12-docker      the VM image with Docker already installed: what a
                        topology naming no image boots when it is cached`,
	}
	cmd.PersistentFlags().StringVar(&cacheDir, "cache-dir", "", "image cache directory (default $XDG_CACHE_HOME/labctl)")
	open := func() (*images.Cache, error) {
		dir := cacheDir
		if dir == "" {
			var err error
			if dir, err = images.DefaultCacheDir(); err != nil {
				return nil, err
			}
		}
		return images.OpenCache(dir)
	}
	cmd.AddCommand(newImageBuildCmd(g, open), newImagePullCmd(g, open), newImageLsCmd(g, open),
		newImageRmCmd(g, open), newImageVerifyCmd(g, open), newImageVagrantBoxCmd(g, open))
	return cmd
}

type cacheOpener func() (*images.Cache, error)

func newImageBuildCmd(g *globals, open cacheOpener) *cobra.Command {
	var mirror string
	var force bool
	cmd := &cobra.Command{
		Use:   "build [NAME...]",
		Short: "Build images from Debian packages (offline except for the Debian archive)",
		Long: `Build VM images, the offline Docker bundle and container images from Debian
packages with mmdebstrap. Needs root. A build whose inputs did not change is
a cache hit and takes a moment; --force builds again.

Names: ` + strings.Join(images.RecipeNames(), ", ") + `
Without a name: ` + strings.Join(defaultBuilds, ", ") + `.

The Debian archive comes from --mirror (or $LABCTL_DEBIAN_MIRROR): point it at
a local mirror or apt-cacher-ng to prepare a workshop room once.`,
		Example: `  sudo labctl image build
  sudo labctl image build debian-12-docker --mirror http://apt-cache.local:3142/debian`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = defaultBuilds
			}
			var recipes []images.Recipe
			for _, a := range args {
				r, ok := images.LookupRecipe(a)
				if !ok {
					return usageErr("image build: unknown name %q; known: %s", a, strings.Join(images.RecipeNames(), ", "))
				}
				recipes = append(recipes, r)
			}
			if mirror == "" {
				mirror = os.Getenv("LABCTL_DEBIAN_MIRROR")
			}
			c, err := open()
			if err != nil {
				return err
			}
			var results []imageRow
			for _, r := range recipes {
				start := time.Now()
				e, built, err := c.Build(cmd.Context(), r, images.BuildOptions{Mirror: mirror, Log: g.stderr, Force: force})
				if err != nil {
					return err
				}
				row := toRow(e)
				row.Built = built
				row.Seconds = time.Since(start).Seconds()
				if !built {
					fmt.Fprintf(g.stderr, "%s: up to date (cache hit, verified in %.1fs)\n", r.Name, row.Seconds)
				}
				results = append(results, row)
			}
			if g.output == "json" {
				return g.writeJSON(map[string]any{"images": results})
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&mirror, "mirror", "", "Debian mirror URL (default "+images.DefaultMirror+")")
	cmd.Flags().BoolVar(&force, "force", false, "build even when the cache holds a build of the same inputs")
	return cmd
}

func newImagePullCmd(g *globals, open cacheOpener) *cobra.Command {
	var names []string
	for _, r := range images.Catalogue {
		names = append(names, fmt.Sprintf("  %-24s %s", r.Name, r.Description))
	}
	return &cobra.Command{
		Use:   "pull NAME|URL#sha256:HEX",
		Short: "Download a cloud image and verify it against its published checksum",
		Long: `Download a VM image into the cache. Downloads resume where they stopped (run
the same command again after a cut), and nothing is kept that does not match
its checksum. Known names:
` + strings.Join(names, "\n") + `
Any other image: give its URL with the expected checksum after '#'.`,
		Example: `  labctl image pull debian-12-genericcloud
  labctl image pull 'https://example.org/my.qcow2#sha256:0123...'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, ok := images.LookupRemote(args[0])
			if !ok {
				if !strings.Contains(args[0], "://") {
					return usageErr("image pull: unknown image %q; known: %s, or a URL#sha256:HEX", args[0], catalogueNames())
				}
				var err error
				if r, err = images.RemoteFromURL(args[0]); err != nil {
					return usageErr("%v", err)
				}
			}
			c, err := open()
			if err != nil {
				return err
			}
			d := &images.Downloader{Client: &http.Client{Timeout: 0}}
			if isTerminal(g.stderr) {
				d.Progress = progressBar(g, r.Name)
			}
			e, err := c.Pull(cmd.Context(), d, r)
			if d.Progress != nil {
				fmt.Fprintln(g.stderr)
			}
			if err != nil {
				return err
			}
			return g.emit(toRow(e), func() error {
				fmt.Fprintf(g.stdout, "%s: %s, %s\n", e.Name, humanBytes(e.Size()), e.Meta["verified_with"])
				return nil
			})
		},
	}
}

func catalogueNames() string {
	var n []string
	for _, r := range images.Catalogue {
		n = append(n, r.Name)
	}
	return strings.Join(n, ", ")
}

type imageRow struct {
	Name    string    `json:"name"`
	Kind    string    `json:"kind"`
	Size    int64     `json:"size"`
	Files   int       `json:"files"`
	SHA256  string    `json:"sha256"`
	Source  string    `json:"source"`
	Created time.Time `json:"created"`
	Built   bool      `json:"built,omitempty"`
	Seconds float64   `json:"seconds,omitempty"`
}

func toRow(e images.Entry) imageRow {
	r := imageRow{Name: e.Name, Kind: e.Kind, Size: e.Size(), Files: len(e.Files), Source: e.Source, Created: e.Created}
	if len(e.Files) > 0 {
		r.SHA256 = e.Files[0].SHA256
	}
	return r
}

func newImageLsCmd(g *globals, open cacheOpener) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Example: "  labctl image ls\n  labctl image ls -o json",
		Aliases: []string{"list"},
		Short:   "List what the image cache holds",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := open()
			if err != nil {
				return err
			}
			es, err := c.List()
			if err != nil {
				return err
			}
			rows := []imageRow{}
			for _, e := range es {
				rows = append(rows, toRow(e))
			}
			return g.emit(map[string]any{"images": rows}, func() error {
				if len(rows) == 0 {
					fmt.Fprintf(g.stderr, "the image cache %s is empty: run 'sudo labctl image build'\n", c.Dir)
					return nil
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tKIND\tSIZE\tSHA256\tCREATED\tSOURCE")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%.12s\t%s\t%s\n", r.Name, r.Kind, humanBytes(r.Size), r.SHA256, r.Created.Format("2006-01-02 15:04"), r.Source)
				}
				return tw.Flush()
			})
		},
	}
}

func newImageRmCmd(g *globals, open cacheOpener) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME...",
		Example: "  labctl image rm ubuntu-24.04",
		Short:   "Remove entries and their files from the image cache",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := open()
			if err != nil {
				return err
			}
			for _, n := range args {
				if err := c.Remove(n); err != nil {
					return err
				}
				fmt.Fprintf(g.stderr, "removed %s\n", n)
			}
			return nil
		},
	}
}

func newImageVerifyCmd(g *globals, open cacheOpener) *cobra.Command {
	return &cobra.Command{
		Use:     "verify [NAME...]",
		Example: "  labctl image verify\n  labctl image verify debian-12",
		Short:   "Check cached files against their recorded checksums",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := open()
			if err != nil {
				return err
			}
			es, err := c.List()
			if err != nil {
				return err
			}
			want := map[string]bool{}
			for _, a := range args {
				want[a] = true
			}
			bad := 0
			for _, e := range es {
				if len(want) > 0 && !want[e.Name] {
					continue
				}
				delete(want, e.Name)
				if err := c.Verify(e); err != nil {
					bad++
					fmt.Fprintf(g.stderr, "%v\n", err)
					continue
				}
				fmt.Fprintf(g.stdout, "%s: ok\n", e.Name)
			}
			for n := range want {
				bad++
				fmt.Fprintf(g.stderr, "%s: not in the image cache\n", n)
			}
			if bad > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
}

func newImageVagrantBoxCmd(g *globals, open cacheOpener) *cobra.Command {
	var b vagrant.UserBox
	cmd := &cobra.Command{
		Use:   "vagrant-box [IMAGE]",
		Short: "Make a vagrant-libvirt box of a cached VM image and add it to Vagrant",
		Long: `Makes a box for the libvirt provider from a VM image of the cache (default
debian-12-docker, Docker already installed) and adds it to Vagrant as --name
(default labctl/IMAGE), replacing a box of that name; --out writes the box
to a file instead. No download: what the repository's Vagrantfile needs
offline (LABCTL_VAGRANT_BOX=labctl/debian-12-docker vagrant up).

The box authorizes Vagrant's insecure public key, as public boxes do
(Vagrant puts a key of its own in at the first up); --key gives another.
labctl's images have no boot loader: the box's own Vagrantfile boots the
image's kernel and initrd, copied to --boot-dir on this host (default
` + vagrant.BootRoot + `/NAME), so the box is for this host.

Needs root (the image's disk is mounted to add the vagrant user) and
vagrant. A box that vagrant-libvirt already uploaded into its storage pool
under the same name stays there until removed (virsh vol-list default).`,
		Example: `  sudo labctl image vagrant-box
  sudo LABCTL_VAGRANT_BOX=labctl/debian-12-docker vagrant up --provider=libvirt
  sudo labctl image vagrant-box debian-12 --name mylab/debian-12 --out debian-12.box`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b.Image = "debian-12-docker"
			if len(args) == 1 {
				b.Image = args[0]
			}
			if b.Name == "" {
				b.Name = "labctl/" + b.Image
			}
			if err := vagrant.CheckBoxName(b.Name); err != nil {
				return usageErr("--name: %v", err)
			}
			if b.Out == "" {
				if _, err := exec.LookPath("vagrant"); err != nil {
					return fmt.Errorf("vagrant is not installed (Debian: apt install vagrant vagrant-libvirt); --out FILE writes the box without it")
				}
			}
			c, err := open()
			if err != nil {
				return err
			}
			start := time.Now()
			b.Log = g.stderr
			if err := b.Make(cmd.Context(), c); err != nil {
				return err
			}
			where := "added to Vagrant as " + b.Name
			if b.Out != "" {
				where = "written to " + b.Out + " (vagrant box add --name " + b.Name + " " + b.Out + ")"
			}
			fmt.Fprintf(g.stderr, "box of %s %s in %.0fs\n", b.Image, where, time.Since(start).Seconds())
			return nil
		},
	}
	cmd.Flags().StringVar(&b.Name, "name", "", "the box's name in Vagrant (default labctl/IMAGE)")
	cmd.Flags().StringVar(&b.Key, "key", "", "public key file the box authorizes (default Vagrant's insecure key)")
	cmd.Flags().StringVar(&b.BootDir, "boot-dir", "", "where the kernel and initrd go (default "+vagrant.BootRoot+"/NAME)")
	cmd.Flags().StringVar(&b.Out, "out", "", "write the box to this file instead of adding it")
	return cmd
}
