package workshop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/internal/atomicfile"
	"github.com/labctl/labctl/keys"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/provision"
)

// Card is what one student is handed: how to log in and what to do.
type Card struct {
	Workshop string     `json:"workshop"`
	Seat     int        `json:"seat"`
	Lab      string     `json:"lab"`
	Folder   string     `json:"folder"` // the card's folder, with the key and known_hosts
	Nodes    []CardNode `json:"nodes"`
	Labs     []CardLab  `json:"labs"`
}

// CardNode is one node of the seat and the command that logs into it.
type CardNode struct {
	Name     string `json:"name"`
	HostOnly string `json:"hostonly_address"`
	NAT      string `json:"nat_address"`
	SSH      string `json:"ssh"`
}

// CardLab is an exercise the seat can do.
type CardLab struct {
	Name  string `json:"name"`
	Title string `json:"title"`
}

// NewCard makes seat s's card; the ssh commands use the key and
// known_hosts files in the card's folder (relative to where the student
// saved it), so plain OpenSSH works and checks the host key.
func NewCard(workshop string, n int, p *plan.Plan, exercises []*exercise.Exercise) Card {
	folder := fmt.Sprintf("seat-%02d", n)
	c := Card{Workshop: workshop, Seat: n, Lab: p.Lab, Folder: folder}
	for _, nd := range p.Nodes {
		c.Nodes = append(c.Nodes, CardNode{Name: nd.Name, HostOnly: nd.Addr(plan.RoleHostOnly), NAT: nd.Addr(plan.RoleNAT),
			SSH: fmt.Sprintf("ssh -i %s/id_ed25519 -o IdentitiesOnly=yes -o UserKnownHostsFile=%s/known_hosts -o StrictHostKeyChecking=yes %s@%s",
				folder, folder, p.User, nd.Addr(plan.RoleHostOnly))})
	}
	for _, e := range exercises {
		if exercise.Fits(e, p) == nil {
			c.Labs = append(c.Labs, CardLab{e.Name, e.Title})
		}
	}
	return c
}

// WriteCards writes, under dir, one folder per seat (the card as HTML,
// text and JSON, the seat's private key and known_hosts) and an index page
// for the instructor. keyDir gives each seat's lab state directory.
func WriteCards(dir, workshop string, plans []*plan.Plan, keyDir func(lab string) string, exercises []*exercise.Exercise) ([]Card, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var cards []Card
	for i, p := range plans {
		c := NewCard(workshop, i+1, p, exercises)
		folder := filepath.Join(dir, c.Folder)
		if err := os.MkdirAll(folder, 0o700); err != nil {
			return nil, err
		}
		k := keys.Lab{Dir: keyDir(p.Lab), Lab: p.Lab}
		key, err := os.ReadFile(filepath.Join(k.Dir, "id_ed25519"))
		if err != nil {
			return nil, fmt.Errorf("seat %d: the lab's key: %w (is the seat up?)", c.Seat, err)
		}
		kh, err := provision.KnownHosts(p, k)
		if err != nil {
			return nil, fmt.Errorf("seat %d: %w", c.Seat, err)
		}
		var html, text bytes.Buffer
		if err := cardHTML.Execute(&html, c); err != nil {
			return nil, err
		}
		writeCardText(&text, c)
		js, _ := json.MarshalIndent(c, "", "  ")
		for name, data := range map[string][]byte{"id_ed25519": key, "known_hosts": kh, "card.html": html.Bytes(), "card.txt": text.Bytes(), "card.json": append(js, '\n')} {
			if err := atomicfile.Write(filepath.Join(folder, name), data, 0o600); err != nil {
				return nil, err
			}
		}
		cards = append(cards, c)
	}
	var idx bytes.Buffer
	if err := indexHTML.Execute(&idx, struct {
		Workshop string
		Cards    []Card
	}{workshop, cards}); err != nil {
		return nil, err
	}
	return cards, atomicfile.Write(filepath.Join(dir, "index.html"), idx.Bytes(), 0o600)
}

func writeCardText(b *bytes.Buffer, c Card) {
	fmt.Fprintf(b, "Workshop %s, seat %d (lab %s)\n\nLog in (from the folder holding %s/):\n", c.Workshop, c.Seat, c.Lab, c.Folder)
	for _, n := range c.Nodes {
		fmt.Fprintf(b, "  %s (%s, NAT %s):\n    %s\n", n.Name, n.HostOnly, n.NAT, n.SSH)
	}
	b.WriteString("\nLabs to do ('labctl lab explain NAME' shows the commands):\n")
	for _, l := range c.Labs {
		fmt.Fprintf(b, "  %-14s %s\n", l.Name, l.Title)
	}
	b.WriteString("\nYour instructor checks them with 'labctl workshop check NAME --check-only'.\n")
}

var cardHTML = template.Must(template.New("card").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Workshop}}: seat {{.Seat}}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 48em; margin: 2em auto; padding: 0 1em; color: #1d2329; }
h1 { font-size: 1.4em; } code, pre { background: #f5f7f9; } pre { padding: .5em; white-space: pre-wrap; word-break: break-all; }
table { border-collapse: collapse; } td, th { border: 1px solid #dde3ea; padding: .2em .6em; text-align: left; }
@media print { body { margin: 0; } }
</style></head>
<body>
<h1>Workshop {{.Workshop}}: seat <span id="seat">{{.Seat}}</span></h1>
<p>Your lab is <code>{{.Lab}}</code>. Save the folder <code>{{.Folder}}/</code> (your key and the nodes' host keys) and log in from where it is:</p>
{{range .Nodes}}<h2>{{.Name}}</h2>
<p>host-only {{.HostOnly}}, NAT {{.NAT}}</p>
<pre class="ssh">{{.SSH}}</pre>
{{end}}
<h2>Labs to do</h2>
<table><tr><th>lab</th><th>what</th></tr>
{{range .Labs}}<tr><td><code>{{.Name}}</code></td><td>{{.Title}}</td></tr>
{{end}}</table>
<p>Your instructor checks what you built with <code>labctl workshop check NAME --check-only</code>.</p>
</body></html>
`))

var indexHTML = template.Must(template.New("index").Funcs(template.FuncMap{"join": strings.Join}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Workshop}}: access cards</title>
<style>body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; } td, th { border: 1px solid #dde3ea; padding: .2em .6em; } table { border-collapse: collapse; }</style>
</head><body>
<h1>Workshop {{.Workshop}}: {{len .Cards}} seats</h1>
<table><tr><th>seat</th><th>lab</th><th>nodes</th><th>card</th></tr>
{{range .Cards}}<tr><td>{{.Seat}}</td><td>{{.Lab}}</td><td>{{range .Nodes}}{{.Name}} {{.HostOnly}}<br>{{end}}</td><td><a href="{{.Folder}}/card.html">{{.Folder}}/card.html</a></td></tr>
{{end}}</table>
</body></html>
`))
