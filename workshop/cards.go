package workshop

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/hypervisor"
	"github.com/labctl/labctl/internal/atomicfile"
	"github.com/labctl/labctl/internal/termtext"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/provision"
	qrcode "github.com/skip2/go-qrcode"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Card is what one student is handed: how to log in and what to do.
type Card struct {
	Workshop string     `json:"workshop"`
	Seat     int        `json:"seat"`
	Lab      string     `json:"lab"`
	Student  string     `json:"student,omitempty"`
	Folder   string     `json:"folder"`         // the card's folder: key, ssh_config, known_hosts
	Jump     string     `json:"jump,omitempty"` // the jump host's address ("" : this machine only)
	Nodes    []CardNode `json:"nodes"`
	Labs     []CardLab  `json:"labs"`
	// Browser is the seat's link to 'workshop serve' (its token in it),
	// BrowserQR the same as a QR code (a PNG data URL), and Fingerprint
	// the SHA-256 of the server's certificate, to compare with what the
	// browser shows.
	Browser     string       `json:"browser,omitempty"`
	BrowserQR   template.URL `json:"-"`
	Fingerprint string       `json:"certificate_sha256,omitempty"`
}

// CardNode is one node of the seat and the command that logs into it.
type CardNode struct {
	Name     string `json:"name"`
	HostOnly string `json:"hostonly_address"`
	NAT      string `json:"nat_address"`
	SSH      string `json:"ssh"`
}

// CardLab is an exercise the seat can do, with the commands that build it
// by hand on this seat (its own subnets and addresses), each on its node.
type CardLab struct {
	Name  string             `json:"name"`
	Title string             `json:"title"`
	Steps []exercise.Command `json:"steps"`
}

// Jump is the students' jump host of a workshop: where laptops connect
// and its host key (authorized_keys format), which the cards pin.
type Jump struct {
	Addr    netip.AddrPort
	HostKey string
}

// JumpAlias is the jump host's name in a card's ssh_config ("labctl-" is
// a prefix no node alias may take).
const JumpAlias = "labctl-jump"

// CardOptions say what goes on the cards besides each seat's lab.
type CardOptions struct {
	// Jumps are how students' laptops reach the nodes, by the seat's
	// hypervisor ("" for this machine); a seat without one is reached
	// directly, which works on this machine only.
	Jumps map[string]*Jump
	// Names are the students, seat N's on line N ("" for none).
	Names     []string
	Exercises []*exercise.Exercise
	// Browser are the seats' links to 'workshop serve', seat N's at N-1,
	// and Fingerprint its certificate's SHA-256.
	Browser     []string
	Fingerprint string
}

// jump is the jump host of the seat p's hypervisor, or nil.
func (o CardOptions) jump(p *plan.Plan) *Jump { return o.Jumps[seatHypervisor(p).Name] }

// NewCard makes seat n's card. Its ssh commands read the ssh_config in
// the card's folder (relative to where the student saved it), so plain
// OpenSSH works and checks every host key.
func NewCard(workshop string, n int, p *plan.Plan, o CardOptions) (Card, error) {
	folder := fmt.Sprintf("seat-%02d", n)
	c := Card{Workshop: workshop, Seat: n, Lab: p.Lab, Folder: folder, Labs: []CardLab{}}
	if n <= len(o.Names) {
		c.Student = o.Names[n-1]
	}
	if j := o.jump(p); j != nil {
		c.Jump = j.Addr.String()
	}
	if n <= len(o.Browser) && o.Browser[n-1] != "" {
		png, err := qrcode.Encode(o.Browser[n-1], qrcode.Medium, 256)
		if err != nil {
			return c, fmt.Errorf("seat %d: the QR code of its link: %w", n, err)
		}
		c.Browser, c.Fingerprint = o.Browser[n-1], o.Fingerprint
		c.BrowserQR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	}
	for _, nd := range p.Nodes {
		c.Nodes = append(c.Nodes, CardNode{Name: nd.Name, HostOnly: nd.Addr(plan.RoleHostOnly), NAT: nd.Addr(plan.RoleNAT),
			SSH: fmt.Sprintf("ssh -F %s/ssh_config %s", folder, nd.SSHAlias)})
	}
	for _, e := range o.Exercises {
		if exercise.Fits(e, p) != nil {
			continue
		}
		l := CardLab{Name: e.Name, Title: e.Title, Steps: []exercise.Command{}}
		if e.Commands != nil {
			steps, err := e.Commands(p)
			if err != nil {
				return c, fmt.Errorf("seat %d: lab %s's steps: %w", n, e.Name, err)
			}
			l.Steps = steps
		}
		c.Labs = append(c.Labs, l)
	}
	return c, nil
}

// seatSSH is a card folder's ssh_config and known_hosts: the lab's own
// (provision.SSHConfig, with paths relative to where the folder is
// saved), through the jump host when there is one.
func seatSSH(c Card, p *plan.Plan, k keys.Lab, o CardOptions) (config, knownHosts []byte, err error) {
	kh, err := provision.KnownHosts(p, k)
	if err != nil {
		return nil, nil, err
	}
	var jump *provision.Jump
	if j := o.jump(p); j != nil {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(j.HostKey))
		if err != nil {
			return nil, nil, fmt.Errorf("the jump host's key: %w", err)
		}
		jump = &provision.Jump{Alias: JumpAlias, HostName: j.Addr.Addr().String(), Port: strconv.Itoa(int(j.Addr.Port())),
			User: hypervisor.JumpUser, Identity: c.Folder + "/id_ed25519", KnownHosts: c.Folder + "/" + provision.KnownHostsFile}
		kh = append(kh, knownhosts.Line([]string{knownhosts.Normalize(j.Addr.String())}, key)+"\n"...)
	}
	// Forward slashes: OpenSSH reads them on Windows too.
	cfg, err := provision.StudentSSHConfig(p, c.Folder, jump)
	if err != nil {
		return nil, nil, err
	}
	head := fmt.Sprintf("# Workshop %s, seat %d: from the folder that holds %s/, run\n#   %s\n", c.Workshop, c.Seat, c.Folder, c.Nodes[0].SSH)
	return append([]byte(head), cfg...), kh, nil
}

// WriteCards writes, under dir, one folder per seat (the card as HTML,
// text and JSON, the seat's private key, ssh_config and known_hosts), an
// index page for the instructor and cards.html, every card on one
// printable sheet (a page each). keyDir gives each seat's lab state
// directory.
func WriteCards(dir, workshop string, plans []*plan.Plan, keyDir func(lab string) string, o CardOptions) ([]Card, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var cards []Card
	for i, p := range plans {
		c, err := NewCard(workshop, i+1, p, o)
		if err != nil {
			return nil, err
		}
		folder := filepath.Join(dir, c.Folder)
		if err := os.MkdirAll(folder, 0o700); err != nil {
			return nil, err
		}
		k := keys.Lab{Dir: keyDir(p.Lab), Lab: p.Lab}
		key, err := os.ReadFile(k.UserKeyPath())
		if err != nil {
			return nil, fmt.Errorf("seat %d: the lab's key: %w (is the seat up?)", c.Seat, err)
		}
		cfg, kh, err := seatSSH(c, p, k, o)
		if err != nil {
			return nil, fmt.Errorf("seat %d: %w", c.Seat, err)
		}
		var html, text bytes.Buffer
		if err := cardHTML.ExecuteTemplate(&html, "page", c); err != nil {
			return nil, err
		}
		writeCardText(&text, c)
		js, _ := json.MarshalIndent(c, "", "  ")
		for name, data := range map[string][]byte{"id_ed25519": key, provision.KnownHostsFile: kh, provision.SSHConfigFile: cfg,
			"card.html": html.Bytes(), "card.txt": text.Bytes(), "card.json": append(js, '\n')} {
			if err := atomicfile.Write(filepath.Join(folder, name), data, 0o600); err != nil {
				return nil, err
			}
		}
		cards = append(cards, c)
	}
	var idx, all bytes.Buffer
	if err := indexHTML.Execute(&idx, struct {
		Workshop string
		Cards    []Card
	}{workshop, cards}); err != nil {
		return nil, err
	}
	if err := cardHTML.ExecuteTemplate(&all, "sheet", struct {
		Workshop string
		Cards    []Card
	}{workshop, cards}); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, "cards.html"), all.Bytes(), 0o600); err != nil {
		return nil, err
	}
	return cards, atomicfile.Write(filepath.Join(dir, "index.html"), idx.Bytes(), 0o600)
}

// ReadNames reads a names file: one student per line, in seat order (a
// blank line leaves that seat without a name). A name is at most 60
// characters, none of them a control character.
func ReadNames(file string, seats int) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n"), "\n")
	if len(lines) > seats {
		return nil, fmt.Errorf("%s: %d names for %d seats (one name per line, seat 1 first)", file, len(lines), seats)
	}
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if !utf8.ValidString(l) || strings.IndexFunc(l, unicode.IsControl) >= 0 {
			return nil, fmt.Errorf("%s:%d: a name with a control character or invalid UTF-8", file, i+1)
		}
		if utf8.RuneCountInString(l) > 60 {
			return nil, fmt.Errorf("%s:%d: a name of more than 60 characters", file, i+1)
		}
		lines[i] = l
	}
	return lines, nil
}

func writeCardText(b *bytes.Buffer, c Card) {
	fmt.Fprintf(b, "Workshop %s, seat %d (lab %s)\n", c.Workshop, c.Seat, c.Lab)
	if c.Student != "" {
		fmt.Fprintf(b, "Student: %s\n", c.Student)
	}
	fmt.Fprintf(b, "\nSave the folder %s/ and, from the folder that holds it, log in:\n", c.Folder)
	for _, n := range c.Nodes {
		fmt.Fprintf(b, "  %s (%s):\n    %s\n", n.Name, n.HostOnly, n.SSH)
	}
	if c.Jump == "" {
		b.WriteString("(These work on the workshop's machine itself only.)\n")
	}
	if c.Browser != "" {
		fmt.Fprintf(b, "\nOr in a browser, with a terminal on each node (keep this link to yourself):\n  %s\n  (the server's certificate: SHA-256 %s)\n", c.Browser, c.Fingerprint)
	}
	b.WriteString("\nLabs to do, and the commands that build each on your seat (type each on the node before the $):\n")
	// A lab file's title and steps are its author's text, read on a
	// student's terminal: through termtext.
	for _, l := range c.Labs {
		fmt.Fprintf(b, "\n  %s: %s\n", l.Name, termtext.Clean(l.Title))
		for _, s := range l.Steps {
			fmt.Fprintf(b, "    %s$ %s\n", s.On, termtext.Clean(s.Run))
		}
	}
	b.WriteString("\nYour instructor checks what you built.\n")
}

// cardHTML holds the card ("card"), a page of one card ("page") and the
// sheet of every card, a printed page each ("sheet"). Commands wrap only
// between words (a long step at a space), never inside one.
var cardHTML = template.Must(template.New("card").Parse(`{{define "style"}}<style>
body { font-family: system-ui, sans-serif; max-width: 48em; margin: 2em auto; padding: 0 1em; color: #1d2329; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; } h3 { font-size: 1em; margin-bottom: .2em; }
code, pre { background: #f5f7f9; font-size: .95em; }
pre { padding: .4em .6em; white-space: pre-wrap; overflow-wrap: break-word; word-break: normal; }
pre.ssh { font-size: 1.15em; white-space: pre; }
table { border-collapse: collapse; } td, th { border: 1px solid #dde3ea; padding: .2em .6em; text-align: left; }
.on { color: #5b6b7a; user-select: none; }
code.link, code.fp { overflow-wrap: anywhere; word-break: break-all; font-size: .8em; }
section.card + section.card { break-before: page; page-break-before: always; }
@media print { body { margin: 0; max-width: none; } }
</style>{{end}}
{{define "card"}}<section class="card">
<h1>Workshop {{.Workshop}}: seat <span class="seat">{{.Seat}}</span>{{if .Student}} &ndash; <span class="student">{{.Student}}</span>{{end}}</h1>
<p>Your lab is <code>{{.Lab}}</code>. Save the folder <code>{{.Folder}}/</code> (your key, <code>ssh_config</code> and the host keys) and, from the folder that holds it, log in:</p>
<table><tr><th>node</th><th>address</th><th>log in</th></tr>
{{range .Nodes}}<tr><td>{{.Name}}</td><td>{{.HostOnly}}</td><td><pre class="ssh">{{.SSH}}</pre></td></tr>
{{end}}</table>
{{if not .Jump}}<p>(These work on the workshop's machine itself only.)</p>{{end}}
{{if .Browser}}<h2>In a browser</h2>
<p class="browser"><img class="qr" alt="QR code of your seat's link" width="160" height="160" src="{{.BrowserQR}}"><br>
A terminal on each node, the labs and a check button: scan the code, or open <a href="{{.Browser}}"><code class="link">{{.Browser}}</code></a> (keep it to yourself: it opens your seat).<br>
The server's certificate, SHA-256: <code class="fp">{{.Fingerprint}}</code></p>{{end}}
<h2>Labs</h2>
<p>Type each command on the node named before it.</p>
{{range .Labs}}<h3><code>{{.Name}}</code>: {{.Title}}</h3>
{{if .Steps}}<pre class="steps">{{range .Steps}}<span class="on">{{.On}}$ </span>{{.Run}}
{{end}}</pre>{{else}}<p>(Built by labctl; nothing to type.)</p>{{end}}
{{end}}
<p>Your instructor checks what you built.</p>
</section>{{end}}
{{define "page"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Workshop}}: seat {{.Seat}}</title>
{{template "style"}}</head>
<body>
{{template "card" .}}
</body></html>
{{end}}
{{define "sheet"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Workshop}}: every card</title>
{{template "style"}}</head>
<body>
{{range .Cards}}{{template "card" .}}
{{end}}</body></html>
{{end}}`))

var indexHTML = template.Must(template.New("index").Funcs(template.FuncMap{"join": strings.Join}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Workshop}}: access cards</title>
<style>body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; } td, th { border: 1px solid #dde3ea; padding: .2em .6em; } table { border-collapse: collapse; }</style>
</head><body>
<h1>Workshop {{.Workshop}}: {{len .Cards}} seats</h1>
<p>Every card on one printable sheet, a page each: <a href="cards.html">cards.html</a></p>
<table><tr><th>seat</th><th>student</th><th>lab</th><th>nodes</th><th>card</th></tr>
{{range .Cards}}<tr><td>{{.Seat}}</td><td>{{.Student}}</td><td>{{.Lab}}</td><td>{{range .Nodes}}{{.Name}} {{.HostOnly}}<br>{{end}}</td><td><a href="{{.Folder}}/card.html">{{.Folder}}/card.html</a></td></tr>
{{end}}</table>
</body></html>
`))
