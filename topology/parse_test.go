package topology

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labctl/labctl/internal/testenv"
)

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
		`lab.yaml:8: colour: unknown field (known fields: docker, hypervisors, image, isolated, libvirt, networks, nodes, outside, tunnels, user, vlans)`,
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

// Nested merge keys and aliases make a small file stand for an
// exponentially large tree. Before the walk was bounded, 40 levels of
// merges never finished and a 55 KB file of aliases took minutes and
// gigabytes; now both are refused at once, naming the problem.
func TestParseRefusesExpansionBombs(t *testing.T) {
	var merges strings.Builder
	merges.WriteString("nodes:\n  - &n0 {name: node1, labels: [a]}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&merges, "  - &n%d {<<: *n%d, <<: *n%d}\n", i, i-1, i-1)
	}
	var aliases strings.Builder
	aliases.WriteString("nodes:\n  - &x0 {name: node1}\n")
	for i := 1; i <= 25; i++ {
		fmt.Fprintf(&aliases, "  - &x%d {name: n%d, nat: {address: 10.0.0.1}, <<: [*x%d, *x%d, *x%d, *x%d]}\n", i, i, i-1, i-1, i-1, i-1)
	}
	nested := "vlans:\n  - &v {id: 20}\n" + strings.Repeat("  - {<<: *v}\n", 10)
	nested = "nodes:\n  - labels: " + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n"
	for name, src := range map[string]string{"merges": merges.String(), "aliases": aliases.String(), "nesting": nested} {
		start := time.Now()
		_, err := Parse("bomb.yaml", []byte(src))
		took := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), "expands to more than") && name != "nesting" || len(err.Error()) > 20000 {
			t.Errorf("%s: %v", name, err)
		}
		if took > 5*time.Second {
			t.Errorf("%s: took %s", name, took)
		}
		t.Logf("%s (%d bytes): refused in %s: %.200s", name, len(src), took.Round(time.Millisecond), err)
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
		{"wrong type", "nodes:\n  - name: n1\n    cpus: two\n", `lab.yaml:3: nodes[0].cpus: must be a whole number, not "two"`},
		{"fraction", "vlans:\n  - id: 20.5\n", `lab.yaml:2: vlans[0].id: must be a whole number, not "20.5"`},
		{"fraction below one", "nodes:\n  - name: n1\n    cpus: 1.9\n", `lab.yaml:3: nodes[0].cpus: must be a whole number, not "1.9"`},
		{"exponent", "vlans:\n  - id: 1e1\n", `lab.yaml:2: vlans[0].id: must be a whole number, not "1e1"`},
		{"quoted number", "vlans:\n  - id: \"20\"\n", `lab.yaml:2: vlans[0].id: must be a whole number, not "20"`},
		{"list for a number", "vlans:\n  - id: [20]\n", `lab.yaml:2: vlans[0].id: must be a whole number, not a list`},
		{"mapping for a string", "image:\n  name: x\n", `lab.yaml:2: image: must be a single value, not a mapping`},
		{"list for a struct", "libvirt: [a]\n", `lab.yaml:1: libvirt: must be a mapping of fields, not a list`},
		{"long value cut short", "nodes:\n  - name: n1\n    cpus: " + strings.Repeat("x", 5000) + "\n", `nodes[0].cpus: must be a whole number, not "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"... (5000 bytes)`},
		{"too large", "# " + strings.Repeat("x", 1<<20) + "\n", "lab.yaml: 1048579 bytes; a topology file is at most 1024 KiB"},
		{"bad yaml", "nodes: [\n", "lab.yaml:"},
		{"unclosed flow list below a comment", "image: a\n# a comment\nnodes: [a, b\nuser: x\n", "lab.yaml:3: the [ opened on this line is not closed with ]"},
		{"unclosed flow mapping", "image: a\nlibvirt: {uri: x\nuser: x\n", "lab.yaml:2: the { opened on this line is not closed with }"},
		{"tab in a list", "image: a\nnodes:\n\t- name: x\n", "lab.yaml:3: a tab in the indentation"},
		{"tab after a line", "image: a\nuser: x\nnodes:\n  - name: a\n\t  cpus: 2\n", "lab.yaml:5: a tab in the indentation"},
		{"other syntax errors keep yaml's words", "image: \"abc\nuser: x\n", "lab.yaml:3: found unexpected end of stream"},
		{"nodes not a list", "nodes: node1\n", `lab.yaml:1: nodes: must be a list, not "node1"`},
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
	testenv.InvalidFixtures(t, "testdata/invalid/*.yaml", 60, func(f string) error {
		_, err := Load(f)
		return err
	}, func(err error) (int, bool) {
		ps, ok := err.(Problems)
		return len(ps), ok
	})
}
