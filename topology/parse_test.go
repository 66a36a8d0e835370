package topology

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestParseRejectsUnknownFieldsWithLineAndPath(t *testing.T) {
	src := `libvirt:
  uri: qemu:///system
nodes:
  - name: node1
    memroy: 1GiB
  - name: node2
    cpu: 2
colour: blue
`
	_, err := Parse("lab.yaml", []byte(src))
	if err == nil {
		t.Fatal("Parse accepted unknown fields")
	}
	ps, ok := err.(Problems)
	if !ok {
		t.Fatalf("error is %T, want Problems: %v", err, err)
	}
	want := []string{
		`lab.yaml:5: nodes[0].memroy: unknown field (did you mean "memory"?)`,
		`lab.yaml:7: nodes[1].cpu: unknown field (did you mean "cpus"?)`,
		`lab.yaml:8: colour: unknown field (known fields: docker, image, libvirt, networks, nodes, outside, user, vlans)`,
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i := range want {
		if ps[i].String() != want[i] {
			t.Errorf("problem %d:\n got %s\nwant %s", i, ps[i], want[i])
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", "the file is empty"},
		{"comment only", "# nothing\n", "the file is empty"},
		{"list", "- a\n- b\n", "must be a mapping"},
		{"scalar", "hello\n", "must be a mapping"},
		{"two documents", "image: a\n---\nimage: b\n", "lab.yaml:2: a second YAML document"},
		{"duplicate key", "image: a\nimage: b\n", `mapping key "image" already defined`},
		{"wrong type", "nodes:\n  - name: n1\n    cpus: two\n", "line 3: cannot unmarshal !!str `two` into int"},
		{"bad yaml", "nodes: [\n", "lab.yaml: yaml:"},
		{"nodes not a list", "nodes: node1\n", "cannot unmarshal !!str `node1` into []topology.Node"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("lab.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tc.src)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "lab.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestDefaultIsValid(t *testing.T) {
	d := Default()
	ApplyDefaults(d)
	if ps := Validate(d); len(ps) > 0 {
		t.Fatalf("default topology is invalid: %v", ps)
	}
	if len(d.Nodes) != 3 || d.Nodes[0].Name != "node1" || d.Nodes[2].Name != "node3" {
		t.Errorf("default nodes: %+v", d.Nodes)
	}
	if d.Networks.NAT.Subnet != "192.168.241.0/24" || d.Networks.NAT.Host != "192.168.241.2" || d.Networks.NAT.NIC != "ens33" {
		t.Errorf("default NAT network: %+v", d.Networks.NAT)
	}
	if len(d.VLANs) != 2 || d.VLANs[0].ID != 20 || d.VLANs[1].ID != 30 || d.VLANs[0].Parent != "ens33" {
		t.Errorf("default VLANs: %+v", d.VLANs)
	}
}

// TestFixtures runs every file under testdata/valid (must load) and
// testdata/invalid (must fail, reporting every path listed in the file's
// "# want:" comment lines).
func TestFixtures(t *testing.T) {
	valid, _ := filepath.Glob("testdata/valid/*.yaml")
	invalid, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(valid) == 0 || len(invalid) == 0 {
		t.Fatal("no fixtures found")
	}
	for _, f := range valid {
		t.Run(f, func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Fatalf("valid fixture rejected: %v", err)
			}
		})
	}
	for _, f := range invalid {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for _, l := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(l, "# want: "); ok {
					wants = append(wants, w)
				}
			}
			if len(wants) == 0 {
				t.Fatal("fixture has no '# want:' lines")
			}
			_, err = Load(f)
			if err == nil {
				t.Fatal("invalid fixture accepted")
			}
			msg := err.Error()
			for _, w := range wants {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
			if ps, ok := err.(Problems); ok && len(ps) != len(wants) {
				t.Errorf("got %d problems, fixture lists %d:\n%s", len(ps), len(wants), msg)
			}
		})
	}
}
