// The lab's storage: the pool, base images uploaded once, node disks as
// copy-on-write overlays, seeds.

package vm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/plan"
)

func (m *Manager) ensurePool(ctx context.Context) (libvirt.StoragePool, error) {
	name := m.part.Plan.Libvirt.Pool
	var pool libvirt.StoragePool
	err := m.c.Do(ctx, "storage pool "+name, func(a API) error {
		var err error
		pool, err = a.StoragePoolLookupByName(name)
		if IsNoObject(err) {
			x, xerr := PoolXML(name, m.o.PoolDir)
			if xerr != nil {
				return xerr
			}
			if pool, err = a.StoragePoolDefineXML(x, 0); err != nil {
				return fmt.Errorf("define: %w", err)
			}
			if err = a.StoragePoolBuild(pool, 0); err != nil {
				return fmt.Errorf("build %s: %w", m.o.PoolDir, err)
			}
		} else if err != nil {
			return err
		}
		active, err := a.StoragePoolIsActive(pool)
		if err != nil {
			return err
		}
		if active == 0 {
			if err := a.StoragePoolCreate(pool, 0); err != nil {
				// Its directory may be gone (removed by hand): make it
				// again, then start.
				if berr := a.StoragePoolBuild(pool, 0); berr != nil {
					return fmt.Errorf("start: %w (and build %s: %v)", err, m.o.PoolDir, berr)
				}
				if err := a.StoragePoolCreate(pool, 0); err != nil {
					return fmt.Errorf("start: %w", err)
				}
			}
		}
		return nil
	})
	return pool, err
}

// image resolves a VM image in the cache (pulling it when the catalogue
// knows it).
func (m *Manager) image(ctx context.Context, name string) (images.Entry, error) {
	img, err := m.o.Cache.Resolve(ctx, name, &images.Downloader{})
	if err == nil && img.Kind != images.KindVMImage {
		err = fmt.Errorf("image %s is a %s, not a VM image", name, img.Kind)
	}
	return img, err
}

// base makes sure the pool exists and holds the image, under the
// machine-wide lock of the pool.
func (m *Manager) base(ctx context.Context, img images.Entry) (libvirt.StoragePool, string, Boot, error) {
	unlock, err := lockShared(ctx, m.part.Hypervisor.URI, m.part.Plan.Libvirt.Pool, func(msg string) { m.o.Progress("", msg) })
	if err != nil {
		return libvirt.StoragePool{}, "", Boot{}, err
	}
	defer unlock()
	pool, err := m.ensurePool(ctx)
	if err != nil {
		return pool, "", Boot{}, err
	}
	disk, boot, err := m.ensureBase(ctx, pool, img)
	return pool, disk, boot, err
}

// Base makes sure the lab's pool holds the named VM image (uploading it
// once, as Up does) and returns the paths of its disk and boot files
// there: what another tool needs to boot the same kernel and initrd.
func (m *Manager) Base(ctx context.Context, name string) (string, Boot, error) {
	img, err := m.image(ctx, name)
	if err != nil {
		return "", Boot{}, err
	}
	_, disk, boot, err := m.base(ctx, img)
	return disk, boot, err
}

// DeleteVolumes deletes the volumes of the lab's pool whose names start
// with prefix and returns their names. A missing pool has none.
func (m *Manager) DeleteVolumes(ctx context.Context, prefix string) ([]string, error) {
	return deleteVolumes(ctx, m.c, m.part.Plan.Libvirt.Pool, prefix)
}

// ensureBase uploads the image's disk (and kernel and initrd) into the
// pool once per image checksum. A marker volume is created last: volumes
// without it are from an interrupted upload and are replaced.
func (m *Manager) ensureBase(ctx context.Context, pool libvirt.StoragePool, e images.Entry) (string, Boot, error) {
	base := baseVolume(e)
	type part struct {
		role, vol, format string
	}
	parts := []part{{"disk", base + ".qcow2", "qcow2"}}
	if e.Meta["boot"] == "kernel" {
		parts = append(parts, part{"kernel", base + ".vmlinuz", "raw"}, part{"initrd", base + ".initrd", "raw"})
	}
	marker := base + ".complete"
	var complete bool
	if err := m.c.Do(ctx, "look up base image", func(a API) error {
		_, err := a.StorageVolLookupByName(pool, marker)
		complete = err == nil
		if err != nil && !IsNoObject(err) {
			return err
		}
		return nil
	}); err != nil {
		return "", Boot{}, err
	}
	if !complete {
		for _, pt := range parts {
			f, ok := e.File(pt.role)
			if !ok {
				return "", Boot{}, fmt.Errorf("image %s has no %s file", e.Name, pt.role)
			}
			m.o.Progress("", fmt.Sprintf("uploading %s %s (%d MiB) into pool %s", e.Name, pt.role, f.Size>>20, m.part.Plan.Libvirt.Pool))
			if err := m.uploadVolume(ctx, pool, pt.vol, pt.format, m.o.Cache.Abs(f.Path), f.Size); err != nil {
				return "", Boot{}, fmt.Errorf("upload %s: %w", pt.vol, err)
			}
		}
		if err := m.c.Do(ctx, "mark base image complete", func(a API) error {
			x, _ := VolumeXML(marker, "raw", 1, "", "")
			_, err := a.StorageVolCreateXML(pool, x, 0)
			return err
		}); err != nil {
			return "", Boot{}, err
		}
	}
	paths := map[string]string{}
	if err := m.c.Do(ctx, "base image paths", func(a API) error {
		for _, pt := range parts {
			v, err := a.StorageVolLookupByName(pool, pt.vol)
			if err != nil {
				return err
			}
			if paths[pt.role], err = a.StorageVolGetPath(v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return "", Boot{}, err
	}
	b := Boot{}
	if e.Meta["boot"] == "kernel" {
		b = Boot{Kernel: paths["kernel"], Initrd: paths["initrd"], Cmdline: e.Meta["cmdline"]}
	}
	return paths["disk"], b, nil
}

// uploadVolume (re)creates volume name in pool and fills it from a file.
func (m *Manager) uploadVolume(ctx context.Context, pool libvirt.StoragePool, name, format, src string, size int64) error {
	var vol libvirt.StorageVol
	if err := m.c.Do(ctx, "create volume "+name, func(a API) error {
		if old, err := a.StorageVolLookupByName(pool, name); err == nil {
			if err := a.StorageVolDelete(old, 0); err != nil {
				return err
			}
		} else if !IsNoObject(err) {
			return err
		}
		x, err := VolumeXML(name, format, uint64(size), "", "")
		if err != nil {
			return err
		}
		vol, err = a.StorageVolCreateXML(pool, x, 0)
		return err
	}); err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	// An upload moves the whole file: bound it by size (at least 10 MiB/s).
	timeout := CallTimeout + time.Duration(size/(10<<20))*time.Second
	return m.c.do(ctx, "upload "+name, timeout, func(a API) error {
		return a.StorageVolUpload(vol, f, 0, uint64(size), 0)
	})
}

func (m *Manager) ensureDisk(ctx context.Context, pool libvirt.StoragePool, basePath string, n plan.Node) error {
	name := diskVolume(m.part.Plan.Lab, n.Name)
	return m.c.Do(ctx, "disk "+name, func(a API) error {
		if _, err := a.StorageVolLookupByName(pool, name); err == nil {
			return nil
		} else if !IsNoObject(err) {
			return err
		}
		x, err := VolumeXML(name, "qcow2", n.DiskGiB<<30, basePath, "qcow2")
		if err != nil {
			return err
		}
		_, err = orAdopt(a.StorageVolCreateXML(pool, x, 0))(func() (libvirt.StorageVol, bool) {
			v, lerr := a.StorageVolLookupByName(pool, name)
			return v, lerr == nil
		})
		return err
	})
}

// writeSeed (re)writes the node's seed volume. It runs only while the node
// has no domain, so a seed cut short by an interruption is always replaced.
func (m *Manager) writeSeed(ctx context.Context, pool libvirt.StoragePool, n plan.Node, userKey string) error {
	hostKey, err := m.o.Keys.Host(n.Name)
	if err != nil {
		return err
	}
	in := SeedInput{Plan: m.part.Plan, Node: n, UserKey: userKey, HostKey: hostKey,
		DockerConfig: m.o.DockerConfig, DockerGroup: m.seedDocker}
	seed, err := MakeSeed(in)
	if err != nil {
		return err
	}
	var iso bytes.Buffer
	if err := seed.ISO(&iso); err != nil {
		return err
	}
	tmp, err := os.CreateTemp("", "labctl-seed-*.iso")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(iso.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	tmp.Close()
	return m.uploadVolume(ctx, pool, seedVolume(m.part.Plan.Lab, n.Name), "raw", tmp.Name(), int64(iso.Len()))
}
