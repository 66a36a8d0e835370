package phase

import (
	"errors"
	"testing"
	"time"
)

func TestTimeRecordsDurationAndError(t *testing.T) {
	var got []string
	var took time.Duration
	f := Func(func(name, node string, start time.Time, d time.Duration, err error) {
		got = append(got, name+"/"+node)
		took = d
		if name == "bad" && err == nil {
			t.Error("the error was not passed on")
		}
	})
	if err := f.Time("ssh ready", "node1", func() error { time.Sleep(20 * time.Millisecond); return nil }); err != nil {
		t.Fatal(err)
	}
	if took < 20*time.Millisecond {
		t.Errorf("duration %s", took)
	}
	boom := errors.New("boom")
	if err := f.Time("bad", "", func() error { return boom }); err != boom {
		t.Errorf("error %v", err)
	}
	if len(got) != 2 || got[0] != "ssh ready/node1" || got[1] != "bad/" {
		t.Errorf("phases %v", got)
	}
	var none Func
	if err := none.Time("x", "", func() error { return boom }); err != boom {
		t.Errorf("nil Func: %v", err)
	}
}
