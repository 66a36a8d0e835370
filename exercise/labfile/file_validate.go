// Validating lab files: every problem at once, each with its line and
// field path.

package labfile

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/topology"
)

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
	for _, h := range slices.Sorted(maps.Keys(f.NATHosts)) {
		path := fmt.Sprintf("nat_hosts.%d", h)
		if h < 2 || h > 254 {
			p.add(path, "host %d of the NAT subnet: 2 to 254", h)
		}
		checkDockerName(p, path, f.NATHosts[h])
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
			} else {
				checkDockerName(p, np+".name", n.Name)
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
		if c.Expect != "" && c.Expect != exercise.ExpectSuccess && c.Expect != exercise.ExpectFailure {
			p.add(path+".expect", "%s: use succeeds or fails", topology.Quote(c.Expect))
		}
		if c.Deadline < 0 || c.Deadline > 3600 {
			p.add(path+".deadline", "%d: 1 to 3600 seconds", c.Deadline)
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
	} else {
		checkDockerName(p, path+".name", c.Name)
	}
	switch c.Image {
	case "":
		p.add(path+".image", "missing: busybox or nginx")
	case "busybox", "nginx":
	default:
		p.add(path+".image", "%s: busybox or nginx, the images every node has (nothing is pulled)", topology.Quote(c.Image))
	}
	if c.Network != "" && c.Network != "host" && c.Network != "none" {
		checkDockerName(p, path+".network", c.Network)
	}
	if c.IP != "" {
		if _, err := netip.ParseAddr(literal(c.IP)); err != nil && !valueRE.MatchString(c.IP) || strings.ContainsAny(literal(c.IP), " /") {
			p.add(path+".ip", "%s is not an IP address", topology.Quote(c.IP))
		}
	}
	for i, pub := range c.Publish {
		if !publishRE.MatchString(pub) || !portsInRange(pub) {
			p.add(fmt.Sprintf("%s.publish[%d]", path, i), "%s: HOSTPORT:PORT (1-65535), optionally /tcp or /udp, e.g. 8080:80", topology.Quote(pub))
		}
	}
	f.checkOn(p, path+".on", c.On)
	if c.On == "host" {
		p.add(path+".on", "containers run on nodes")
	}
	f.checkFields(p, path, known, map[string]string{"name": c.Name, "network": c.Network, "ip": c.IP})
}

func (f *File) checkProbe(p *problems, path string, pr FileProbe, known map[string]bool) {
	kinds := kindsOf(pr)
	for _, k := range kinds {
		k.check(f, p, path, pr, known)
	}
	if len(kinds) != 1 {
		p.add(path, "a probe is exactly one of %s", kindKeys())
	}
	f.checkOn(p, path+".on", pr.On)
	if pr.In != "" && pr.On == "host" {
		p.add(path+".in", "containers are on nodes, not on the host")
	}
	checkTarget(p, path, pr)
	if pr.Timeout < 0 || pr.Timeout > 3600 {
		p.add(path+".timeout", "%d: 1 to 3600 seconds", pr.Timeout)
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

// dockerNameRE is what Docker accepts as a container or network name.
var dockerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// checkDockerName refuses a name Docker would refuse at run time (after
// the steps before it ran); ${...} values in it stand for a name.
func checkDockerName(p *problems, path, name string) {
	if !dockerNameRE.MatchString(literal(name)) {
		p.add(path, "%s is not a Docker name: letters, digits, _ . - (not first), at most 63", topology.Quote(name))
	}
}

// literal is s with each ${...} replaced by a plain word, for checking
// the shape of what is written around the values.
func literal(s string) string { return valueRE.ReplaceAllString(s, "v1") }

var publishRE = regexp.MustCompile(`^(?:[0-9]{1,5}:)?[0-9]{1,5}(?:/(?:tcp|udp))?$`)

func portsInRange(pub string) bool {
	for _, part := range strings.FieldsFunc(strings.SplitN(pub, "/", 2)[0], func(r rune) bool { return r == ':' }) {
		if n, err := strconv.Atoi(part); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return true
}

// pingTargetRE is an address or a name to ping: nothing a shell reads.
var pingTargetRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.:_-]*$`)

// checkTarget checks a ping target and an http URL as written (their
// ${...} values are plan values or captured, checked elsewhere).
func checkTarget(p *problems, path string, pr FileProbe) {
	if pr.Ping != "" && !pingTargetRE.MatchString(literal(pr.Ping)) {
		p.add(path+".ping", "%s is not an address or a name to ping", topology.Quote(pr.Ping))
	}
	if pr.HTTP != "" {
		u, err := url.Parse(literal(pr.HTTP))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			p.add(path+".http", "%s is not an http:// or https:// URL of a host", topology.Quote(pr.HTTP))
		}
	}
}
