package provision

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckGuestNetworkAsksForIPv4Only runs the check's command in the
// local sh (localShell) with getent and ip replaced by scripts that log
// their arguments: every node's name is looked up for its IPv4 address
// alone, each as one argument however hostile. `getent hosts` asks for
// IPv6 first, and with /etc/hosts holding IPv4 addresses only that
// question goes to the NAT network's DNS, which offline waits out two 5 s
// timeouts per name (10 s a name, measured in a node: 30 s of a 3-node up).
func TestCheckGuestNetworkAsksForIPv4Only(t *testing.T) {
	p := testPlan(t)
	if len(p.Nodes) < 2 {
		t.Fatalf("the default plan has %d nodes; the test needs several", len(p.Nodes))
	}
	dir := t.TempDir()
	log, pwned := filepath.Join(dir, "log"), filepath.Join(dir, "pwned")
	// A name no topology would pass, as if one had come through.
	p.Nodes[1].Hostname = "n2'; touch " + pwned + "; $(touch " + pwned + ") `touch " + pwned + "`"
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	// Each stub logs "name arg|arg|..."; getent answers only ahostsv4, and
	// not for the name "missing".
	stub := `#!/bin/sh
printf '%s' "$(basename "$0")" >>` + log + `
for a in "$@"; do printf ' %s|' "$a" >>` + log + `; done
echo >>` + log + `
[ "$(basename "$0")" = ip ] && exit 0
[ "$1" = ahostsv4 ] && [ "$2" != missing ] && exit 0
exit 2
`
	for _, name := range []string{"getent", "ip"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	n := p.Nodes[0]
	if err := CheckGuestNetwork(context.Background(), localShell{dir}, p, n); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(log)
	var want []string
	for _, v := range n.VLANs {
		want = append(want, "ip link| show| "+v.Name+"|")
	}
	for _, o := range p.Nodes {
		want = append(want, "getent ahostsv4| "+o.Hostname+"|")
	}
	if got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the check ran\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := os.Stat(pwned); !os.IsNotExist(err) {
		t.Errorf("a hostile hostname ran a command (%s exists)", pwned)
	}

	p.Nodes[1].Hostname = "missing"
	err := CheckGuestNetwork(context.Background(), localShell{dir}, p, n)
	if err == nil || !strings.Contains(err.Error(), "guest network") {
		t.Errorf("a name that does not resolve gave %v, want the guest network error", err)
	}
}
