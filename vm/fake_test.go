package vm

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"
)

// fakeLibvirt is an in-memory libvirt: enough of the API, with libvirt's
// error codes, to test the lifecycle without a daemon.
type fakeLibvirt struct {
	mu      sync.Mutex
	nets    map[string]*fakeNet
	doms    map[string]*fakeDom
	pools   map[string]map[string][]byte // pool -> volume -> content
	calls   []string
	hang    chan struct{} // when set, DomainDefineXML blocks on it
	kvmCaps bool
	// startInFlight names domains and networks whose start an interrupted
	// client requested: their state reads shut off (inactive) once, then
	// they are running (the request completed in libvirtd meanwhile).
	startInFlight map[string]bool
	// defineInFlight names domains, networks and volumes whose creation
	// an interrupted client requested: the request completes in libvirtd
	// just before this client's own create, which then fails as a
	// duplicate.
	defineInFlight map[string]bool
	// hookDefine runs (locked) at the start of DomainDefineXML.
	hookDefine func(name string)
}

type fakeNet struct {
	xml    string
	active bool
}

type fakeDom struct {
	xml   string
	state libvirt.DomainState
	snaps map[string]string // name -> the snapshot's XML
}

func newFake() *fakeLibvirt {
	return &fakeLibvirt{nets: map[string]*fakeNet{}, doms: map[string]*fakeDom{}, pools: map[string]map[string][]byte{}}
}

func noObj(code libvirt.ErrorNumber, what string) error {
	return libvirt.Error{Code: uint32(code), Message: what + " not found"}
}

func (f *fakeLibvirt) log(format string, a ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

func (f *fakeLibvirt) ConnectGetCapabilities() (string, error) {
	if f.kvmCaps {
		return "<capabilities><host><cpu><feature name='vmx'/></cpu></host></capabilities>", nil
	}
	return "<capabilities><host><cpu><feature name='sse4.2'/></cpu></host></capabilities>", nil
}

func (f *fakeLibvirt) ConnectGetDomainCapabilities(e, a, m, v libvirt.OptString, fl libvirt.ConnectGetDomainCapabilitiesFlags) (string, error) {
	return "<domainCapabilities><domain>kvm</domain></domainCapabilities>", nil
}

func (f *fakeLibvirt) ConnectListAllNetworks(int32, libvirt.ConnectListAllNetworksFlags) ([]libvirt.Network, uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []libvirt.Network
	for n := range f.nets {
		out = append(out, libvirt.Network{Name: n})
	}
	return out, uint32(len(out)), nil
}

func (f *fakeLibvirt) ConnectListAllDomains(int32, libvirt.ConnectListAllDomainsFlags) ([]libvirt.Domain, uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []libvirt.Domain
	for n := range f.doms {
		out = append(out, libvirt.Domain{Name: n})
	}
	return out, uint32(len(out)), nil
}

func (f *fakeLibvirt) NetworkLookupByName(name string) (libvirt.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.nets[name]; !ok {
		return libvirt.Network{}, noObj(libvirt.ErrNoNetwork, "network "+name)
	}
	return libvirt.Network{Name: name}, nil
}

func (f *fakeLibvirt) NetworkDefineXML(x string) (libvirt.Network, error) {
	var n libvirtxml.Network
	if err := n.Unmarshal(x); err != nil {
		return libvirt.Network{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("define network %s", n.Name)
	if f.defineInFlight[n.Name] {
		delete(f.defineInFlight, n.Name)
		f.nets[n.Name] = &fakeNet{xml: x}
	}
	if _, ok := f.nets[n.Name]; ok {
		return libvirt.Network{}, libvirt.Error{Code: uint32(libvirt.ErrOperationFailed), Message: "exists"}
	}
	f.nets[n.Name] = &fakeNet{xml: x}
	return libvirt.Network{Name: n.Name}, nil
}

func (f *fakeLibvirt) net(n libvirt.Network) (*fakeNet, error) {
	fn, ok := f.nets[n.Name]
	if !ok {
		return nil, noObj(libvirt.ErrNoNetwork, "network "+n.Name)
	}
	return fn, nil
}

func (f *fakeLibvirt) NetworkCreate(n libvirt.Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn, err := f.net(n)
	if err != nil {
		return err
	}
	if fn.active {
		return libvirt.Error{Code: uint32(libvirt.ErrOperationInvalid), Message: "Requested operation is not valid: network is already active"}
	}
	f.log("start network %s", n.Name)
	fn.active = true
	return nil
}

func (f *fakeLibvirt) NetworkDestroy(n libvirt.Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn, err := f.net(n)
	if err == nil {
		fn.active = false
	}
	return err
}

func (f *fakeLibvirt) NetworkUndefine(n libvirt.Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.net(n); err != nil {
		return err
	}
	f.log("undefine network %s", n.Name)
	delete(f.nets, n.Name)
	return nil
}

func (f *fakeLibvirt) NetworkGetXMLDesc(n libvirt.Network, _ uint32) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn, err := f.net(n)
	if err != nil {
		return "", err
	}
	return fn.xml, nil
}

func (f *fakeLibvirt) NetworkIsActive(n libvirt.Network) (int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn, err := f.net(n)
	if err != nil {
		return 0, err
	}
	if f.startInFlight[n.Name] {
		delete(f.startInFlight, n.Name)
		was := fn.active
		fn.active = true
		if !was {
			return 0, nil
		}
	}
	if !fn.active {
		return 0, nil
	}
	return 1, nil
}

func (f *fakeLibvirt) StoragePoolLookupByName(name string) (libvirt.StoragePool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pools[name]; !ok {
		return libvirt.StoragePool{}, noObj(libvirt.ErrNoStoragePool, "pool "+name)
	}
	return libvirt.StoragePool{Name: name}, nil
}

func (f *fakeLibvirt) StoragePoolDefineXML(x string, _ uint32) (libvirt.StoragePool, error) {
	var p libvirtxml.StoragePool
	if err := p.Unmarshal(x); err != nil {
		return libvirt.StoragePool{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pools[p.Name] = map[string][]byte{}
	return libvirt.StoragePool{Name: p.Name}, nil
}

func (f *fakeLibvirt) StoragePoolBuild(libvirt.StoragePool, libvirt.StoragePoolBuildFlags) error {
	return nil
}
func (f *fakeLibvirt) StoragePoolCreate(libvirt.StoragePool, libvirt.StoragePoolCreateFlags) error {
	return nil
}
func (f *fakeLibvirt) StoragePoolIsActive(libvirt.StoragePool) (int32, error) { return 1, nil }
func (f *fakeLibvirt) StoragePoolRefresh(libvirt.StoragePool, uint32) error   { return nil }

func (f *fakeLibvirt) StoragePoolListAllVolumes(p libvirt.StoragePool, _ int32, _ uint32) ([]libvirt.StorageVol, uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []libvirt.StorageVol
	for n := range f.pools[p.Name] {
		out = append(out, libvirt.StorageVol{Pool: p.Name, Name: n})
	}
	return out, uint32(len(out)), nil
}

func (f *fakeLibvirt) StorageVolLookupByName(p libvirt.StoragePool, name string) (libvirt.StorageVol, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pools[p.Name][name]; !ok {
		return libvirt.StorageVol{}, noObj(libvirt.ErrNoStorageVol, "volume "+name)
	}
	return libvirt.StorageVol{Pool: p.Name, Name: name}, nil
}

func (f *fakeLibvirt) StorageVolCreateXML(p libvirt.StoragePool, x string, _ libvirt.StorageVolCreateFlags) (libvirt.StorageVol, error) {
	var v libvirtxml.StorageVolume
	if err := v.Unmarshal(x); err != nil {
		return libvirt.StorageVol{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.defineInFlight[v.Name] {
		delete(f.defineInFlight, v.Name)
		f.pools[p.Name][v.Name] = []byte{}
	}
	if _, ok := f.pools[p.Name][v.Name]; ok {
		return libvirt.StorageVol{}, libvirt.Error{Code: uint32(libvirt.ErrStorageVolExist), Message: "exists"}
	}
	f.log("create volume %s", v.Name)
	f.pools[p.Name][v.Name] = []byte{}
	return libvirt.StorageVol{Pool: p.Name, Name: v.Name}, nil
}

func (f *fakeLibvirt) StorageVolCreateXMLFrom(p libvirt.StoragePool, x string, _ libvirt.StorageVol, fl libvirt.StorageVolCreateFlags) (libvirt.StorageVol, error) {
	return f.StorageVolCreateXML(p, x, fl)
}

func (f *fakeLibvirt) StorageVolUpload(v libvirt.StorageVol, r io.Reader, _, _ uint64, _ libvirt.StorageVolUploadFlags) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("upload %s (%d bytes)", v.Name, len(data))
	f.pools[v.Pool][v.Name] = data
	return nil
}

func (f *fakeLibvirt) StorageVolDelete(v libvirt.StorageVol, _ libvirt.StorageVolDeleteFlags) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pools[v.Pool][v.Name]; !ok {
		return noObj(libvirt.ErrNoStorageVol, "volume "+v.Name)
	}
	f.log("delete volume %s", v.Name)
	delete(f.pools[v.Pool], v.Name)
	return nil
}

func (f *fakeLibvirt) StorageVolGetPath(v libvirt.StorageVol) (string, error) {
	return "/pool/" + v.Pool + "/" + v.Name, nil
}

func (f *fakeLibvirt) DomainLookupByName(name string) (libvirt.Domain, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.doms[name]; !ok {
		return libvirt.Domain{}, noObj(libvirt.ErrNoDomain, "domain "+name)
	}
	return libvirt.Domain{Name: name}, nil
}

func (f *fakeLibvirt) DomainDefineXML(x string) (libvirt.Domain, error) {
	if f.hang != nil {
		<-f.hang
	}
	var d libvirtxml.Domain
	if err := d.Unmarshal(x); err != nil {
		return libvirt.Domain{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("define domain %s", d.Name)
	if f.hookDefine != nil {
		f.hookDefine(d.Name)
	}
	if f.defineInFlight[d.Name] {
		delete(f.defineInFlight, d.Name)
		f.doms[d.Name] = &fakeDom{xml: x, state: libvirt.DomainShutoff}
	}
	if _, ok := f.doms[d.Name]; ok {
		return libvirt.Domain{}, libvirt.Error{Code: uint32(libvirt.ErrOperationFailed), Message: "exists"}
	}
	f.doms[d.Name] = &fakeDom{xml: x, state: libvirt.DomainShutoff}
	return libvirt.Domain{Name: d.Name}, nil
}

func (f *fakeLibvirt) dom(d libvirt.Domain) (*fakeDom, error) {
	fd, ok := f.doms[d.Name]
	if !ok {
		return nil, noObj(libvirt.ErrNoDomain, "domain "+d.Name)
	}
	return fd, nil
}

func (f *fakeLibvirt) DomainCreate(d libvirt.Domain) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.dom(d)
	if err != nil {
		return err
	}
	if fd.state == libvirt.DomainRunning {
		return libvirt.Error{Code: uint32(libvirt.ErrOperationInvalid), Message: "Requested operation is not valid: domain is already running"}
	}
	f.log("start domain %s", d.Name)
	fd.state = libvirt.DomainRunning
	return nil
}

func (f *fakeLibvirt) DomainDestroy(d libvirt.Domain) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.dom(d)
	if err == nil {
		fd.state = libvirt.DomainShutoff
	}
	return err
}

func (f *fakeLibvirt) DomainUndefineFlags(d libvirt.Domain, _ libvirt.DomainUndefineFlagsValues) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.dom(d); err != nil {
		return err
	}
	f.log("undefine domain %s", d.Name)
	delete(f.doms, d.Name)
	return nil
}

func (f *fakeLibvirt) DomainGetState(d libvirt.Domain, _ uint32) (int32, int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.dom(d)
	if err != nil {
		return 0, 0, err
	}
	if f.startInFlight[d.Name] {
		delete(f.startInFlight, d.Name)
		state := fd.state
		fd.state = libvirt.DomainRunning
		return int32(state), 0, nil
	}
	return int32(fd.state), 0, nil
}

func (f *fakeLibvirt) DomainGetXMLDesc(d libvirt.Domain, _ libvirt.DomainXMLFlags) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.dom(d)
	if err != nil {
		return "", err
	}
	return fd.xml, nil
}

func (f *fakeLibvirt) DomainSnapshotCreateXML(d libvirt.Domain, x string, _ uint32) (libvirt.DomainSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.dom(d)
	if err != nil {
		return libvirt.DomainSnapshot{}, err
	}
	name := x[strings.Index(x, "<name>")+6 : strings.Index(x, "</name>")]
	if fd.snaps == nil {
		fd.snaps = map[string]string{}
	}
	fd.snaps[name] = x
	f.log("snapshot domain %s as %s", d.Name, name)
	return libvirt.DomainSnapshot{Name: name, Dom: d}, nil
}

func (f *fakeLibvirt) DomainSnapshotLookupByName(d libvirt.Domain, name string, _ uint32) (libvirt.DomainSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.dom(d)
	if err != nil {
		return libvirt.DomainSnapshot{}, err
	}
	if _, ok := fd.snaps[name]; !ok {
		return libvirt.DomainSnapshot{}, noObj(libvirt.ErrNoDomainSnapshot, "snapshot "+name)
	}
	return libvirt.DomainSnapshot{Name: name, Dom: d}, nil
}

func (f *fakeLibvirt) DomainRevertToSnapshot(s libvirt.DomainSnapshot, _ uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.dom(s.Dom)
	if err != nil {
		return err
	}
	f.log("revert domain %s to %s", s.Dom.Name, s.Name)
	fd.state = libvirt.DomainRunning
	return nil
}
