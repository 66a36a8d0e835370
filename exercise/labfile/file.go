// Package labfile is exercises as files: the format instructors write them
// in (file.go), its strict parsing and validation (file_validate.go), the
// ${...} values of the plan (values.go), how a file runs on the engine
// (file_run.go, file_probe.go) and a new file's template (new.go). The
// built-in exercises are such files too (package catalog), but for the
// overlay, which needs Swarm state through the Docker API (package
// overlay).
package labfile

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/labctl/labctl/internal/strictyaml"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/topology"
)

// File is an exercise as written in a lab file.
type File struct {
	// Name is how the exercise is run ('labctl lab run NAME'); the
	// file's name without .yaml when empty.
	Name     string   `yaml:"name" json:"name,omitempty" doc:"how the exercise is called on the command line; the file name without .yaml when empty"`
	Title    string   `yaml:"title" json:"title" doc:"one line: what the exercise is about"`
	Explain  string   `yaml:"explain" json:"explain,omitempty" doc:"what it shows, in plain words ('labctl lab explain')"`
	Tutorial []string `yaml:"tutorial" json:"tutorial,omitempty" doc:"the commands a student types to build it by hand"`
	LookFor  []string `yaml:"look_for" json:"look_for,omitempty" doc:"what to look for while it runs"`
	// Nodes is how many nodes the exercise needs (default 1).
	Nodes int `yaml:"nodes" json:"nodes,omitempty" doc:"how many nodes it needs (default 1)"`
	// NATHosts are host numbers of the NAT subnet the exercise gives its
	// containers (92: milk), checked against the topology up front.
	NATHosts map[int]string `yaml:"nat_hosts" json:"nat_hosts,omitempty" doc:"host numbers in the NAT subnet given to containers (92: milk), checked against the topology before anything runs"`
	Steps    []FileStep     `yaml:"steps" json:"steps,omitempty" doc:"the setup, in order; what it creates is removed at the end"`
	Checks   []FileCheck    `yaml:"checks" json:"checks" doc:"what the exercise proves, in order"`

	file  string
	lines map[string]int
}

// FileStep is one setup step.
type FileStep struct {
	Title      string          `yaml:"title" json:"title" doc:"what the step does, shown while it runs"`
	On         string          `yaml:"on" json:"on,omitempty" doc:"node1, node2, ... (the topology's first, second, ... node) or host; default node1"`
	Networks   []FileNetwork   `yaml:"networks" json:"networks,omitempty" doc:"Docker networks to create (removed at the end)"`
	Containers []FileContainer `yaml:"containers" json:"containers,omitempty" doc:"containers to run (removed at the end)"`
	Run        string          `yaml:"run" json:"run,omitempty" doc:"a shell command, after the networks and containers"`
	Undo       string          `yaml:"undo" json:"undo,omitempty" doc:"the shell command that takes back what run did, at the end"`
	Capture    []FileCapture   `yaml:"capture" json:"capture,omitempty" doc:"values read with a command, for later ${name}"`
}

// FileNetwork is a Docker network a step creates.
type FileNetwork struct {
	Name    string            `yaml:"name" json:"name" doc:"the network's name"`
	On      []string          `yaml:"on" json:"on,omitempty" doc:"the nodes to create it on (default: the step's node)"`
	Driver  string            `yaml:"driver" json:"driver,omitempty" doc:"bridge (default), macvlan or ipvlan"`
	Subnets []FileSubnet      `yaml:"subnets" json:"subnets,omitempty" doc:"address pools; none: Docker picks one"`
	Options map[string]string `yaml:"options" json:"options,omitempty" doc:"driver options, e.g. parent: ${node1.nic.nat}, ipvlan_mode: l2"`
}

// FileSubnet is one address pool of a network.
type FileSubnet struct {
	Subnet  string `yaml:"subnet" json:"subnet" doc:"e.g. ${nat.subnet}"`
	Gateway string `yaml:"gateway" json:"gateway,omitempty" doc:"e.g. ${nat.gateway}"`
}

// FileContainer is a container a step (or a check's action) runs.
type FileContainer struct {
	Name    string   `yaml:"name" json:"name" doc:"the container's name"`
	Image   string   `yaml:"image" json:"image" doc:"busybox or nginx (loaded on every node)"`
	On      string   `yaml:"on" json:"on,omitempty" doc:"the node (default: the step's node)"`
	Network string   `yaml:"network" json:"network,omitempty" doc:"a network name, host or none; default the default bridge"`
	IP      string   `yaml:"ip" json:"ip,omitempty" doc:"a fixed address on the network"`
	Publish []string `yaml:"publish" json:"publish,omitempty" doc:"ports to publish, e.g. 80:80"`
}

// FileCapture reads a value for later ${name}.
type FileCapture struct {
	Name string `yaml:"name" json:"name" doc:"the value's name: ${name} later"`
	Run  string `yaml:"run" json:"run" doc:"a shell command on the step's node; the value is its output, trimmed"`
}

// FileCheck is one claim an exercise proves: actions first (optional),
// then one probe or more; the check passes when every probe's outcome is
// what expect says.
type FileCheck struct {
	Name      string       `yaml:"name" json:"name" doc:"the claim, as the report shows it"`
	Expect    string       `yaml:"expect" json:"expect,omitempty" doc:"succeeds (default) or fails"`
	Stage     int          `yaml:"stage" json:"stage,omitempty" doc:"groups checks for 'labctl lab check NAME --stage N' (default 1)"`
	Hint      string       `yaml:"hint" json:"hint,omitempty" doc:"what a student should do when the check fails"`
	Deadline  int          `yaml:"deadline" json:"deadline,omitempty" doc:"seconds the whole check may take, actions and probes (default 300); past it the check fails as timed out"`
	Do        []FileAction `yaml:"do" json:"do,omitempty" doc:"what to change before probing (shown as evidence; undone at the end)"`
	FileProbe `yaml:",inline" json:",inline"`
	Also      []FileProbe `yaml:"also" json:"also,omitempty" doc:"more probes; every one must come out as expected"`
}

// FileProbe runs one command and tells whether it succeeded: exit status
// 0, and the output containing or matching what is asked.
type FileProbe struct {
	On          string       `yaml:"on" json:"on,omitempty" doc:"node1, node2, ... or host; default node1"`
	In          string       `yaml:"in" json:"in,omitempty" doc:"a container on that node to run in"`
	Run         string       `yaml:"run" json:"run,omitempty" doc:"a shell command"`
	Ping        string       `yaml:"ping" json:"ping,omitempty" doc:"an address or name to ping (ping -c 2 -W 2)"`
	HTTP        string       `yaml:"http" json:"http,omitempty" doc:"a URL to fetch from the host"`
	Logs        string       `yaml:"logs" json:"logs,omitempty" doc:"a container whose logs to read"`
	Packets     *FilePackets `yaml:"packets" json:"packets,omitempty" doc:"capture packets on the node while another probe sends traffic; the output is tcpdump's decoded lines"`
	Contains    string       `yaml:"contains" json:"contains,omitempty" doc:"the output must contain this"`
	ContainsAll []string     `yaml:"contains_all" json:"contains_all,omitempty" doc:"the output must contain each of these"`
	Match       string       `yaml:"match" json:"match,omitempty" doc:"the trimmed output must match this regular expression (Go syntax; ${...} values inserted literally)"`
	Retry       int          `yaml:"retry" json:"retry,omitempty" doc:"tries, a second apart, until the probe succeeds (default 1)"`
	Timeout     int          `yaml:"timeout" json:"timeout,omitempty" doc:"seconds one try of the probe may take (default 60); past it the probe fails as timed out"`
	Capture     string       `yaml:"capture" json:"capture,omitempty" doc:"keep the trimmed output as ${name}"`
	Note        string       `yaml:"note" json:"note,omitempty" doc:"what the probe's output shows"`
}

// FilePackets is a short capture: tcpdump -e -nn on a node's interface
// while the probe in while runs.
type FilePackets struct {
	Iface  string     `yaml:"iface" json:"iface" doc:"the interface, e.g. ${node2.nic.nat}"`
	Filter string     `yaml:"filter" json:"filter" doc:"a pcap filter, e.g. vlan and icmp"`
	Count  int        `yaml:"count" json:"count,omitempty" doc:"packets to capture (default 4; the capture also stops after 20 s)"`
	While  *FileProbe `yaml:"while" json:"while" doc:"the probe that sends the traffic (e.g. in: milk, ping: ...)"`
}

// FileAction changes something before a check's probes.
type FileAction struct {
	On         string          `yaml:"on" json:"on,omitempty" doc:"node1, node2, ... or host; default node1"`
	Run        string          `yaml:"run" json:"run,omitempty" doc:"a shell command"`
	Undo       string          `yaml:"undo" json:"undo,omitempty" doc:"the shell command that takes it back, at the end"`
	Group      string          `yaml:"group" json:"group,omitempty" doc:"names the undo, so that a later check can run it early (undo_group)"`
	Capture    string          `yaml:"capture" json:"capture,omitempty" doc:"keep run's output, trimmed, as ${name} (a failing run is an error, not an outcome)"`
	UndoGroup  string          `yaml:"undo_group" json:"undo_group,omitempty" doc:"take back a group's actions now"`
	Containers []FileContainer `yaml:"containers" json:"containers,omitempty" doc:"containers to run (removed at the end)"`
	Remove     string          `yaml:"remove" json:"remove,omitempty" doc:"a container to remove"`
}

// Expectation returns ExpectSuccess or ExpectFailure.
func (c FileCheck) expectation() string {
	if c.Expect == "" {
		return exercise.ExpectSuccess
	}
	return c.Expect
}

// Path is the file the exercise was read from.
func (f *File) Path() string { return f.file }

// ParseFile reads a lab file strictly - unknown fields, wrong types, every
// problem at once, each with its line and field path - and validates it.
func ParseFile(filename string, data []byte) (*File, error) {
	var f File
	lines, err := strictyaml.Decode(filename, data, "lab", "title, explain, steps, checks, ...", "start from `labctl lab new NAME`", &f)
	if err != nil {
		return nil, err
	}
	f.file, f.lines = filename, lines
	if f.Name == "" {
		f.Name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(filename), ".yaml"), ".yml")
	}
	if _, written := lines["nodes"]; f.Nodes == 0 && !written {
		f.Nodes = 1
	}
	if ps := f.validate(); len(ps) > 0 {
		return nil, ps
	}
	return &f, nil
}

// LoadFile reads and parses a lab file.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseFile(path, data)
}

// LoadPaths reads lab files: each path is a file or a directory of .yaml
// files. Every file's problems are reported, all at once.
func LoadPaths(paths []string) ([]*File, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		m, _ := filepath.Glob(filepath.Join(p, "*.yaml"))
		m2, _ := filepath.Glob(filepath.Join(p, "*.yml"))
		m = append(m, m2...)
		if len(m) == 0 {
			return nil, fmt.Errorf("%s: no lab files (*.yaml) in it", p)
		}
		sort.Strings(m)
		files = append(files, m...)
	}
	var out []*File
	var problems topology.Problems
	seen := map[string]string{}
	for _, p := range files {
		f, err := LoadFile(p)
		if err != nil {
			var ps topology.Problems
			if asProblems(err, &ps) {
				problems = append(problems, ps...)
				continue
			}
			return nil, err
		}
		if other, dup := seen[f.Name]; dup {
			problems = append(problems, topology.Problem{File: p, Line: f.lines["name"], Path: "name", Msg: fmt.Sprintf("lab %q is also in %s", f.Name, other)})
			continue
		}
		seen[f.Name] = p
		out = append(out, f)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return out, nil
}

func asProblems(err error, ps *topology.Problems) bool {
	p, ok := err.(topology.Problems)
	if ok {
		*ps = p
	}
	return ok
}
