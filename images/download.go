package images

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Downloader fetches files over HTTP with resume, retries and checksum
// verification. Nothing it has not verified is ever at the destination.
type Downloader struct {
	Client   *http.Client
	Progress func(done, total int64) // called as bytes arrive; nil for quiet
	Attempts int                     // attempts before giving up (default 5)
	Backoff  time.Duration           // first retry delay, doubled each time (default 1s)
}

// HTTPError is a download that the server refused.
type HTTPError struct {
	URL    string
	Status int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.URL, e.Status, http.StatusText(e.Status))
}

// ErrChecksumMismatch is returned when downloaded bytes do not match.
var ErrChecksumMismatch = errors.New("checksum mismatch")

// Fetch downloads url to dst, verifying the bytes against want. It
// downloads into dst+".part" and resumes from there after a cut, on this
// attempt or a later run; only a file that matches want is renamed to dst.
// A .part that fails verification is deleted.
func (d *Downloader) Fetch(ctx context.Context, url, dst string, want Digest) error {
	attempts := d.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	backoff := d.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	part := dst + ".part"
	var err error
	for i := 1; i <= attempts; i++ {
		err = d.once(ctx, url, part)
		if err == nil {
			break
		}
		var he *HTTPError
		if ctx.Err() != nil || (errors.As(err, &he) && he.Status < 500 && he.Status != http.StatusTooManyRequests) {
			return err // permanent or cancelled
		}
		if i == attempts {
			return fmt.Errorf("%w (gave up after %d attempts; run the command again to resume)", err, attempts)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
	}
	if err := verifyFile(part, want); err != nil {
		os.Remove(part)
		return fmt.Errorf("%s: %w", url, err)
	}
	return os.Rename(part, dst)
}

// once makes one request, appending to part when the server supports it.
func (d *Downloader) once(ctx context.Context, url, part string) error {
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	var have int64
	if fi, err := os.Stat(part); err == nil {
		have = fi.Size()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	flags := os.O_CREATE | os.O_WRONLY
	var total int64 = -1
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		flags |= os.O_APPEND
		if resp.ContentLength >= 0 {
			total = have + resp.ContentLength
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		return nil // we already have it all; verification decides
	case resp.StatusCode == http.StatusOK:
		flags |= os.O_TRUNC // no resume support: start over
		have = 0
		total = resp.ContentLength
	default:
		return &HTTPError{URL: url, Status: resp.StatusCode}
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	w := io.Writer(f)
	if d.Progress != nil {
		w = &progressWriter{w: f, done: have, total: total, fn: d.Progress}
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: cut after %d bytes: %w", url, have+n, err)
	}
	if total >= 0 && have+n < total {
		return fmt.Errorf("GET %s: body ended at %d of %d bytes: %w", url, have+n, total, io.ErrUnexpectedEOF)
	}
	return f.Sync()
}

func verifyFile(path string, want Digest) error {
	h, err := want.New()
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hex {
		return fmt.Errorf("%w: got %s:%s, want %s", ErrChecksumMismatch, want.Algo, got, want)
	}
	return nil
}

type progressWriter struct {
	w           io.Writer
	done, total int64
	fn          func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	p.fn(p.done, p.total)
	return n, err
}

// FetchText downloads a small text file (a checksum list) into memory.
func (d *Downloader) FetchText(ctx context.Context, url string, limit int64) ([]byte, error) {
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{URL: url, Status: resp.StatusCode}
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit))
}
