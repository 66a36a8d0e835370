package graph

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"os"
	"strings"
	"testing"

	"github.com/labctl/labctl/internal/golden"
	"github.com/labctl/labctl/internal/testenv"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/plan/plantest"
)

func defaultPlan(t *testing.T) *plan.Plan { return plantest.New(t, "default", "") }

// svgTitles returns the <title> of every node <g> in an SVG from dot.
func svgTitles(t *testing.T, svg []byte) map[string]bool {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	dec.Strict = false
	titles := map[string]bool{}
	inNode := false
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Local == "g" {
				for _, a := range e.Attr {
					if a.Name.Local == "class" && a.Value == "node" {
						inNode = true
					}
				}
			}
			if e.Name.Local == "title" && inNode {
				var s string
				dec.DecodeElement(&s, &e)
				titles[s] = true
				inNode = false
			}
		}
	}
	return titles
}

// The SVG Graphviz renders has every network, VLAN and node interface of
// the plan, and every node's name in its text.
func TestSVGHasEveryNodeAndVLAN(t *testing.T) {
	testenv.Tool(t, "dot")
	p := defaultPlan(t)
	svg, err := SVG(context.Background(), DOT(p, nil))
	if err != nil {
		t.Fatal(err)
	}
	titles := svgTitles(t, svg)
	for _, id := range nodeIDs(p) {
		if !titles[id] {
			t.Errorf("the SVG has no node %q", id)
		}
	}
	for _, n := range p.Nodes {
		if !bytes.Contains(svg, []byte(">"+n.Name+" (")) {
			t.Errorf("the SVG does not name %s", n.Name)
		}
	}
	for _, v := range p.VLANs {
		if !titles[vlanID(v.ID)] {
			t.Errorf("no VLAN %d", v.ID)
		}
	}
}

// Live state adds each node's Docker networks and containers.
func TestLiveAddsDockerNetworks(t *testing.T) {
	p := defaultPlan(t)
	live := map[string]Live{"node1": {Networks: []LiveNetwork{{Name: "greatwall", Driver: "bridge", Subnet: "172.18.0.0/16", Containers: []string{"beijing 172.18.0.2"}}}}}
	d := DOT(p, live)
	m := Mermaid(p, live)
	for _, want := range []string{`"docker:node1:greatwall"`, `beijing 172.18.0.2`} {
		if !strings.Contains(d, want) {
			t.Errorf("DOT lacks %s", want)
		}
	}
	if !strings.Contains(m, "docker greatwall (bridge)") || !strings.Contains(m, "beijing 172.18.0.2") {
		t.Errorf("Mermaid lacks the live network:\n%s", m)
	}
}

func TestDOTAndMermaidGolden(t *testing.T) {
	p := defaultPlan(t)
	golden.Check(t, "testdata/default.dot", []byte(DOT(p, nil)))
	golden.Check(t, "testdata/default.mmd", []byte(Mermaid(p, nil)))
}

// The picture in the README is what 'labctl graph --format svg' draws for
// the default lab: the SVG carries the hash of the DOT it was made from,
// and, where Graphviz is installed, renders the same again.
func TestReadmePicture(t *testing.T) {
	dot := DOT(defaultPlan(t), nil)
	sum := sha256.Sum256([]byte(dot))
	want := hex.EncodeToString(sum[:])
	path := "../docs/default-lab.svg"
	if *golden.Update {
		svg, err := SVG(context.Background(), dot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, Stamp(svg, dot), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(have, []byte("sha256 of the DOT: "+want)) {
		t.Fatalf("%s was not drawn from today's graph; run: go test ./graph -run TestReadmePicture -update", path)
	}
}

// A spread lab's picture says which hypervisor each node runs on and that
// its networks span them.
func TestSpreadLabShowsHypervisors(t *testing.T) {
	p := plantest.New(t, "spread", plantest.TwoHypervisors)
	for name, out := range map[string]string{"dot": DOT(p, nil), "mermaid": Mermaid(p, nil)} {
		if !strings.Contains(out, "hypervisors hv1, hv2 (networks joined by VXLAN, UDP 4792, MTU 1450)") {
			t.Errorf("%s: no hypervisors label:\n%s", name, out)
		}
	}
	if dot := DOT(p, nil); !strings.Contains(dot, "node2 (1 CPU, 1024 MiB, on hv2)") || !strings.Contains(dot, "node1 (1 CPU, 1024 MiB, on hv1)") {
		t.Errorf("nodes' hypervisors missing:\n%s", dot)
	}
}
