// Package atomicfile writes files so that a reader, or a crash at any
// moment, sees either no file or the old one, or the whole new one: never
// a part. labctl keeps its state, keys, pins, caches and configs this way.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data: it writes a temporary file in the same
// directory (mode perm from its first byte), syncs it, renames it over
// path and syncs the directory.
func Write(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, func(tmp string) error { return os.Rename(tmp, path) })
}

// Create is Write for a file that must not exist yet: the complete file
// is linked into place, which fails with an error matching fs.ErrExist
// when another writer's file got there first. Readers never see it half
// written, and of several writers at once exactly one wins.
func Create(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, func(tmp string) error { return os.Link(tmp, path) })
}

func write(path string, data []byte, perm fs.FileMode, place func(tmp string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a rename it is gone already; after a link it is the second name
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := place(tmp); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
