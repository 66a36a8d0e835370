// Package e2e is labctl's end-to-end tests on real VMs: each builds the
// labctl binary, starts the harness of internal/testlab (libvirtd in a
// private network namespace, simulated hypervisors, an "outside" host)
// and drives labctl as a user would - the VM lifecycle with its faults,
// provisioning, every lab over two hypervisors, a remote gateway and a
// lone qemu+ssh URI, a workshop. They run as root with
// LABCTL_INTEGRATION=1 (make test); elsewhere they say why they skip.
package e2e
