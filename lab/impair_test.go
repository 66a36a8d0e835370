package lab

import (
	"strings"
	"testing"
	"time"
)

func TestNetemArguments(t *testing.T) {
	for _, tc := range []struct {
		im   Impairment
		want string
		err  string
	}{
		{Impairment{Delay: 100 * time.Millisecond}, "delay 100ms", ""},
		{Impairment{Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 5, Rate: "1mbit"}, "delay 100ms 10ms loss 5% rate 1mbit", ""},
		{Impairment{Loss: 0.5}, "loss 0.5%", ""},
		{Impairment{}, "", "nothing to do"},
		{Impairment{Delay: time.Second, Jitter: 2 * time.Second}, "", "jitter 2s: at most the delay"},
		{Impairment{Loss: 101}, "", "loss 101%: 0 to 100"},
		{Impairment{Rate: "1mbit; reboot"}, "", `rate "1mbit; reboot"`},
		{Impairment{Delay: 2 * time.Minute}, "", "delay 2m0s: 0 to 1m"},
	} {
		got, err := tc.im.netem()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: err %v, want %q", tc.im, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.im, got, err, tc.want)
		}
	}
	if v, err := ParseLoss("5%"); err != nil || v != 5 {
		t.Errorf("ParseLoss: %v %v", v, err)
	}
	if _, err := ParseLoss("lots"); err == nil {
		t.Error("ParseLoss accepted lots")
	}
}
