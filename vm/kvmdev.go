package vm

import (
	"fmt"
	"io/fs"
	"os"
)

// KVMDevice is where Linux offers KVM.
const KVMDevice = "/dev/kvm"

// KVMDeviceWarning says what is wrong when the KVM device exists but only
// root may open it (mode 0600, as where no udev rule ran: containers,
// minimal hosts). libvirt runs QEMU as an unprivileged user; it probes
// QEMU as root, records KVM as available, then finds the QEMU user cannot
// open the device and throws the probe away, for every domain it defines.
// Under software emulation each probe costs about 15 s. It returns "" when
// the device is absent or usable by its group or by everybody.
func KVMDeviceWarning(path string) string {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		return ""
	}
	return kvmModeWarning(path, fi.Mode())
}

func kvmModeWarning(path string, mode fs.FileMode) string {
	perm := mode.Perm()
	if perm&0o060 == 0o060 || perm&0o006 == 0o006 {
		return ""
	}
	return fmt.Sprintf("%s has mode %04o: only root can open it, and libvirt then probes QEMU anew for every domain it defines (about 15 s each under emulation); "+
		"give it what udev's rule gives it: 'chgrp kvm %s && chmod 0660 %s'", path, perm, path, path)
}
