package lines

import (
	"errors"
	"strings"
	"testing"
)

func TestEach(t *testing.T) {
	var got []string
	err := Each(strings.NewReader("one\n\n  # a comment\n  two  \nthree"), func(n int, l string) error {
		got = append(got, l+"@"+string(rune('0'+n)))
		return nil
	})
	if err != nil || strings.Join(got, " ") != "one@1 two@4 three@5" {
		t.Errorf("%v %v", got, err)
	}
	stop := errors.New("stop")
	if err := Each(strings.NewReader("a\nb"), func(int, string) error { return stop }); err != stop {
		t.Errorf("%v", err)
	}
}
