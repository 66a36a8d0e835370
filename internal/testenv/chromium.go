package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// RenderInChromium loads a page in headless Chromium and returns the DOM
// after loading and a PNG screenshot of it.
func RenderInChromium(t testing.TB, page string) (dom string, png []byte) {
	t.Helper()
	Tool(t, "chromium")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=" + filepath.Join(dir, "profile")}
	cmd := exec.CommandContext(ctx, "chromium", append(base, "--dump-dom", "file://"+page)...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	shot := filepath.Join(dir, "page.png")
	cmd = exec.CommandContext(ctx, "chromium", append(base, "--screenshot="+shot, "--window-size=1280,1600", "file://"+page)...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, o)
	}
	png, err = os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	return string(out), png
}
