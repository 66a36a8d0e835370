package images

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strings"

	"github.com/labctl/labctl/internal/lines"
)

// Digest is an expected checksum: algorithm and lowercase hex value.
type Digest struct {
	Algo string // "sha256" or "sha512"
	Hex  string
}

func (d Digest) String() string { return d.Algo + ":" + d.Hex }

// New returns a hash for the digest's algorithm.
func (d Digest) New() (hash.Hash, error) {
	switch d.Algo {
	case "sha256":
		return sha256.New(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("unsupported checksum algorithm %q (use sha256 or sha512)", d.Algo)
}

// ParseDigest reads "sha256:HEX" or "sha512:HEX" (also with '=').
func ParseDigest(s string) (Digest, error) {
	algo, val, ok := strings.Cut(s, ":")
	if !ok {
		algo, val, ok = strings.Cut(s, "=")
	}
	if !ok {
		return Digest{}, fmt.Errorf("checksum %q: write sha256:HEX or sha512:HEX", s)
	}
	return digestFromHex(strings.ToLower(algo), val)
}

func digestFromHex(algo, val string) (Digest, error) {
	val = strings.ToLower(strings.TrimSpace(val))
	want := map[string]int{"sha256": 64, "sha512": 128}[algo]
	if want == 0 {
		return Digest{}, fmt.Errorf("unsupported checksum algorithm %q (use sha256 or sha512)", algo)
	}
	if _, err := hex.DecodeString(val); err != nil || len(val) != want {
		return Digest{}, fmt.Errorf("%s checksum %q is not %d hex digits", algo, val, want)
	}
	return Digest{Algo: algo, Hex: val}, nil
}

var (
	gnuLine = regexp.MustCompile(`^([0-9a-fA-F]{64}|[0-9a-fA-F]{128}) [ *]?(.+)$`)
	bsdLine = regexp.MustCompile(`^(SHA256|SHA512) ?\((.+)\) ?= ?([0-9a-fA-F]+)$`)
)

// ErrChecksumFormat means a checksum file could not be read.
var ErrChecksumFormat = errors.New("not a checksum file")

// ParseChecksumFile reads a published checksum file (GNU "HEX  name" or
// "HEX *name", or BSD "SHA256 (name) = HEX") and returns the digest of
// each file name. Any line that is neither, other than blank lines and
// comments, makes the whole file suspect and is an error.
func ParseChecksumFile(data []byte) (map[string]Digest, error) {
	out := map[string]Digest{}
	err := lines.Each(bytes.NewReader(data), func(n int, line string) error {
		if m := gnuLine.FindStringSubmatch(line); m != nil {
			algo := "sha256"
			if len(m[1]) == 128 {
				algo = "sha512"
			}
			d, _ := digestFromHex(algo, m[1])
			out[strings.TrimPrefix(m[2], "./")] = d
			return nil
		}
		if m := bsdLine.FindStringSubmatch(line); m != nil {
			d, err := digestFromHex(strings.ToLower(m[1]), m[3])
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			out[strings.TrimPrefix(m[2], "./")] = d
			return nil
		}
		return fmt.Errorf("line %d: %q: %w", n, truncate(line, 60), ErrChecksumFormat)
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no checksums in it: %w", ErrChecksumFormat)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
