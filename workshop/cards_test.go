package workshop

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/labctl/labctl/exercise/catalog"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
)

// Cards for two seats: each folder holds the seat's own key (0600), the
// nodes' host keys and the card; the card's ssh commands name the seat's
// addresses and files; rendered by headless Chromium, the card shows them.
func TestCardsInChromium(t *testing.T) {
	p, err := New(defaultTopology(t), Options{Name: "ws", Seats: 2})
	if err != nil {
		t.Fatal(err)
	}
	stateDirs := t.TempDir()
	var plans []*plan.Plan
	for _, s := range p.Seats {
		k := keys.Lab{Dir: filepath.Join(stateDirs, s.Lab), Lab: s.Lab}
		os.MkdirAll(k.Dir, 0o700)
		if _, err := k.User(); err != nil {
			t.Fatal(err)
		}
		for _, n := range s.Plan.Nodes {
			if _, err := k.Host(n.Name); err != nil {
				t.Fatal(err)
			}
		}
		plans = append(plans, s.Plan)
	}
	out := t.TempDir()
	cards, err := WriteCards(out, "ws", plans, func(lab string) string { return filepath.Join(stateDirs, lab) }, catalog.All())
	if err != nil {
		t.Fatal(err)
	}
	if len(cards) != 2 {
		t.Fatalf("%d cards", len(cards))
	}
	k1, _ := os.ReadFile(filepath.Join(out, "seat-01", "id_ed25519"))
	k2, _ := os.ReadFile(filepath.Join(out, "seat-02", "id_ed25519"))
	if len(k1) == 0 || string(k1) == string(k2) {
		t.Error("the seats do not each have their own key")
	}
	if fi, err := os.Stat(filepath.Join(out, "seat-01", "id_ed25519")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v", fi, err)
	}
	want := "ssh -i seat-02/id_ed25519 -o IdentitiesOnly=yes -o UserKnownHostsFile=seat-02/known_hosts -o StrictHostKeyChecking=yes lab@10.200.3.11"
	if cards[1].Nodes[0].SSH != want {
		t.Errorf("seat 2 node1: %q, want %q", cards[1].Nodes[0].SSH, want)
	}
	kh, _ := os.ReadFile(filepath.Join(out, "seat-02", "known_hosts"))
	if !strings.Contains(string(kh), "10.200.3.11") {
		t.Errorf("known_hosts lacks the seat's address:\n%s", kh)
	}
	dom, png := testenv.RenderInChromium(t, filepath.Join(out, "seat-02", "card.html"))
	text := strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(dom, " ")), " ")
	for _, w := range []string{"Workshop ws: seat 2", want, "user-bridge", "ws-s02"} {
		if !strings.Contains(text, w) {
			t.Errorf("the rendered card lacks %q", w)
		}
	}
	if len(png) < 1000 {
		t.Error("no screenshot")
	}
	idx, _ := testenv.RenderInChromium(t, filepath.Join(out, "index.html"))
	if !strings.Contains(idx, "seat-01/card.html") || !strings.Contains(idx, "seat-02/card.html") {
		t.Errorf("the index does not link both cards")
	}
}
