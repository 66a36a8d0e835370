package topology

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Size is an amount of memory or disk written with a binary unit: 512MiB,
// 1GiB, 1.5GiB, 20G (K, M, G and T are read as KiB, MiB, GiB and TiB, as
// QEMU does).
type Size string

var sizeNumber = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,6})?$`)

var units = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// Bytes parses the size.
func (s Size) Bytes() (uint64, error) {
	str := strings.TrimSpace(string(s))
	if str == "" {
		return 0, fmt.Errorf("required, e.g. 1GiB")
	}
	for _, u := range units {
		num, ok := strings.CutSuffix(str, u.suffix)
		if !ok {
			continue
		}
		num = strings.TrimSpace(num)
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || !sizeNumber.MatchString(num) {
			return 0, fmt.Errorf("%q is not a size; write a number and a unit, e.g. 1GiB or 512MiB", str)
		}
		if b := f * u.mult; b >= 1<<62 {
			return 0, fmt.Errorf("%q is too large", str)
		}
		return uint64(f * u.mult), nil
	}
	if _, err := strconv.ParseFloat(str, 64); err == nil {
		return 0, fmt.Errorf("%q has no unit; write %sMiB or %sGiB", str, str, str)
	}
	return 0, fmt.Errorf("%q is not a size; write a number and a unit (KiB, MiB, GiB, TiB), e.g. 1GiB", str)
}

// MiB returns the size in whole MiB, rounded down.
func (s Size) MiB() uint64 { b, _ := s.Bytes(); return b >> 20 }
