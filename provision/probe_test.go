package provision

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// localShell is a Runner that runs commands with the local sh in a home
// directory of its own: the node's side of probeNode, for real.
type localShell struct{ home string }

func (l localShell) Run(ctx context.Context, cmd string) ([]byte, error) {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Env = append(os.Environ(), "HOME="+l.home)
	return c.Output()
}

func (l localShell) Upload(ctx context.Context, r io.Reader, size int64, dst string, perm os.FileMode) error {
	panic("not used")
}

// Partial uploads of a run whose connection was lost are removed by the
// next run's first command; complete files stay.
func TestProbeRemovesPartialUploads(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, remoteBundle)
	os.MkdirAll(dir, 0o755)
	part := filepath.Join(dir, "docker.io_1.deb.part")
	top := filepath.Join(home, remoteDir, "busybox.tar.part")
	whole := filepath.Join(dir, "runc_1.deb")
	for _, f := range []string{part, top, whole} {
		os.WriteFile(f, []byte("x"), 0o644)
	}
	st, err := probeNode(context.Background(), localShell{home}, "lab")
	if err != nil {
		t.Fatal(err)
	}
	if st.home != home {
		t.Errorf("home %q", st.home)
	}
	for _, f := range []string{part, top} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("partial upload %s still there: %v", f, err)
		}
	}
	if _, err := os.Stat(whole); err != nil {
		t.Errorf("a complete file was removed: %v", err)
	}
}
