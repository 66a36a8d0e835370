// Package vmtest is an in-memory libvirt for tests: enough of the API that
// package vm uses (vm.API), with libvirt's error codes, to test the VM
// lifecycle - and the orchestration above it - without a daemon.
package vmtest

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"
)

// Libvirt is an in-memory libvirt: enough of the API, with libvirt's
// error codes, to test the lifecycle without a daemon.
type Libvirt struct {
	Mu      sync.Mutex
	Nets    map[string]*Net
	Doms    map[string]*Dom
	Pools   map[string]map[string][]byte // pool -> volume -> content
	Calls   []string
	Hang    chan struct{} // when set, DomainDefineXML blocks on it
	KVMCaps bool
	// HostCPUs, when set, are listed in the host capabilities (one NUMA
	// cell).
	HostCPUs int
	// startInFlight names domains and networks whose start an interrupted
	// client requested: their state reads shut off (inactive) once, then
	// they are running (the request completed in libvirtd meanwhile).
	StartInFlight map[string]bool
	// defineInFlight names domains, networks and volumes whose creation
	// an interrupted client requested: the request completes in libvirtd
	// just before this client's own create, which then fails as a
	// duplicate.
	DefineInFlight map[string]bool
	// hookDefine runs (locked) at the start of DomainDefineXML.
	HookDefine func(name string)
	// PoolInactive: the pools are defined but not started (a restart of
	// libvirtd, or their directory removed by hand: PoolDirGone, and then
	// starting fails until they are built again).
	PoolInactive, PoolDirGone bool
	// MonitorReply is what the monitor answers every command, when set.
	MonitorReply string
}

type Net struct {
	XML    string
	Active bool
}

type Dom struct {
	XML   string
	State libvirt.DomainState
	Snaps map[string]string // name -> the snapshot's XML
}

func New() *Libvirt {
	return &Libvirt{Nets: map[string]*Net{}, Doms: map[string]*Dom{}, Pools: map[string]map[string][]byte{}}
}

func noObj(code libvirt.ErrorNumber, what string) error {
	return libvirt.Error{Code: uint32(code), Message: what + " not found"}
}

func (f *Libvirt) log(format string, a ...any) {
	f.Calls = append(f.Calls, fmt.Sprintf(format, a...))
}

func (f *Libvirt) ConnectGetCapabilities() (string, error) {
	feature := "sse4.2"
	if f.KVMCaps {
		feature = "vmx"
	}
	cells := ""
	if f.HostCPUs > 0 {
		cells = fmt.Sprintf("<topology><cells num='1'><cell id='0'><cpus num='%d'></cpus></cell></cells></topology>", f.HostCPUs)
	}
	return "<capabilities><host><cpu><feature name='" + feature + "'/></cpu>" + cells + "</host></capabilities>", nil
}

func (f *Libvirt) ConnectGetDomainCapabilities(e, a, m, v libvirt.OptString, fl libvirt.ConnectGetDomainCapabilitiesFlags) (string, error) {
	return "<domainCapabilities><domain>kvm</domain></domainCapabilities>", nil
}

func (f *Libvirt) ConnectListAllNetworks(int32, libvirt.ConnectListAllNetworksFlags) ([]libvirt.Network, uint32, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var out []libvirt.Network
	for n := range f.Nets {
		out = append(out, libvirt.Network{Name: n})
	}
	return out, uint32(len(out)), nil
}

func (f *Libvirt) ConnectListAllDomains(int32, libvirt.ConnectListAllDomainsFlags) ([]libvirt.Domain, uint32, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var out []libvirt.Domain
	for n := range f.Doms {
		out = append(out, libvirt.Domain{Name: n})
	}
	return out, uint32(len(out)), nil
}

func (f *Libvirt) NetworkLookupByName(name string) (libvirt.Network, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if _, ok := f.Nets[name]; !ok {
		return libvirt.Network{}, noObj(libvirt.ErrNoNetwork, "network "+name)
	}
	return libvirt.Network{Name: name}, nil
}

func (f *Libvirt) NetworkDefineXML(x string) (libvirt.Network, error) {
	var n libvirtxml.Network
	if err := n.Unmarshal(x); err != nil {
		return libvirt.Network{}, err
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.log("define network %s", n.Name)
	if f.DefineInFlight[n.Name] {
		delete(f.DefineInFlight, n.Name)
		f.Nets[n.Name] = &Net{XML: x}
	}
	if _, ok := f.Nets[n.Name]; ok {
		return libvirt.Network{}, libvirt.Error{Code: uint32(libvirt.ErrOperationFailed), Message: "exists"}
	}
	f.Nets[n.Name] = &Net{XML: x}
	return libvirt.Network{Name: n.Name}, nil
}

func (f *Libvirt) net(n libvirt.Network) (*Net, error) {
	fn, ok := f.Nets[n.Name]
	if !ok {
		return nil, noObj(libvirt.ErrNoNetwork, "network "+n.Name)
	}
	return fn, nil
}

func (f *Libvirt) NetworkCreate(n libvirt.Network) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fn, err := f.net(n)
	if err != nil {
		return err
	}
	if fn.Active {
		return libvirt.Error{Code: uint32(libvirt.ErrOperationInvalid), Message: "Requested operation is not valid: network is already active"}
	}
	f.log("start network %s", n.Name)
	fn.Active = true
	return nil
}

func (f *Libvirt) NetworkDestroy(n libvirt.Network) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fn, err := f.net(n)
	if err == nil {
		fn.Active = false
	}
	return err
}

func (f *Libvirt) NetworkUndefine(n libvirt.Network) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if _, err := f.net(n); err != nil {
		return err
	}
	f.log("undefine network %s", n.Name)
	delete(f.Nets, n.Name)
	return nil
}

func (f *Libvirt) NetworkGetXMLDesc(n libvirt.Network, _ uint32) (string, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fn, err := f.net(n)
	if err != nil {
		return "", err
	}
	return fn.XML, nil
}

func (f *Libvirt) NetworkIsActive(n libvirt.Network) (int32, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fn, err := f.net(n)
	if err != nil {
		return 0, err
	}
	if f.StartInFlight[n.Name] {
		delete(f.StartInFlight, n.Name)
		was := fn.Active
		fn.Active = true
		if !was {
			return 0, nil
		}
	}
	if !fn.Active {
		return 0, nil
	}
	return 1, nil
}

func (f *Libvirt) StoragePoolLookupByName(name string) (libvirt.StoragePool, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if _, ok := f.Pools[name]; !ok {
		return libvirt.StoragePool{}, noObj(libvirt.ErrNoStoragePool, "pool "+name)
	}
	return libvirt.StoragePool{Name: name}, nil
}

func (f *Libvirt) StoragePoolDefineXML(x string, _ uint32) (libvirt.StoragePool, error) {
	var p libvirtxml.StoragePool
	if err := p.Unmarshal(x); err != nil {
		return libvirt.StoragePool{}, err
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Pools[p.Name] = map[string][]byte{}
	return libvirt.StoragePool{Name: p.Name}, nil
}

// StoragePoolBuild makes the pool's directory again (PoolDirGone false).
func (f *Libvirt) StoragePoolBuild(libvirt.StoragePool, libvirt.StoragePoolBuildFlags) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.PoolDirGone = false
	return nil
}

// StoragePoolCreate starts a pool, which fails while its directory is
// gone, as libvirt's does.
func (f *Libvirt) StoragePoolCreate(libvirt.StoragePool, libvirt.StoragePoolCreateFlags) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.PoolDirGone {
		return libvirt.Error{Code: uint32(libvirt.ErrInternalError), Message: "cannot open directory: No such file or directory"}
	}
	f.PoolInactive = false
	return nil
}

func (f *Libvirt) StoragePoolIsActive(libvirt.StoragePool) (int32, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.PoolInactive {
		return 0, nil
	}
	return 1, nil
}
func (f *Libvirt) StoragePoolRefresh(libvirt.StoragePool, uint32) error { return nil }

func (f *Libvirt) StoragePoolListAllVolumes(p libvirt.StoragePool, _ int32, _ uint32) ([]libvirt.StorageVol, uint32, error) {
	if f.PoolInactive {
		return nil, 0, libvirt.Error{Code: uint32(libvirt.ErrOperationInvalid), Message: "Requested operation is not valid: storage pool is not active"}
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var out []libvirt.StorageVol
	for n := range f.Pools[p.Name] {
		out = append(out, libvirt.StorageVol{Pool: p.Name, Name: n})
	}
	return out, uint32(len(out)), nil
}

func (f *Libvirt) StorageVolLookupByName(p libvirt.StoragePool, name string) (libvirt.StorageVol, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if _, ok := f.Pools[p.Name][name]; !ok {
		return libvirt.StorageVol{}, noObj(libvirt.ErrNoStorageVol, "volume "+name)
	}
	return libvirt.StorageVol{Pool: p.Name, Name: name}, nil
}

func (f *Libvirt) StorageVolCreateXML(p libvirt.StoragePool, x string, _ libvirt.StorageVolCreateFlags) (libvirt.StorageVol, error) {
	var v libvirtxml.StorageVolume
	if err := v.Unmarshal(x); err != nil {
		return libvirt.StorageVol{}, err
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.DefineInFlight[v.Name] {
		delete(f.DefineInFlight, v.Name)
		f.Pools[p.Name][v.Name] = []byte{}
	}
	if _, ok := f.Pools[p.Name][v.Name]; ok {
		return libvirt.StorageVol{}, libvirt.Error{Code: uint32(libvirt.ErrStorageVolExist), Message: "exists"}
	}
	f.log("create volume %s", v.Name)
	f.Pools[p.Name][v.Name] = []byte{}
	return libvirt.StorageVol{Pool: p.Name, Name: v.Name}, nil
}

func (f *Libvirt) StorageVolCreateXMLFrom(p libvirt.StoragePool, x string, _ libvirt.StorageVol, fl libvirt.StorageVolCreateFlags) (libvirt.StorageVol, error) {
	return f.StorageVolCreateXML(p, x, fl)
}

func (f *Libvirt) StorageVolUpload(v libvirt.StorageVol, r io.Reader, _, _ uint64, _ libvirt.StorageVolUploadFlags) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.log("upload %s (%d bytes)", v.Name, len(data))
	f.Pools[v.Pool][v.Name] = data
	return nil
}

func (f *Libvirt) StorageVolDelete(v libvirt.StorageVol, _ libvirt.StorageVolDeleteFlags) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if _, ok := f.Pools[v.Pool][v.Name]; !ok {
		return noObj(libvirt.ErrNoStorageVol, "volume "+v.Name)
	}
	f.log("delete volume %s", v.Name)
	delete(f.Pools[v.Pool], v.Name)
	return nil
}

func (f *Libvirt) StorageVolGetPath(v libvirt.StorageVol) (string, error) {
	return "/pool/" + v.Pool + "/" + v.Name, nil
}

func (f *Libvirt) DomainLookupByName(name string) (libvirt.Domain, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if _, ok := f.Doms[name]; !ok {
		return libvirt.Domain{}, noObj(libvirt.ErrNoDomain, "domain "+name)
	}
	return libvirt.Domain{Name: name}, nil
}

func (f *Libvirt) DomainDefineXML(x string) (libvirt.Domain, error) {
	if f.Hang != nil {
		<-f.Hang
	}
	var d libvirtxml.Domain
	if err := d.Unmarshal(x); err != nil {
		return libvirt.Domain{}, err
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.log("define domain %s", d.Name)
	if f.HookDefine != nil {
		f.HookDefine(d.Name)
	}
	if f.DefineInFlight[d.Name] {
		delete(f.DefineInFlight, d.Name)
		f.Doms[d.Name] = &Dom{XML: x, State: libvirt.DomainShutoff}
	}
	if _, ok := f.Doms[d.Name]; ok {
		return libvirt.Domain{}, libvirt.Error{Code: uint32(libvirt.ErrOperationFailed), Message: "exists"}
	}
	f.Doms[d.Name] = &Dom{XML: x, State: libvirt.DomainShutoff}
	return libvirt.Domain{Name: d.Name}, nil
}

func (f *Libvirt) dom(d libvirt.Domain) (*Dom, error) {
	fd, ok := f.Doms[d.Name]
	if !ok {
		return nil, noObj(libvirt.ErrNoDomain, "domain "+d.Name)
	}
	return fd, nil
}

func (f *Libvirt) DomainCreate(d libvirt.Domain) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fd, err := f.dom(d)
	if err != nil {
		return err
	}
	if fd.State == libvirt.DomainRunning {
		return libvirt.Error{Code: uint32(libvirt.ErrOperationInvalid), Message: "Requested operation is not valid: domain is already running"}
	}
	f.log("start domain %s", d.Name)
	fd.State = libvirt.DomainRunning
	return nil
}

func (f *Libvirt) DomainDestroy(d libvirt.Domain) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fd, err := f.dom(d)
	if err == nil {
		fd.State = libvirt.DomainShutoff
	}
	return err
}

func (f *Libvirt) DomainUndefineFlags(d libvirt.Domain, _ libvirt.DomainUndefineFlagsValues) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if _, err := f.dom(d); err != nil {
		return err
	}
	f.log("undefine domain %s", d.Name)
	delete(f.Doms, d.Name)
	return nil
}

func (f *Libvirt) DomainGetState(d libvirt.Domain, _ uint32) (int32, int32, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fd, err := f.dom(d)
	if err != nil {
		return 0, 0, err
	}
	if f.StartInFlight[d.Name] {
		delete(f.StartInFlight, d.Name)
		state := fd.State
		fd.State = libvirt.DomainRunning
		return int32(state), 0, nil
	}
	return int32(fd.State), 0, nil
}

func (f *Libvirt) DomainGetXMLDesc(d libvirt.Domain, _ libvirt.DomainXMLFlags) (string, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fd, err := f.dom(d)
	if err != nil {
		return "", err
	}
	return fd.XML, nil
}

func (f *Libvirt) DomainSnapshotCreateXML(d libvirt.Domain, x string, _ uint32) (libvirt.DomainSnapshot, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fd, err := f.dom(d)
	if err != nil {
		return libvirt.DomainSnapshot{}, err
	}
	name := x[strings.Index(x, "<name>")+6 : strings.Index(x, "</name>")]
	if fd.Snaps == nil {
		fd.Snaps = map[string]string{}
	}
	fd.Snaps[name] = x
	f.log("snapshot domain %s as %s", d.Name, name)
	return libvirt.DomainSnapshot{Name: name, Dom: d}, nil
}

func (f *Libvirt) DomainSnapshotLookupByName(d libvirt.Domain, name string, _ uint32) (libvirt.DomainSnapshot, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fd, err := f.dom(d)
	if err != nil {
		return libvirt.DomainSnapshot{}, err
	}
	if _, ok := fd.Snaps[name]; !ok {
		return libvirt.DomainSnapshot{}, noObj(libvirt.ErrNoDomainSnapshot, "snapshot "+name)
	}
	return libvirt.DomainSnapshot{Name: name, Dom: d}, nil
}

func (f *Libvirt) DomainSnapshotDelete(s libvirt.DomainSnapshot, _ libvirt.DomainSnapshotDeleteFlags) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fd, err := f.dom(s.Dom)
	if err != nil {
		return err
	}
	if _, ok := fd.Snaps[s.Name]; !ok {
		return noObj(libvirt.ErrNoDomainSnapshot, "snapshot "+s.Name)
	}
	delete(fd.Snaps, s.Name)
	f.log("delete snapshot %s of domain %s", s.Name, s.Dom.Name)
	return nil
}

// QEMUDomainMonitorCommand knows the human monitor's loadvm of a running
// domain's snapshot; MonitorReply, when set, is QEMU's reply instead (an
// error of QEMU's, which leaves the domain paused).
func (f *Libvirt) QEMUDomainMonitorCommand(d libvirt.Domain, cmd string, flags uint32) (string, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fd, err := f.dom(d)
	if err != nil {
		return "", err
	}
	f.log("monitor %s: %s (flags %d)", d.Name, cmd, flags)
	name, ok := strings.CutPrefix(cmd, "loadvm ")
	if !ok || flags != 1 {
		return "", libvirt.Error{Code: uint32(libvirt.ErrOperationInvalid), Message: "the fake knows the human monitor's loadvm only"}
	}
	if fd.State != libvirt.DomainRunning {
		return "", libvirt.Error{Code: uint32(libvirt.ErrOperationInvalid), Message: "domain is not running"}
	}
	if f.MonitorReply != "" {
		fd.State = libvirt.DomainPaused
		return f.MonitorReply, nil
	}
	if _, ok := fd.Snaps[name]; !ok {
		fd.State = libvirt.DomainPaused
		return "Error: Snapshot '" + name + "' does not exist in one or more devices\r\n", nil
	}
	return "", nil
}

func (f *Libvirt) DomainRevertToSnapshot(s libvirt.DomainSnapshot, _ uint32) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fd, err := f.dom(s.Dom)
	if err != nil {
		return err
	}
	f.log("revert domain %s to %s", s.Dom.Name, s.Name)
	fd.State = libvirt.DomainRunning
	return nil
}
