package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func newCache(t *testing.T) *Cache {
	t.Helper()
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeRecipe writes n files with the given content through the builder.
func fakeRecipe(name, content string, fail error, calls *int) Recipe {
	return Recipe{
		Name: name, Kind: KindContainerImage, Description: "test recipe", inputs: content,
		build: func(ctx context.Context, b *builder) ([]File, map[string]string, error) {
			*calls++
			var files []File
			for i := 0; i < 2; i++ {
				p := filepath.Join(b.dir, fmt.Sprint(i))
				if err := os.WriteFile(p, []byte(content+fmt.Sprint(i)), 0o644); err != nil {
					return files, nil, err
				}
				f, err := b.store(p, filepath.Join("test", name, fmt.Sprint(i)), "archive")
				if err != nil {
					return files, nil, err
				}
				files = append(files, f)
				if fail != nil {
					return files, nil, fail // fails after storing one file
				}
			}
			return files, nil, nil
		},
	}
}

func opts() BuildOptions { return BuildOptions{Runner: nopRunner{}, Log: io.Discard} }

type nopRunner struct{}

func (nopRunner) Run(ctx context.Context, log io.Writer, name string, args ...string) error {
	return nil
}

func TestBuildThenCacheHit(t *testing.T) {
	c := newCache(t)
	calls := 0
	r := fakeRecipe("thing", "v1", nil, &calls)
	e, built, err := c.Build(context.Background(), r, opts())
	if err != nil || !built || calls != 1 {
		t.Fatalf("first build: built=%v calls=%d err=%v", built, calls, err)
	}
	if len(e.Files) != 2 || e.InputHash == "" {
		t.Fatalf("entry %+v", e)
	}
	_, built, err = c.Build(context.Background(), r, opts())
	if err != nil || built || calls != 1 {
		t.Fatalf("second build should be a cache hit: built=%v calls=%d err=%v", built, calls, err)
	}
	// Changed inputs build again.
	r2 := fakeRecipe("thing", "v2", nil, &calls)
	if _, built, _ := c.Build(context.Background(), r2, opts()); !built || calls != 2 {
		t.Errorf("changed inputs: built=%v calls=%d", built, calls)
	}
	// A damaged cached build is rebuilt rather than used.
	f := c.Abs(filepath.Join("test", "thing", "0"))
	os.WriteFile(f, []byte("tampered"), 0o644)
	if _, built, _ := c.Build(context.Background(), r2, opts()); !built || calls != 3 {
		t.Errorf("damaged cache: built=%v calls=%d", built, calls)
	}
}

// TestNeedsAreBuiltFirstAndAreInputs: a recipe's needs are built before it
// (once: cached afterwards), handed to its build, and part of its input
// hash, so that a changed need rebuilds it; --force rebuilds only what was
// asked for; a need that fails stops the build, naming both.
func TestNeedsAreBuiltFirstAndAreInputs(t *testing.T) {
	c := newCache(t)
	ctx := context.Background()
	var depCalls, calls int
	var seen map[string]Entry
	withNeed := func(dep Recipe) Recipe {
		r := fakeRecipe("top", "t", nil, &calls)
		inner := r.build
		r.build = func(ctx context.Context, b *builder) ([]File, map[string]string, error) {
			seen = b.deps
			return inner(ctx, b)
		}
		r.needs = []Recipe{dep}
		return r
	}
	top := withNeed(fakeRecipe("dep", "d1", nil, &depCalls))
	e, built, err := c.Build(ctx, top, opts())
	if err != nil || !built || calls != 1 || depCalls != 1 {
		t.Fatalf("first build: built=%v calls=%d dep calls=%d err=%v", built, calls, depCalls, err)
	}
	if len(seen["dep"].Files) != 2 {
		t.Errorf("the build was handed %+v, want the dep's entry with its 2 files", seen)
	}
	if _, err := c.Lookup("dep"); err != nil {
		t.Errorf("the need is not in the cache: %v", err)
	}
	if e.InputHash == top.InputHash("") {
		t.Error("the input hash ignores the need")
	}
	if _, built, err := c.Build(ctx, top, opts()); err != nil || built || calls != 1 || depCalls != 1 {
		t.Errorf("second build: built=%v calls=%d dep calls=%d err=%v, want a cache hit of both", built, calls, depCalls, err)
	}
	force := opts()
	force.Force = true
	if _, built, err := c.Build(ctx, top, force); err != nil || !built || calls != 2 || depCalls != 1 {
		t.Errorf("--force: built=%v calls=%d dep calls=%d err=%v, want only top built again", built, calls, depCalls, err)
	}
	changed := withNeed(fakeRecipe("dep", "d2", nil, &depCalls))
	e2, built, err := c.Build(ctx, changed, opts())
	if err != nil || !built || calls != 3 || depCalls != 2 || e2.InputHash == e.InputHash {
		t.Errorf("changed need: built=%v calls=%d dep calls=%d err=%v, want both built again with a new hash", built, calls, depCalls, err)
	}
	boom := errors.New("boom")
	broken := withNeed(fakeRecipe("dep", "d3", boom, &depCalls))
	if _, _, err := c.Build(ctx, broken, opts()); !errors.Is(err, boom) || !strings.Contains(err.Error(), "top needs dep") || calls != 3 {
		t.Errorf("failed need: err=%v calls=%d, want the need's error naming both and top not built", err, calls)
	}
	if old, err := c.Lookup("top"); err != nil || old.InputHash != e2.InputHash {
		t.Errorf("after a failed need, top's cached build is %+v (err=%v), want the last good one", old, err)
	}
}

func TestFailedBuildLeavesNothing(t *testing.T) {
	c := newCache(t)
	calls := 0
	boom := errors.New("boom")
	_, _, err := c.Build(context.Background(), fakeRecipe("broken", "x", boom, &calls), opts())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "full log") {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.Lookup("broken"); !errors.Is(err, ErrNotCached) {
		t.Error("failed build recorded in the manifest")
	}
	if _, err := os.Stat(c.Abs("test/broken/0")); !os.IsNotExist(err) {
		t.Error("failed build left a file in the cache")
	}
	if left, _ := os.ReadDir(c.Abs("tmp")); len(left) != 0 {
		t.Errorf("scratch directories left: %v", left)
	}
}

func TestTamperedFileIsDetected(t *testing.T) {
	c := newCache(t)
	calls := 0
	if _, _, err := c.Build(context.Background(), fakeRecipe("img", "content", nil, &calls), opts()); err != nil {
		t.Fatal(err)
	}
	p := c.Abs("test/img/1")
	data, _ := os.ReadFile(p)
	data[0] ^= 0xff // same size, different bytes
	os.WriteFile(p, data, 0o644)
	_, err := c.Get("img")
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "labctl image rm img") {
		t.Fatalf("tampered file: err = %v", err)
	}
	os.WriteFile(p, append(data, 'x'), 0o644)
	if _, err := c.Get("img"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "size") {
		t.Errorf("resized file: err = %v", err)
	}
	os.Remove(p)
	if _, err := c.Get("img"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestRemoveAndList(t *testing.T) {
	c := newCache(t)
	calls := 0
	for _, n := range []string{"b", "a"} {
		if _, _, err := c.Build(context.Background(), fakeRecipe(n, n, nil, &calls), opts()); err != nil {
			t.Fatal(err)
		}
	}
	es, _ := c.List()
	if len(es) != 2 || es[0].Name != "a" || es[1].Name != "b" {
		t.Fatalf("List = %+v", es)
	}
	if err := c.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Abs("test/a/0")); !os.IsNotExist(err) {
		t.Error("Remove left the file")
	}
	if err := c.Remove("a"); !errors.Is(err, ErrNotCached) {
		t.Errorf("second Remove: %v", err)
	}
	if _, err := c.Get("b"); err != nil {
		t.Errorf("other entry damaged by Remove: %v", err)
	}
}

func TestDamagedManifest(t *testing.T) {
	c := newCache(t)
	os.WriteFile(filepath.Join(c.Dir, "manifest.json"), []byte("{"), 0o644)
	if _, err := c.List(); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("err = %v", err)
	}
}

// A full filesystem is told apart in both forms the build tools give it.
func TestFullHint(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	for err, full := range map[error]bool{
		fmt.Errorf("copy: %w", &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}):                 true,
		errors.New("mmdebstrap: exit status 25\n    E: Write error - write (28: No space left on device)"): true,
		errors.New("mmdebstrap: exit status 1\n    E: Unable to locate package busybox-static"):            false,
	} {
		h := c.fullHint(err)
		if (h != "") != full || full && !strings.Contains(h, "the filesystem of the image cache "+c.Dir+" is full") {
			t.Errorf("%v: %q", err, h)
		}
	}
}
