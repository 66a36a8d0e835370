package images

import (
	"errors"
	"strings"
	"testing"
)

func TestParseChecksumFile(t *testing.T) {
	h256 := strings.Repeat("a1", 32)
	h512 := strings.Repeat("b2", 64)
	file := "# comment\n" +
		h256 + "  debian.qcow2\n" +
		h512 + " *debian.raw\n" +
		"SHA256 (noble.img) = " + strings.ToUpper(h256) + "\n" +
		h256 + "  ./dir/file\n\n"
	got, err := ParseChecksumFile([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Digest{
		"debian.qcow2": {"sha256", h256},
		"debian.raw":   {"sha512", h512},
		"noble.img":    {"sha256", h256},
		"dir/file":     {"sha256", h256},
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v want %v", k, got[k], v)
		}
	}
	for _, bad := range []string{
		"",
		"<html><body>Not found</body></html>\n",
		h256[:60] + "  short.img\n",
		h256 + "  ok\nthis line is junk\n",
		"SHA256 (x) = 1234\n",
	} {
		if _, err := ParseChecksumFile([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		} else if !errors.Is(err, ErrChecksumFormat) && !strings.Contains(err.Error(), "hex digits") {
			t.Errorf("%q: unexpected error %v", bad, err)
		}
	}
}

func TestParseDigest(t *testing.T) {
	h := strings.Repeat("0f", 32)
	for _, s := range []string{"sha256:" + h, "SHA256=" + strings.ToUpper(h)} {
		d, err := ParseDigest(s)
		if err != nil || d.Algo != "sha256" || d.Hex != h {
			t.Errorf("ParseDigest(%q) = %v, %v", s, d, err)
		}
	}
	for _, s := range []string{h, "md5:" + h, "sha512:" + h, "sha256:xyz"} {
		if _, err := ParseDigest(s); err == nil {
			t.Errorf("ParseDigest(%q) accepted", s)
		}
	}
}
