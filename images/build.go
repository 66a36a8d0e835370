package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// DefaultMirror is the Debian archive builds use unless told otherwise
// (--mirror, or LABCTL_DEBIAN_MIRROR): point it at a local mirror or
// apt-cacher-ng for a workshop room.
const DefaultMirror = "http://deb.debian.org/debian"

// recipeVersion changes whenever what a recipe produces changes, so that
// cached builds from an older labctl are rebuilt.
const recipeVersion = "4"

// Runner runs an external command, writing its output to log. It is the
// seam that tests replace.
type Runner interface {
	Run(ctx context.Context, log io.Writer, name string, args ...string) error
}

// ExecRunner runs commands for real.
type ExecRunner struct{}

// Run runs name with args; on failure the error carries the last lines of
// output so that the cause is visible without opening the log.
func (ExecRunner) Run(ctx context.Context, log io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	tail := &tailBuffer{max: 4096}
	w := io.MultiWriter(log, tail)
	cmd.Stdout, cmd.Stderr = w, w
	// SOURCE_DATE_EPOCH makes mmdebstrap's output reproducible.
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "DEBIAN_FRONTEND=noninteractive",
		fmt.Sprintf("SOURCE_DATE_EPOCH=%d", imageEpoch.Unix()))
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w\n%s", name, err, indent(tail.String()))
	}
	return nil
}

// BuildOptions tune a build.
type BuildOptions struct {
	Mirror string    // Debian mirror; DefaultMirror when empty
	Log    io.Writer // progress for people; io.Discard when nil
	Runner Runner    // ExecRunner when nil
	Force  bool      // rebuild even when the inputs did not change
}

// Recipe is something `labctl image build` can make from Debian packages.
type Recipe struct {
	Name        string
	Kind        string
	Description string
	Tools       []string // host commands the recipe needs
	inputs      string   // everything that decides the output, for the input hash
	// needs are recipes whose artefacts go into this one (built first if
	// the cache lacks them); their files' digests are inputs too, so a
	// rebuilt dependency rebuilds this.
	needs []Recipe
	build func(ctx context.Context, b *builder) ([]File, map[string]string, error)
}

// Recipes lists what can be built offline (from Debian's archive only).
func Recipes() []Recipe {
	return []Recipe{debianBase(false), debianBase(true), dockerBundle(), busyboxImage(), nginxImage()}
}

// LookupRecipe finds a recipe by name.
func LookupRecipe(name string) (Recipe, bool) {
	for _, r := range Recipes() {
		if r.Name == name {
			return r, true
		}
	}
	return Recipe{}, false
}

// RecipeNames lists the recipe names.
func RecipeNames() []string {
	var n []string
	for _, r := range Recipes() {
		n = append(n, r.Name)
	}
	return n
}

// InputHash identifies a recipe's inputs; an unchanged hash means the
// cached build is still right.
func (r Recipe) InputHash(mirror string) string {
	_ = mirror // the mirror serves the same packages: not an input
	sum := sha256.Sum256([]byte(recipeVersion + "\x00" + r.Name + "\x00" + r.inputs))
	return hex.EncodeToString(sum[:])
}

// withNeeds adds the digests of the needed artefacts to a recipe's input
// hash; with no needs it is the input hash itself.
func withNeeds(hash string, deps map[string]Entry, needs []Recipe) string {
	if len(needs) == 0 {
		return hash
	}
	h := sha256.New()
	io.WriteString(h, hash)
	for _, n := range needs {
		for _, f := range deps[n.Name].Files {
			fmt.Fprintf(h, "\x00%s\x00%s\x00%s", n.Name, f.Path, f.SHA256)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// builder carries one build's scratch directory and tools.
type builder struct {
	cache  *Cache
	recipe Recipe
	opts   BuildOptions
	deps   map[string]Entry // the needed artefacts, by recipe name
	dir    string           // scratch directory, removed afterwards
	log    io.Writer        // full tool output (the build log file)
}

func (b *builder) run(ctx context.Context, name string, args ...string) error {
	fmt.Fprintf(b.log, "+ %s %s\n", name, strings.Join(args, " "))
	return b.opts.Runner.Run(ctx, b.log, name, args...)
}

// fullHint says what to do when err is a full filesystem under the cache
// (builds work in the cache's tmp directory), "" otherwise. The tools say
// it in their own words (ENOSPC, apt's "No space left on device").
func (c *Cache) fullHint(err error) string {
	if !errors.Is(err, syscall.ENOSPC) && !strings.Contains(strings.ToLower(err.Error()), "no space left on device") {
		return ""
	}
	free := "?"
	var st syscall.Statfs_t
	if syscall.Statfs(c.Dir, &st) == nil {
		free = fmt.Sprintf("%d MiB", st.Bavail*uint64(st.Bsize)>>20)
	}
	return fmt.Sprintf("the filesystem of the image cache %s is full (%s free); free space there, or use --cache-dir on a larger one, and build again", c.Dir, free)
}

// ErrNeedsRoot is returned when a build needs root and does not have it.
var ErrNeedsRoot = errors.New("image builds need root (mmdebstrap and the disk tools): run with sudo")

// Build makes the recipe's artefact unless the cache already holds a
// verified build of the same inputs (then it returns that, with
// built=false). On any failure nothing is left behind: the scratch
// directory is removed and the manifest is untouched.
func (c *Cache) Build(ctx context.Context, r Recipe, opts BuildOptions) (e Entry, built bool, err error) {
	if opts.Mirror == "" {
		opts.Mirror = DefaultMirror
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Runner == nil {
		opts.Runner = ExecRunner{}
	}
	deps := map[string]Entry{}
	for _, n := range r.needs {
		dopts := opts
		dopts.Force = false // --force rebuilds what was asked for, not what it needs
		de, _, err := c.Build(ctx, n, dopts)
		if err != nil {
			return Entry{}, false, fmt.Errorf("%s needs %s: %w", r.Name, n.Name, err)
		}
		deps[n.Name] = de
	}
	hash := withNeeds(r.InputHash(opts.Mirror), deps, r.needs)
	if !opts.Force {
		if old, err := c.Lookup(r.Name); err == nil && old.InputHash == hash {
			if verr := c.Verify(old); verr == nil {
				return old, false, nil
			} else {
				fmt.Fprintf(opts.Log, "%s: cached build is damaged (%v); building again\n", r.Name, verr)
			}
		}
	}
	if _, ok := opts.Runner.(ExecRunner); ok {
		if os.Geteuid() != 0 {
			return Entry{}, false, fmt.Errorf("%s: %w", r.Name, ErrNeedsRoot)
		}
		var missing []string
		for _, t := range r.Tools {
			if _, err := exec.LookPath(t); err != nil {
				missing = append(missing, t)
			}
		}
		if len(missing) > 0 {
			return Entry{}, false, fmt.Errorf("%s: missing tools %s: install them (Debian: apt-get install mmdebstrap e2fsprogs qemu-utils)", r.Name, strings.Join(missing, ", "))
		}
	}
	dir, err := c.TempDir("build-" + r.Name + "-")
	if err != nil {
		return Entry{}, false, err
	}
	defer os.RemoveAll(dir)
	logPath := c.Abs(filepath.Join("logs", "build-"+r.Name+".log"))
	if err := ensureDir(logPath); err != nil {
		return Entry{}, false, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return Entry{}, false, err
	}
	defer logf.Close()
	start := time.Now()
	fmt.Fprintf(opts.Log, "%s: building (log: %s)\n", r.Name, logPath)
	b := &builder{cache: c, recipe: r, opts: opts, dir: dir, log: logf, deps: deps}
	files, meta, err := r.build(ctx, b)
	if err != nil {
		for _, f := range files {
			os.Remove(c.Abs(f.Path))
		}
		if full := c.fullHint(err); full != "" {
			return Entry{}, false, fmt.Errorf("%s: build failed: %s (full log: %s): %w", r.Name, full, logPath, err)
		}
		return Entry{}, false, fmt.Errorf("%s: build failed (full log: %s): %w", r.Name, logPath, err)
	}
	if meta == nil {
		meta = map[string]string{}
	}
	meta["mirror"] = opts.Mirror
	meta["build_seconds"] = fmt.Sprintf("%.1f", time.Since(start).Seconds())
	e = Entry{
		Name: r.Name, Kind: r.Kind, Source: "built: " + r.Description, Files: files,
		Created: time.Now().UTC(), InputHash: hash, Meta: meta,
	}
	if err := c.Put(e); err != nil {
		return Entry{}, false, err
	}
	fmt.Fprintf(opts.Log, "%s: built in %s\n", r.Name, time.Since(start).Round(time.Second))
	return e, true, nil
}

// store moves a finished file from the scratch directory into the cache
// under dir/name.
func (b *builder) store(src, rel, role string) (File, error) {
	return b.cache.AddFile(src, rel, role)
}

// mmdebstrap runs mmdebstrap for bookworm with the given arguments
// inserted before the suite, target and mirror.
func (b *builder) mmdebstrap(ctx context.Context, target string, args ...string) error {
	all := append([]string{"--mode=root", "--aptopt=Acquire::Retries \"5\""}, args...)
	all = append(all, "bookworm", target, b.opts.Mirror)
	return b.run(ctx, "mmdebstrap", all...)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return t.buf.String() }

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

func sortedJoin(s []string) string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return strings.Join(c, ",")
}
