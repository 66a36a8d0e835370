// Package state keeps what labctl knows about a lab between runs: one
// directory per lab under the user's XDG state directory (mode 0700) holding
// keys, known_hosts, the ssh config, logs and a state file that is always
// written atomically, plus a lock so that two labctl processes never work
// on the same lab at once.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/labctl/labctl/internal/atomicfile"
)

// Root is the directory that holds every lab: $XDG_STATE_HOME/labctl, or
// ~/.local/state/labctl.
func Root() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "labctl"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the state directory: set XDG_STATE_HOME or HOME: %w", err)
	}
	return filepath.Join(home, ".local", "state", "labctl"), nil
}

// Dir is one lab's state directory.
type Dir struct {
	Lab  string
	Path string
}

// Open creates (if needed) and returns the lab's directory under root,
// making sure it is private to the user (0700) even if it existed before.
//
// It trusts nothing it finds there: the lab's keys and pinned host keys
// live in it, so a directory that is a symbolic link (labctl would chmod
// and fill its target) or that belongs to another user (who could plant a
// host key to be pinned) is refused with what to do.
func Open(root, lab string) (*Dir, error) {
	p := labPath(root, lab)
	if err := os.MkdirAll(p, 0o700); err != nil {
		return nil, fmt.Errorf("lab %s: create state directory: %w", lab, err)
	}
	for i, d := range []string{root, filepath.Join(root, "labs"), p} {
		// The root may be a link the user made to another disk; what
		// labctl creates below it never is.
		if err := checkOwnDir(d, i == 0); err != nil {
			return nil, fmt.Errorf("lab %s: %w", lab, err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("lab %s: %w", lab, err)
		}
	}
	return &Dir{Lab: lab, Path: p}, nil
}

// checkOwnDir accepts a directory of the user's own (not a symbolic link,
// unless followLink).
func checkOwnDir(d string, followLink bool) error {
	fi, err := os.Lstat(d)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if !followLink {
			return fmt.Errorf("%s is a symbolic link; labctl keeps a lab's keys only in a directory of its own: remove the link and run the command again", d)
		}
		if fi, err = os.Stat(d); err != nil {
			return err
		}
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory; move it away and run the command again", d)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, not to you (uid %d): its keys and pinned host keys cannot be trusted; remove it, or run labctl as its owner", d, st.Uid, os.Geteuid())
	}
	return nil
}

// Join returns a path inside the lab's directory.
func (d *Dir) Join(elem ...string) string {
	return filepath.Join(append([]string{d.Path}, elem...)...)
}

// StateFile is the name of the lab's state file inside its directory.
const StateFile = "state.json"

// Save writes v as the lab's state file, atomically, mode 0600.
func (d *Dir) Save(v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("lab %s: encode state: %w", d.Lab, err)
	}
	if err := atomicfile.Write(d.Join(StateFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("lab %s: save state: %w", d.Lab, err)
	}
	return nil
}

// ErrNoState means the lab has no state file (never brought up, or removed).
var ErrNoState = errors.New("no state file")

// Load reads the lab's state file into v.
func (d *Dir) Load(v any) error {
	data, err := os.ReadFile(d.Join(StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lab %s: %w", d.Lab, ErrNoState)
	}
	if err != nil {
		return fmt.Errorf("lab %s: read state: %w", d.Lab, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("lab %s: state file %s is damaged (%v); `labctl down` still finds the lab's objects without it", d.Lab, d.Join(StateFile), err)
	}
	return nil
}

// State is the lab's record of what it is and what happened to it.
type State struct {
	Lab      string `json:"lab"`
	Topology string `json:"topology,omitempty"` // file the lab was brought up from, "" for the default
	// TopologySHA256 is the file's content hash at that up: a later
	// command given a changed file says so instead of acting on a mix.
	TopologySHA256 string    `json:"topology_sha256,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	Phases         []Phase   `json:"phases,omitempty"`
	// Image is the image the lab's first up chose for a topology that
	// names none (the Docker-ready one, or the plain one when the cache
	// lacked it): later ups keep it, so a lab's nodes never mix images.
	Image string `json:"image,omitempty"`
	// Impaired is the link impairment labctl put on nodes' interfaces
	// ("node1/ens33": "delay 100ms loss 5%"), for status and lab run.
	Impaired map[string]string `json:"impaired,omitempty"`
}

// Phase is one timed step of bringing a lab up or running it.
type Phase struct {
	Name     string        `json:"name"`
	Node     string        `json:"node,omitempty"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`
}

// Recorded reads a lab's state without creating anything: the zero State
// and ErrNoState (wrapped) when the lab has none.
func Recorded(root, lab string) (State, error) {
	var st State
	err := (&Dir{Lab: lab, Path: labPath(root, lab)}).Load(&st)
	return st, err
}

// labPath is where a lab's state directory is under root.
func labPath(root, lab string) string { return filepath.Join(root, "labs", lab) }
