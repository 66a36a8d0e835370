package workshop

import (
	"bytes"
	"encoding/base64"
	"fmt"
	stdpng "image/png"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/labctl/labctl/exercise"
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
	hostKey, _ := keys.Generate("jump")
	// A lab file's author writes escape sequences into a title and a step.
	hostile := &exercise.Exercise{Name: "hostile", Title: "tea\x1b]0;owned\x07", MinNodes: 1,
		Commands: func(*plan.Plan) ([]exercise.Command, error) {
			return []exercise.Command{{On: "node1", Run: "echo hi\x1b[2J\rrm -rf /"}}, nil
		}}
	o := CardOptions{Exercises: append(catalog.All(), hostile), Names: []string{"", "Ada <b>Lovelace</b>"},
		Jumps:   map[string]*Jump{"": {Addr: netip.MustParseAddrPort("198.51.100.1:2222"), HostKey: hostKey.AuthorizedKey()}},
		Browser: []string{"", "https://198.51.100.1:8443/seat/2/?t=tok2"}, Fingerprint: "AB:CD"}
	cards, err := WriteCards(out, "ws", plans, func(lab string) string { return filepath.Join(stateDirs, lab) }, o)
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
	want := "ssh -F seat-02/ssh_config node1"
	if cards[1].Nodes[0].SSH != want {
		t.Errorf("seat 2 node1: %q, want %q", cards[1].Nodes[0].SSH, want)
	}
	kh, _ := os.ReadFile(filepath.Join(out, "seat-02", "known_hosts"))
	if !strings.Contains(string(kh), "10.200.3.11 ") || !strings.Contains(string(kh), "[198.51.100.1]:2222 "+strings.TrimSpace(hostKey.AuthorizedKey())) {
		t.Errorf("known_hosts lacks the seat's node or the jump host:\n%s", kh)
	}
	// OpenSSH itself reads the folder's ssh_config (ssh -G evaluates it
	// and connects nowhere): node1 through the jump host, both with the
	// seat's key and known_hosts, relative to where the folder is saved.
	testenv.Tool(t, "ssh")
	resolved := func(host string) string {
		c := exec.Command("ssh", "-G", "-F", "seat-02/ssh_config", host)
		c.Dir = out
		b, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("ssh -G %s: %v\n%s", host, err, b)
		}
		return string(b)
	}
	for host, lines := range map[string][]string{
		"node1":       {"hostname 10.200.3.11", "user lab", "proxyjump labctl-jump", "identityfile seat-02/id_ed25519", "userknownhostsfile seat-02/known_hosts", "stricthostkeychecking true", "identitiesonly yes"},
		"labctl-jump": {"hostname 198.51.100.1", "port 2222", "user labctl-jump", "identityfile seat-02/id_ed25519", "userknownhostsfile seat-02/known_hosts", "stricthostkeychecking true", "forwardagent no", "identitiesonly yes", "loglevel INFO"},
	} {
		got := resolved(host)
		for _, l := range lines {
			if !strings.Contains(got, "\n"+l+"\n") {
				t.Errorf("ssh -G -F seat-02/ssh_config %s lacks %q", host, l)
			}
		}
	}
	// Each lab's steps carry the seat's own values: seat 2's macvlan is
	// on its NAT subnet, not the tutorial's.
	var macvlan *CardLab
	for i := range cards[1].Labs {
		if cards[1].Labs[i].Name == "macvlan" {
			macvlan = &cards[1].Labs[i]
		}
	}
	if macvlan == nil || len(macvlan.Steps) == 0 || !strings.Contains(fmt.Sprint(macvlan.Steps), "--subnet "+p.Seats[1].NAT) {
		t.Errorf("seat 2's macvlan steps lack its NAT subnet %s: %+v", p.Seats[1].NAT, macvlan)
	}
	txt, _ := os.ReadFile(filepath.Join(out, "seat-02", "card.txt"))
	if strings.ContainsAny(string(txt), "\x1b\x07\r") || !strings.Contains(string(txt), `echo hi\x1b[2J\x0drm -rf /`) {
		t.Errorf("card.txt carries a lab file's control characters as they are:\n%q", txt)
	}
	if cards[1].Student != "Ada <b>Lovelace</b>" || cards[0].Student != "" {
		t.Errorf("students: %q, %q", cards[0].Student, cards[1].Student)
	}
	dom, png := testenv.RenderInChromium(t, filepath.Join(out, "seat-02", "card.html"))
	text := strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(dom, " ")), " ")
	if strings.Contains(dom, "<b>Lovelace") || !strings.Contains(dom, "Ada &lt;b&gt;Lovelace&lt;/b&gt;") {
		t.Error("the student's name is not on the card as text")
	}
	for _, w := range []string{"Workshop ws: seat 2", want, "user-bridge", "ws-s02", "node1$ docker network create -d macvlan --subnet " + p.Seats[1].NAT} {
		if !strings.Contains(text, w) {
			t.Errorf("the rendered card lacks %q", w)
		}
	}
	if len(png) < 1000 {
		t.Error("no screenshot")
	}
	// The browser link, as text and as a QR code (a PNG that decodes),
	// with the certificate's fingerprint; seat 1 was given none.
	if cards[0].Browser != "" || cards[1].Browser != "https://198.51.100.1:8443/seat/2/?t=tok2" || cards[1].Fingerprint != "AB:CD" {
		t.Errorf("browser links: %q, %q", cards[0].Browser, cards[1].Browser)
	}
	if !strings.Contains(text, "https://198.51.100.1:8443/seat/2/?t=tok2") || !strings.Contains(text, "SHA-256: AB:CD") || !strings.Contains(string(txt), "https://198.51.100.1:8443/seat/2/?t=tok2") {
		t.Errorf("the card lacks its browser link or fingerprint")
	}
	m := regexp.MustCompile(`<img class="qr"[^>]* src="data:image/png;base64,([^"]+)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no QR code on the card")
	}
	raw, _ := base64.StdEncoding.DecodeString(m[1])
	if img, err := stdpng.Decode(bytes.NewReader(raw)); err != nil || img.Bounds().Dx() != 256 {
		t.Errorf("the QR code is not a 256 px PNG: %v", err)
	}
	if one, _ := os.ReadFile(filepath.Join(out, "seat-01", "card.html")); strings.Contains(string(one), `class="qr"`) {
		t.Error("seat 1's card has a QR code without a link")
	}
	idx, _ := testenv.RenderInChromium(t, filepath.Join(out, "index.html"))
	if !strings.Contains(idx, "seat-01/card.html") || !strings.Contains(idx, "seat-02/card.html") || !strings.Contains(idx, "cards.html") {
		t.Errorf("the index does not link both cards and the sheet")
	}
	sheet, _ := testenv.RenderInChromium(t, filepath.Join(out, "cards.html"))
	if strings.Count(sheet, `<section class="card">`) != 2 || !strings.Contains(sheet, "ssh -F seat-01/ssh_config node1") || !strings.Contains(sheet, want) {
		t.Errorf("the sheet does not hold both cards")
	}
}

func TestReadNames(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "names.txt")
	os.WriteFile(f, []byte("Ada Lovelace\r\n\n  Grace Hopper \n"), 0o644)
	names, err := ReadNames(f, 3)
	if err != nil || len(names) != 3 || names[0] != "Ada Lovelace" || names[1] != "" || names[2] != "Grace Hopper" {
		t.Fatalf("%q %v", names, err)
	}
	if _, err := ReadNames(f, 2); err == nil || !strings.Contains(err.Error(), "3 names for 2 seats") {
		t.Errorf("too many names: %v", err)
	}
	os.WriteFile(f, []byte("Ada\nEve \x1b[2J\n"), 0o644)
	if _, err := ReadNames(f, 3); err == nil || !strings.Contains(err.Error(), "names.txt:2:") {
		t.Errorf("a name with an escape sequence: %v", err)
	}
}
