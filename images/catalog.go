package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"
)

// Remote is a VM image published on the network with a checksum file.
type Remote struct {
	Name        string
	Description string
	URL         string
	ChecksumURL string // a SHA256SUMS / SHA512SUMS file listing the image
	Digest      *Digest
}

// Catalogue lists the cloud images `labctl image pull` knows by name. Both
// boot from their own disk and take cloud-init NoCloud seeds.
var Catalogue = []Remote{
	{
		Name:        "debian-12-genericcloud",
		Description: "Debian 12 (bookworm) generic cloud image, amd64",
		URL:         "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
		ChecksumURL: "https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS",
	},
	{
		Name:        "ubuntu-24.04",
		Description: "Ubuntu 24.04 LTS (noble) server cloud image, amd64",
		URL:         "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
		ChecksumURL: "https://cloud-images.ubuntu.com/noble/current/SHA256SUMS",
	},
}

// LookupRemote finds a catalogue image by name.
func LookupRemote(name string) (Remote, bool) {
	for _, r := range Catalogue {
		if r.Name == name {
			return r, true
		}
	}
	return Remote{}, false
}

// RemoteFromURL describes an image given as "URL#sha256:HEX" (or sha512).
// Its cache name is derived from the URL.
func RemoteFromURL(spec string) (Remote, error) {
	raw, frag, ok := strings.Cut(spec, "#")
	if !ok {
		return Remote{}, fmt.Errorf("image %q: add the expected checksum as #sha256:HEX (or #sha512:HEX) so the download can be verified", spec)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Remote{}, fmt.Errorf("image %q: not an http(s) URL", spec)
	}
	d, err := ParseDigest(frag)
	if err != nil {
		return Remote{}, fmt.Errorf("image %q: %w", spec, err)
	}
	sum := sha256.Sum256([]byte(raw))
	name := "url-" + hex.EncodeToString(sum[:6])
	return Remote{Name: name, Description: raw, URL: raw, Digest: &d}, nil
}

// Pull downloads a remote image into the cache, verifying it against its
// published checksum file (or its given digest). A verified cached copy is
// kept and not downloaded again.
func (c *Cache) Pull(ctx context.Context, d *Downloader, r Remote) (Entry, error) {
	if e, err := c.Get(r.Name); err == nil && e.Source == r.URL {
		return e, nil
	}
	want := r.Digest
	if want == nil {
		data, err := d.FetchText(ctx, r.ChecksumURL, 1<<20)
		if err != nil {
			return Entry{}, fmt.Errorf("%s: checksum list: %w", r.Name, err)
		}
		sums, err := ParseChecksumFile(data)
		if err != nil {
			return Entry{}, fmt.Errorf("%s: checksum list %s: %w", r.Name, r.ChecksumURL, err)
		}
		base := path.Base(r.URL)
		dg, ok := sums[base]
		if !ok {
			return Entry{}, fmt.Errorf("%s: %s does not list %s", r.Name, r.ChecksumURL, base)
		}
		want = &dg
	}
	rel := path.Join("vm", r.Name+".img")
	// The .part file lives beside the final file so that a cut download
	// resumes on the next run.
	dst := c.Abs(rel)
	if err := ensureDir(dst); err != nil {
		return Entry{}, err
	}
	if err := d.Fetch(ctx, r.URL, dst, *want); err != nil {
		return Entry{}, fmt.Errorf("%s: %w", r.Name, err)
	}
	f, err := describe(c, rel, "disk")
	if err != nil {
		return Entry{}, err
	}
	e := Entry{
		Name: r.Name, Kind: KindVMImage, Source: r.URL, Files: []File{f}, Created: time.Now().UTC(),
		Meta: map[string]string{"boot": "disk", "verified_with": want.String()},
	}
	return e, c.Put(e)
}
