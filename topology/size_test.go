package topology

import (
	"strings"
	"testing"
)

func TestSizeBytes(t *testing.T) {
	tests := []struct {
		in   Size
		want uint64
		err  string
	}{
		{"1GiB", 1 << 30, ""},
		{"1G", 1 << 30, ""},
		{"512MiB", 512 << 20, ""},
		{"1.5GiB", 3 << 29, ""},
		{"10 GiB", 10 << 30, ""},
		{"2TiB", 2 << 40, ""},
		{"4096B", 4096, ""},
		{"2048", 0, "has no unit; write 2048MiB or 2048GiB"},
		{"", 0, "required"},
		{"GiB", 0, "is not a size"},
		{"-1GiB", 0, "is not a size"},
		{"1e3MiB", 0, "is not a size"},
		{"InfGiB", 0, "is not a size"},
		{"1GB", 0, "is not a size"},
		{"lots", 0, "is not a size"},
	}
	for _, tc := range tests {
		got, err := tc.in.Bytes()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Size(%q).Bytes() error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Size(%q).Bytes() = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}
