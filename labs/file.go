// Labs as files: the format instructors write exercises in, its strict
// parsing and its validation. The built-in exercises are such files too
// (builtin/*.yaml, embedded), but for the overlay, which needs Swarm state
// through the Docker API (overlay.go).

package labs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

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
		return ExpectSuccess
	}
	return c.Expect
}

// ParseFile reads a lab file strictly - unknown fields, wrong types, every
// problem at once, each with its line and field path - and validates it.
func ParseFile(filename string, data []byte) (*File, error) {
	var f File
	lines, err := topology.DecodeStrict(filename, data, "lab", "title, explain, steps, checks, ...", "start from `labctl lab new NAME`", &f)
	if err != nil {
		return nil, err
	}
	f.file, f.lines = filename, lines
	if f.Name == "" {
		f.Name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(filename), ".yaml"), ".yml")
	}
	if f.Nodes == 0 {
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

var (
	labNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
	onRE      = regexp.MustCompile(`^(host|node([1-9][0-9]?))$`)
	valueRE   = regexp.MustCompile(`\$\{([a-z][a-z0-9_.]*)\}`)
)

// problems collects validation problems with lines.
type problems struct {
	f  *File
	ps topology.Problems
}

func (p *problems) add(path, format string, a ...any) {
	p.ps = append(p.ps, topology.Problem{File: p.f.file, Line: p.line(path), Path: path, Msg: fmt.Sprintf(format, a...)})
}

// line is the line of path, or of the nearest enclosing path that has one.
func (p *problems) line(path string) int {
	for path != "" {
		if l, ok := p.f.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func (f *File) validate() topology.Problems {
	p := &problems{f: f}
	if !labNameRE.MatchString(f.Name) {
		p.add("name", "%s is not a lab name: lower-case letters, digits and -, at most 40", topology.Quote(f.Name))
	}
	if strings.TrimSpace(f.Title) == "" {
		p.add("title", "missing: one line saying what the exercise is about")
	}
	if f.Nodes < 1 || f.Nodes > 99 {
		p.add("nodes", "%d: an exercise needs 1 to 99 nodes", f.Nodes)
	}
	if len(f.Checks) == 0 {
		p.add("checks", "missing: an exercise proves something with one check or more")
	}
	known := map[string]bool{} // captured so far
	for i, s := range f.Steps {
		path := fmt.Sprintf("steps[%d]", i)
		if strings.TrimSpace(s.Title) == "" {
			p.add(path+".title", "missing: say what the step does")
		}
		f.checkOn(p, path+".on", s.On)
		if s.Run == "" && s.Undo != "" {
			p.add(path+".undo", "an undo without a run")
		}
		if s.Run == "" && len(s.Networks) == 0 && len(s.Containers) == 0 && len(s.Capture) == 0 {
			p.add(path, "the step does nothing: give networks, containers, run or capture")
		}
		if s.On == "host" && (len(s.Networks) > 0 || len(s.Containers) > 0) {
			p.add(path+".on", "networks and containers run on nodes, not on the host")
		}
		for j, n := range s.Networks {
			np := fmt.Sprintf("%s.networks[%d]", path, j)
			if n.Name == "" {
				p.add(np+".name", "missing")
			}
			switch n.Driver {
			case "", "bridge", "macvlan", "ipvlan":
			default:
				p.add(np+".driver", "%s: use bridge, macvlan or ipvlan", topology.Quote(n.Driver))
			}
			for k, on := range n.On {
				f.checkOn(p, fmt.Sprintf("%s.on[%d]", np, k), on)
			}
			f.checkValues(p, np+".name", known, n.Name)
			for k, sn := range n.Subnets {
				f.checkFields(p, fmt.Sprintf("%s.subnets[%d]", np, k), known, map[string]string{"subnet": sn.Subnet, "gateway": sn.Gateway})
			}
			f.checkFields(p, np+".options", known, n.Options)
		}
		for j, c := range s.Containers {
			f.checkContainer(p, fmt.Sprintf("%s.containers[%d]", path, j), c, known)
		}
		f.checkValues(p, path+".run", known, s.Run)
		f.checkValues(p, path+".undo", known, s.Undo)
		for j, c := range s.Capture {
			cp := fmt.Sprintf("%s.capture[%d]", path, j)
			f.checkValues(p, cp+".run", known, c.Run)
			f.checkCaptureName(p, cp+".name", c.Name)
			known[c.Name] = true
		}
	}
	groups := map[string]bool{}
	for i, c := range f.Checks {
		path := fmt.Sprintf("checks[%d]", i)
		if strings.TrimSpace(c.Name) == "" {
			p.add(path+".name", "missing: the claim the check proves")
		}
		if c.Expect != "" && c.Expect != ExpectSuccess && c.Expect != ExpectFailure {
			p.add(path+".expect", "%s: use succeeds or fails", topology.Quote(c.Expect))
		}
		if c.Stage < 0 {
			p.add(path+".stage", "%d: stages are 1, 2, ...", c.Stage)
		}
		for j, a := range c.Do {
			ap := fmt.Sprintf("%s.do[%d]", path, j)
			f.checkOn(p, ap+".on", a.On)
			n := 0
			for _, set := range []bool{a.Run != "", a.UndoGroup != "", len(a.Containers) > 0, a.Remove != ""} {
				if set {
					n++
				}
			}
			if n != 1 {
				p.add(ap, "an action is one of run (with undo, group), undo_group, containers, remove")
			}
			if a.Undo != "" && a.Run == "" || a.Group != "" && a.Undo == "" || a.Capture != "" && (a.Run == "" || a.Undo != "") {
				p.add(ap, "undo goes with run, group with undo, capture with a run that has no undo")
			}
			if a.Group != "" {
				groups[a.Group] = true
			}
			if a.UndoGroup != "" && !groups[a.UndoGroup] {
				p.add(ap+".undo_group", "%s: no earlier action names this group", topology.Quote(a.UndoGroup))
			}
			for k, ct := range a.Containers {
				f.checkContainer(p, fmt.Sprintf("%s.containers[%d]", ap, k), ct, known)
			}
			f.checkFields(p, ap, known, map[string]string{"run": a.Run, "undo": a.Undo, "remove": a.Remove})
			if a.Capture != "" {
				f.checkCaptureName(p, ap+".capture", a.Capture)
				known[a.Capture] = true
			}
		}
		probes := append([]FileProbe{c.FileProbe}, c.Also...)
		for j, pr := range probes {
			pp := path
			if j > 0 {
				pp = fmt.Sprintf("%s.also[%d]", path, j-1)
			}
			f.checkProbe(p, pp, pr, known)
			if pr.Capture != "" {
				f.checkCaptureName(p, pp+".capture", pr.Capture)
				known[pr.Capture] = true
			}
		}
	}
	return p.ps
}

var captureNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

func (f *File) checkCaptureName(p *problems, path, name string) {
	if !captureNameRE.MatchString(name) || isPlanValue(name) {
		p.add(path, "%s: a name of lower-case letters, digits and _ that is not a value of the plan (node1, nat, ...)", topology.Quote(name))
	}
}

func (f *File) checkOn(p *problems, path, on string) {
	if on == "" {
		return
	}
	m := onRE.FindStringSubmatch(on)
	if m == nil {
		p.add(path, "%s: use node1, node2, ... (the topology's first, second, ... node) or host", topology.Quote(on))
		return
	}
	if m[2] != "" {
		if i, _ := strconv.Atoi(m[2]); i > f.Nodes {
			p.add(path, "%s, but the exercise says it needs %d node(s) (nodes:)", on, f.Nodes)
		}
	}
}

func (f *File) checkContainer(p *problems, path string, c FileContainer, known map[string]bool) {
	if c.Name == "" {
		p.add(path+".name", "missing")
	}
	if c.Image == "" {
		p.add(path+".image", "missing: busybox or nginx")
	}
	f.checkOn(p, path+".on", c.On)
	if c.On == "host" {
		p.add(path+".on", "containers run on nodes")
	}
	f.checkFields(p, path, known, map[string]string{"name": c.Name, "network": c.Network, "ip": c.IP})
}

func (f *File) checkProbe(p *problems, path string, pr FileProbe, known map[string]bool) {
	kinds := 0
	for _, s := range []string{pr.Run, pr.Ping, pr.HTTP, pr.Logs} {
		if s != "" {
			kinds++
		}
	}
	if pr.Packets != nil {
		kinds++
		pk := pr.Packets
		if pk.Iface == "" || pk.Filter == "" {
			p.add(path+".packets", "iface and filter are needed")
		}
		if pk.Count < 0 || pk.Count > 100 {
			p.add(path+".packets.count", "%d: 1 to 100 packets", pk.Count)
		}
		if pr.In != "" || pr.On == "host" {
			p.add(path+".packets", "a capture runs on a node: leave in out, on: a node")
		}
		if pk.While == nil {
			p.add(path+".packets.while", "missing: the probe that sends the traffic")
		} else {
			if pk.While.Packets != nil {
				p.add(path+".packets.while", "the traffic is a run, ping, http or logs probe, not another capture")
			}
			f.checkProbe(p, path+".packets.while", *pk.While, known)
		}
		f.checkFields(p, path+".packets", known, map[string]string{"iface": pk.Iface, "filter": pk.Filter})
	}
	if kinds != 1 {
		p.add(path, "a probe is exactly one of run, ping, http, logs, packets")
	}
	f.checkOn(p, path+".on", pr.On)
	if pr.HTTP != "" && (pr.On != "" && pr.On != "host" || pr.In != "") {
		p.add(path+".http", "http fetches from the host: leave on and in out")
	}
	if pr.In != "" && pr.On == "host" {
		p.add(path+".in", "containers are on nodes, not on the host")
	}
	if pr.Logs != "" && pr.In != "" {
		p.add(path+".logs", "logs names the container itself: leave in out")
	}
	if pr.Retry < 0 || pr.Retry > 60 {
		p.add(path+".retry", "%d: 1 to 60 tries", pr.Retry)
	}
	if pr.Match != "" {
		if _, err := regexp.Compile(valueRE.ReplaceAllString(pr.Match, "x")); err != nil {
			p.add(path+".match", "not a regular expression: %v", err)
		}
	}
	f.checkFields(p, path, known, map[string]string{"in": pr.In, "run": pr.Run, "ping": pr.Ping, "http": pr.HTTP, "logs": pr.Logs, "contains": pr.Contains, "match": pr.Match, "note": pr.Note})
	for i, s := range pr.ContainsAll {
		f.checkValues(p, fmt.Sprintf("%s.contains_all[%d]", path, i), known, s)
	}
}

// checkFields checks the ${name}s of a struct's string fields, each at its
// own path (path.yamlkey).
func (f *File) checkFields(p *problems, path string, known map[string]bool, fields map[string]string) {
	for k, v := range fields {
		f.checkValues(p, path+"."+k, known, v)
	}
}

// checkValues reports ${name}s that are neither values of the plan nor
// captured earlier.
func (f *File) checkValues(p *problems, path string, known map[string]bool, ss ...string) {
	for _, s := range ss {
		for _, m := range valueRE.FindAllStringSubmatch(s, -1) {
			if known[m[1]] {
				continue
			}
			if err := checkPlanValue(m[1], f.Nodes); err != nil {
				p.add(path, "${%s}: %v", m[1], err)
			}
		}
	}
}
