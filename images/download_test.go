package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func blob(n int) ([]byte, Digest) {
	b := make([]byte, n)
	rand.New(rand.NewSource(int64(n))).Read(b)
	sum := sha256.Sum256(b)
	return b, Digest{Algo: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// server serves data with Range support; cutAfter > 0 makes the first
// full response stop after that many bytes (the connection is dropped).
type server struct {
	data     []byte
	cutAfter int
	noRange  bool
	mu       sync.Mutex
	ranges   []string
	requests int
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	cut := s.cutAfter
	s.cutAfter = 0
	s.mu.Unlock()
	if s.noRange {
		r.Header.Del("Range")
	}
	if cut > 0 {
		w.Header().Set("Content-Length", fmt.Sprint(len(s.data)))
		w.WriteHeader(http.StatusOK)
		w.Write(s.data[:cut])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	http.ServeContent(w, r, "blob", time.Time{}, bytes.NewReader(s.data))
}

func fastDownloader() *Downloader {
	return &Downloader{Attempts: 3, Backoff: time.Millisecond}
}

func TestFetchOK(t *testing.T) {
	data, d := blob(100_000)
	srv := httptest.NewServer(&server{data: data})
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "img")
	var last int64
	dl := fastDownloader()
	dl.Progress = func(done, total int64) { last = done }
	if err := dl.Fetch(context.Background(), srv.URL, dst, d); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if last != int64(len(data)) {
		t.Errorf("progress ended at %d", last)
	}
	if _, err := os.Stat(dst + ".part"); !os.IsNotExist(err) {
		t.Error(".part left behind")
	}
}

func TestFetchResumesAfterCut(t *testing.T) {
	data, d := blob(300_000)
	s := &server{data: data, cutAfter: 120_000}
	srv := httptest.NewServer(s)
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "img")
	if err := fastDownloader().Fetch(context.Background(), srv.URL, dst, d); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, data) {
		t.Fatal("content differs after resume")
	}
	if len(s.ranges) != 2 || s.ranges[0] != "" || !strings.HasPrefix(s.ranges[1], "bytes=") || s.ranges[1] == "bytes=0-" {
		t.Errorf("requests' Range headers: %q (want a resume from where the cut was)", s.ranges)
	}
}

func TestFetchResumesAcrossRuns(t *testing.T) {
	data, d := blob(50_000)
	s := &server{data: data}
	srv := httptest.NewServer(s)
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "img")
	os.WriteFile(dst+".part", data[:20_000], 0o644) // left by an earlier, interrupted run
	if err := fastDownloader().Fetch(context.Background(), srv.URL, dst, d); err != nil {
		t.Fatal(err)
	}
	if s.ranges[0] != "bytes=20000-" {
		t.Errorf("Range = %q, want bytes=20000-", s.ranges[0])
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

func TestFetchWithoutRangeSupportStartsOver(t *testing.T) {
	data, d := blob(50_000)
	srv := httptest.NewServer(&server{data: data, noRange: true})
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "img")
	os.WriteFile(dst+".part", []byte("garbage that must not stay"), 0o644)
	if err := fastDownloader().Fetch(context.Background(), srv.URL, dst, d); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, data) {
		t.Fatal("old .part content kept")
	}
}

func TestFetchChecksumMismatch(t *testing.T) {
	data, _ := blob(10_000)
	_, wrong := blob(10_001)
	srv := httptest.NewServer(&server{data: data})
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "img")
	err := fastDownloader().Fetch(context.Background(), srv.URL, dst, wrong)
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("err = %v, want ErrChecksumMismatch", err)
	}
	for _, p := range []string{dst, dst + ".part"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists after a mismatch", p)
		}
	}
}

func TestFetch404IsNotRetried(t *testing.T) {
	s := &server{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests++
		http.NotFound(w, r)
	}))
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "img")
	err := fastDownloader().Fetch(context.Background(), srv.URL+"/nope.qcow2", dst, Digest{"sha256", strings.Repeat("0", 64)})
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 404 {
		t.Fatalf("err = %v, want HTTP 404", err)
	}
	if s.requests != 1 {
		t.Errorf("%d requests for a 404, want 1", s.requests)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Error("destination created")
	}
}

func TestFetchTruncatedBodyNeverUsed(t *testing.T) {
	data, d := blob(40_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Always promises the whole file and sends a third of it.
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:len(data)/3])
	}))
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "img")
	err := fastDownloader().Fetch(context.Background(), srv.URL, dst, d)
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Error("a truncated download was put in place")
	}
}

func TestFetchHonoursCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := fastDownloader().Fetch(ctx, srv.URL, filepath.Join(t.TempDir(), "x"), Digest{"sha256", strings.Repeat("0", 64)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestPullVerifiesAgainstPublishedChecksums(t *testing.T) {
	data, d := blob(64_000)
	mux := http.NewServeMux()
	mux.Handle("/images/test-cloud.qcow2", &server{data: data})
	sums := d.Hex + "  test-cloud.qcow2\n" + strings.Repeat("a", 64) + "  other.qcow2\n"
	mux.HandleFunc("/images/SHA256SUMS", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, sums) })
	mux.HandleFunc("/bad/SHA256SUMS", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>not a checksum file</html>\n") })
	mux.HandleFunc("/missing/SHA256SUMS", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, sums) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := Remote{Name: "test-cloud", URL: srv.URL + "/images/test-cloud.qcow2", ChecksumURL: srv.URL + "/images/SHA256SUMS"}
	e, err := c.Pull(context.Background(), fastDownloader(), r)
	if err != nil {
		t.Fatal(err)
	}
	if e.Files[0].SHA256 != d.Hex || e.Meta["boot"] != "disk" {
		t.Errorf("entry %+v", e)
	}
	if _, err := c.Get("test-cloud"); err != nil {
		t.Errorf("Get after Pull: %v", err)
	}

	bad := Remote{Name: "bad", URL: srv.URL + "/images/test-cloud.qcow2", ChecksumURL: srv.URL + "/bad/SHA256SUMS"}
	if _, err := c.Pull(context.Background(), fastDownloader(), bad); !errors.Is(err, ErrChecksumFormat) {
		t.Errorf("wrong checksum file format: err = %v", err)
	}
	notListed := Remote{Name: "nl", URL: srv.URL + "/images/unlisted.qcow2", ChecksumURL: srv.URL + "/missing/SHA256SUMS"}
	if _, err := c.Pull(context.Background(), fastDownloader(), notListed); err == nil || !strings.Contains(err.Error(), "does not list unlisted.qcow2") {
		t.Errorf("image missing from checksum file: err = %v", err)
	}
	if _, err := c.Lookup("bad"); !errors.Is(err, ErrNotCached) {
		t.Error("a failed pull left a manifest entry")
	}
}

func TestRemoteFromURL(t *testing.T) {
	h := strings.Repeat("ab", 32)
	r, err := RemoteFromURL("https://example.org/x.qcow2#sha256:" + h)
	if err != nil || r.Digest == nil || r.Digest.Hex != h || !strings.HasPrefix(r.Name, "url-") {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{
		"https://example.org/x.qcow2",
		"ftp://example.org/x#sha256:" + h,
		"https://example.org/x#md5:abcd",
		"https://example.org/x#sha256:1234",
	} {
		if _, err := RemoteFromURL(bad); err == nil {
			t.Errorf("RemoteFromURL(%q) accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Resolve(ctx, "debian-12", fastDownloader()); err == nil || !strings.Contains(err.Error(), "sudo labctl image build debian-12") {
		t.Errorf("uncached recipe: %v", err)
	}
	if _, err := c.Resolve(ctx, "no-such-image", fastDownloader()); err == nil || !strings.Contains(err.Error(), "not a catalogue name") {
		t.Errorf("unknown: %v", err)
	}
	// A local file is imported once, keyed by its content.
	src := filepath.Join(t.TempDir(), "my.qcow2")
	os.WriteFile(src, []byte("QFI\xfb a disk image"), 0o644)
	// Any other file named as an image is refused: it would become a
	// node's disk, readable by whoever is root there.
	secret := filepath.Join(t.TempDir(), "id_ed25519")
	os.WriteFile(secret, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600)
	if _, err := c.Resolve(ctx, secret, fastDownloader()); err == nil || !strings.Contains(err.Error(), "not a qcow2 image") {
		t.Errorf("a key file as an image: %v", err)
	}
	if _, err := c.Resolve(ctx, filepath.Dir(secret), fastDownloader()); err == nil {
		t.Error("a directory as an image")
	}
	e1, err := c.Resolve(ctx, src, fastDownloader())
	if err != nil {
		t.Fatal(err)
	}
	e2, err := c.Resolve(ctx, src, fastDownloader())
	if err != nil || e2.Name != e1.Name || e1.Meta["boot"] != "disk" {
		t.Errorf("second resolve: %+v %v", e2, err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Error("the user's file was moved")
	}
	// A URL with its digest is downloaded and verified.
	data, d := blob(5000)
	srv := httptest.NewServer(&server{data: data})
	defer srv.Close()
	e3, err := c.Resolve(ctx, srv.URL+"/x.qcow2#sha256:"+d.Hex, fastDownloader())
	if err != nil || e3.Files[0].SHA256 != d.Hex {
		t.Errorf("url: %+v %v", e3, err)
	}
}
