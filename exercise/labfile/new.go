package labfile

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/labctl/labctl/topology"
)

// NewFile is the commented starting file 'labctl lab new NAME' writes: a
// complete exercise that validates and runs on a one-node lab.
func NewFile(name string) ([]byte, error) {
	if !labNameRE.MatchString(name) {
		return nil, fmt.Errorf("%s is not a lab name: lower-case letters, digits and -, at most 40", topology.Quote(name))
	}
	return []byte(strings.ReplaceAll(newTemplate, "NAME", name)), nil
}

const newTemplate = `# A labctl lab file: one exercise on the lab's nodes.
#   labctl lab validate NAME.yaml    every problem at once, with its line
#   labctl lab run ./NAME.yaml       set it up, check, take it down again
#   labctl lab check ./NAME.yaml     only the checks, on what is there now
#   labctl lab schema                the JSON Schema, for your editor
#
# Values of the topology, usable in any text, so that the file works on
# every topology: ${node1} (the first node's name; node2 the second, ...),
# ${node1.nat} and ${node1.hostonly} (its addresses), ${node1.nic.nat} (its
# NIC in the guest, e.g. ens33), ${nat.subnet} ${nat.gateway} ${nat.prefix}
# and ${nat.92} (host 92 of the NAT subnet), the same for hostonly,
# ${vlan20.subnet} ${vlan20.gateway} ${vlan20.parent} ${vlan20.5},
# ${l3net1.subnet} ${l3net1.10} (docker.ipvlan_l3_subnets), ${docker.bip},
# ${outside}; and whatever a step or check captured before (capture:).
# Upper-case ${VAR} is left to the shell.
name: NAME
title: Two containers on a network of their own
explain: |
  A user-defined network gives its containers a DNS of their own: oolong
  finds puer by name, while the node itself knows neither.
tutorial:
  - docker network create tea-house
  - docker run -itd --rm --network tea-house --name oolong busybox
  - docker run -itd --rm --network tea-house --name puer busybox
  - docker exec oolong ping -c 2 puer
look_for:
  - the ping by name answering
nodes: 1                  # how many nodes the exercise needs

# The setup: what it creates is removed at the end, also when a check fails.
steps:
  - title: create tea-house; run oolong and puer on it
    on: node1             # node1, node2, ... or host
    networks:
      - name: tea-house   # driver: macvlan/ipvlan, subnets:, options: as needed
    containers:
      - {name: oolong, image: busybox, network: tea-house}
      - {name: puer, image: busybox, network: tea-house}
    # run: a shell command on the node, undo: what takes it back

# The checks: each runs a probe (run, ping, http or logs; on a node, in a
# container with in:, or on the host) and passes when the probe's outcome
# is what expect says (succeeds, the default, or fails). contains, match
# (a regular expression) and retry refine it; do: lists actions first;
# also: adds probes; hint: is what a student is told when it fails.
checks:
  - name: oolong pings puer by name
    in: oolong
    ping: puer
    hint: "puer must be on tea-house: docker run -itd --rm --network tea-house --name puer busybox"
  - name: oolong reaches outside
    in: oolong
    ping: ${outside}
  - name: the node does not resolve puer
    expect: fails
    run: getent hosts puer
    note: container names resolve only inside their network
`

// Schema is the JSON Schema of lab files, for editors.
func Schema() []byte {
	return topology.SchemaFor(reflect.TypeOf(File{}), "https://labctl.dev/schema/lab.schema.json", "labctl lab file",
		"An exercise on a labctl lab's nodes: setup steps and checks with evidence. See 'labctl lab new'.")
}
