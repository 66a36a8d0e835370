package state

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenIsPrivate(t *testing.T) {
	root := filepath.Join(t.TempDir(), "labctl")
	if err := os.MkdirAll(root, 0o755); err != nil { // a too-open existing dir
		t.Fatal(err)
	}
	d, err := Open(root, "lab1")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{root, d.Path} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %v, want 0700", p, fi.Mode().Perm())
		}
	}
}

// A lab directory that is a symbolic link is refused, and its target is
// left as it was (Open used to chmod it to 0700 and fill it).
func TestOpenRefusesALinkedLabDirectory(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "labctl")
	os.MkdirAll(filepath.Join(root, "labs"), 0o700)
	target := filepath.Join(base, "elsewhere")
	os.Mkdir(target, 0o755)
	os.Chmod(target, 0o755)
	if err := os.Symlink(target, filepath.Join(root, "labs", "lab1")); err != nil {
		t.Fatal(err)
	}
	_, err := Open(root, "lab1")
	if err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Fatalf("Open through a link: %v", err)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o755 {
		t.Errorf("the link's target was changed to %v", fi.Mode().Perm())
	}
	// The root itself may be a link to a directory of the user's own.
	linked := filepath.Join(base, "linked-root")
	os.Symlink(root, linked)
	if _, err := Open(linked, "lab2"); err != nil {
		t.Errorf("a linked root of one's own: %v", err)
	}
}

// A lab directory of another user is refused: it could hold host keys
// planted to be pinned.
func TestOpenRefusesADirectoryOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another user")
	}
	root := filepath.Join(t.TempDir(), "labctl")
	lab := filepath.Join(root, "labs", "lab1")
	os.MkdirAll(lab, 0o700)
	if err := os.Chown(lab, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Open(root, "lab1")
	if err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Fatalf("Open of another user's directory: %v", err)
	}
}

// The lock is never taken through a link: its holder line would be
// written into the link's target.
func TestLockRefusesALink(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "labctl"), "lab1")
	if err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o600)
	os.Symlink(victim, d.Join("lock"))
	if _, err := d.Lock("up"); err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Fatalf("Lock through a link: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the link's target now holds %q", b)
	}
}

func TestRootFollowsXDG(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/tmp/xdg-test")
	if r, _ := Root(); r != "/tmp/xdg-test/labctl" {
		t.Errorf("Root = %s", r)
	}
	t.Setenv("XDG_STATE_HOME", "relative/not/allowed")
	t.Setenv("HOME", "/home/u")
	if r, _ := Root(); r != "/home/u/.local/state/labctl" {
		t.Errorf("Root = %s", r)
	}
}

func TestSaveLoadAtomic(t *testing.T) {
	d, err := Open(t.TempDir(), "lab1")
	if err != nil {
		t.Fatal(err)
	}
	var s State
	if err := d.Load(&s); !errors.Is(err, ErrNoState) {
		t.Fatalf("Load before Save: %v, want ErrNoState", err)
	}
	in := State{Lab: "lab1", CreatedAt: time.Unix(1700000000, 0).UTC(), Phases: []Phase{{Name: "networks", Duration: time.Second}}}
	if err := d.Save(in); err != nil {
		t.Fatal(err)
	}
	var out State
	if err := d.Load(&out); err != nil {
		t.Fatal(err)
	}
	if out.Lab != "lab1" || len(out.Phases) != 1 || out.Phases[0].Duration != time.Second {
		t.Errorf("round trip: %+v", out)
	}
	fi, _ := os.Stat(d.Join(StateFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(d.Path)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	// A damaged file is reported as such, naming the path.
	os.WriteFile(d.Join(StateFile), []byte("{not json"), 0o600)
	if err := d.Load(&out); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged state: %v", err)
	}
}

func TestLockIsExclusiveAndNamesTheHolder(t *testing.T) {
	d, err := Open(t.TempDir(), "lab1")
	if err != nil {
		t.Fatal(err)
	}
	l1, err := d.Lock("labctl up")
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Lock("labctl down")
	var be *BusyError
	if !errors.As(err, &be) || !errors.Is(err, ErrBusy) {
		t.Fatalf("second lock: %v, want BusyError", err)
	}
	if be.PID != os.Getpid() || be.Command != "labctl up" {
		t.Errorf("BusyError names %d %q", be.PID, be.Command)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("pid %d (labctl up)", os.Getpid())) {
		t.Errorf("message: %v", err)
	}
	if err := l1.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := d.Lock("labctl down")
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
}

// The helper process takes the lock and waits to be killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("LABCTL_TEST_HOLD_LOCK"); dir != "" {
		d := &Dir{Lab: "lab1", Path: dir}
		if _, err := d.Lock("labctl up (helper)"); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("LOCKED")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestLockHeldByAnotherProcessThenTakenOverWhenItDies(t *testing.T) {
	d, err := Open(t.TempDir(), "lab1")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LABCTL_TEST_HOLD_LOCK="+d.Path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "LOCKED") {
		t.Fatalf("helper: %q", buf[:n])
	}
	_, err = d.Lock("labctl status")
	var be *BusyError
	if !errors.As(err, &be) || be.PID != cmd.Process.Pid || be.Command != "labctl up (helper)" {
		t.Fatalf("lock held by helper pid %d: got %v", cmd.Process.Pid, err)
	}
	// The holder crashes: its lock is stale and is taken over at once.
	cmd.Process.Kill()
	cmd.Wait()
	l, err := d.Lock("labctl up")
	if err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	defer l.Unlock()
	data, _ := os.ReadFile(d.Join("lock"))
	if !strings.HasPrefix(string(data), fmt.Sprint(os.Getpid())) {
		t.Errorf("lock file does not name the new holder: %q", data)
	}
}
