package labfile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/labctl/labctl/exercise"
	"github.com/labctl/labctl/plan"
	"github.com/labctl/labctl/transport"
)

// Commands renders the file's setup steps as the commands that build the
// same by hand on lab p, each with the node it runs on and every ${...}
// replaced by p's values: typed on those nodes, they leave what the steps
// leave, so the checks (labctl lab check) pass. Networks and containers
// become docker network create and docker run -itd --rm; a step's run is
// as written.
func (f *File) Commands(p *plan.Plan) ([]exercise.Command, error) {
	values := planValues(p)
	x := func(s string) (string, error) { return expand(s, values, nil, nil) }
	node := func(on, dflt string) (string, error) {
		switch on {
		case "":
			return dflt, nil
		case "host":
			return "host", nil
		}
		var i int
		if _, err := fmt.Sscanf(on, "node%d", &i); err != nil || i < 1 || i > len(p.Nodes) {
			return "", fmt.Errorf("%s: the topology has %d node(s)", on, len(p.Nodes))
		}
		return p.Nodes[i-1].Name, nil
	}
	var out []exercise.Command
	for si, s := range f.Steps {
		fail := func(err error) ([]exercise.Command, error) {
			return nil, fmt.Errorf("%s: steps[%d]: %w", f.Name, si, err)
		}
		on, err := node(s.On, p.Nodes[0].Name)
		if err != nil {
			return fail(err)
		}
		for _, n := range s.Networks {
			cmd, err := networkCommand(n, x)
			if err != nil {
				return fail(err)
			}
			nodes := n.On
			if len(nodes) == 0 {
				nodes = []string{s.On}
			}
			for _, nn := range nodes {
				where, err := node(nn, on)
				if err != nil {
					return fail(err)
				}
				out = append(out, exercise.Command{On: where, Run: cmd})
			}
		}
		for _, c := range s.Containers {
			cmd, err := containerCommand(c, x)
			if err != nil {
				return fail(err)
			}
			where, err := node(c.On, on)
			if err != nil {
				return fail(err)
			}
			out = append(out, exercise.Command{On: where, Run: cmd})
		}
		if s.Run != "" {
			cmd, err := x(s.Run)
			if err != nil {
				return fail(err)
			}
			out = append(out, exercise.Command{On: on, Run: cmd})
		}
	}
	return out, nil
}

func networkCommand(n FileNetwork, x func(string) (string, error)) (string, error) {
	args := []string{"docker", "network", "create"}
	if n.Driver != "" && n.Driver != "bridge" {
		args = append(args, "-d", n.Driver)
	}
	for _, sn := range n.Subnets {
		s, err := x(sn.Subnet)
		if err != nil {
			return "", err
		}
		args = append(args, "--subnet", transport.QuoteIfNeeded(s))
		if sn.Gateway != "" {
			g, err := x(sn.Gateway)
			if err != nil {
				return "", err
			}
			args = append(args, "--gateway", transport.QuoteIfNeeded(g))
		}
	}
	keys := make([]string, 0, len(n.Options))
	for k := range n.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := x(n.Options[k])
		if err != nil {
			return "", err
		}
		args = append(args, "-o", transport.QuoteIfNeeded(k+"="+v))
	}
	name, err := x(n.Name)
	if err != nil {
		return "", err
	}
	return strings.Join(append(args, transport.QuoteIfNeeded(name)), " "), nil
}

func containerCommand(c FileContainer, x func(string) (string, error)) (string, error) {
	args := []string{"docker", "run", "-itd", "--rm"}
	net, err := x(c.Network)
	if err != nil {
		return "", err
	}
	if net != "" {
		args = append(args, "--network", transport.QuoteIfNeeded(net))
	}
	ip, err := x(c.IP)
	if err != nil {
		return "", err
	}
	if ip != "" {
		args = append(args, "--ip", transport.QuoteIfNeeded(ip))
	}
	for _, p := range c.Publish {
		args = append(args, "-p", transport.QuoteIfNeeded(p))
	}
	name, err := x(c.Name)
	if err != nil {
		return "", err
	}
	return strings.Join(append(args, "--name", transport.QuoteIfNeeded(name), c.Image), " "), nil
}
