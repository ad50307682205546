package bootfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// FS returns the boot folder as an fs.FS that is also an fs.ReadDirFS and an
// fs.StatFS, for code that lists the tree (a boot menu generated from it).
// Names are exact, as io/fs requires: no case folding, no backslashes. A
// name is taken from the first layer that has it, and a directory lists the
// union of that directory in every layer, the earlier layer winning for a
// name found in both. Listings leave out what Open would refuse (FIFOs,
// devices, symlinks leaving the folder); a symlink that stays inside is
// listed as a symlink, as os.DirFS does, so fs.WalkDir does not follow it
// into a loop. Each call sees the folders as they are then (see Root). The
// view is valid until r is closed.
func (r *Root) FS() fs.FS { return layered{r} }

// layered is the fs.FS view of a Root.
type layered struct{ r *Root }

var (
	_ fs.ReadDirFS = layered{}
	_ fs.StatFS    = layered{}
)

// Open opens a regular file or a merged directory.
func (l layered) Open(name string) (fs.File, error) {
	return lookup(l.r, func(roots []*os.Root) (fs.File, error) {
		fi, layer, err := find(roots, "open", name)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			entries, err := list(roots, name, layer)
			if err != nil {
				return nil, err
			}
			return &dir{name: name, info: fi, entries: entries}, nil
		}
		f, err := openRegular(roots[layer], name)
		if err != nil {
			return nil, pathError("open", name, err)
		}
		return f, nil
	})
}

// Stat returns what Open(name).Stat would, without opening it.
func (l layered) Stat(name string) (fs.FileInfo, error) {
	return lookup(l.r, func(roots []*os.Root) (fs.FileInfo, error) {
		fi, _, err := find(roots, "stat", name)
		return fi, err
	})
}

// ReadDir lists the merged directory name, sorted by name.
func (l layered) ReadDir(name string) ([]fs.DirEntry, error) {
	return lookup(l.r, func(roots []*os.Root) ([]fs.DirEntry, error) {
		fi, layer, err := find(roots, "readdir", name)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
		}
		return list(roots, name, layer)
	})
}

// find returns the first of roots (nil ones are missing layers) holding
// name, if it may be served: a regular file or a directory, symlinks
// followed only inside the layer. A name refused in one layer is not
// looked up in later ones, as in Root.Open.
func find(roots []*os.Root, op, name string) (fs.FileInfo, int, error) {
	if !fs.ValidPath(name) {
		return nil, 0, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	for i, or := range roots {
		if or == nil {
			continue
		}
		fi, err := statIn(or, name, true)
		if err == nil {
			return fi, i, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, 0, pathError(op, name, err)
		}
	}
	return nil, 0, pathError(op, name, ErrNotFound)
}

// list merges directory name of every layer from the first that holds it.
// Each entry name is decided by the first layer where it exists, as find
// decides it, and left out when that layer refuses it.
func list(roots []*os.Root, name string, from int) ([]fs.DirEntry, error) {
	seen := map[string]bool{}
	var out []fs.DirEntry
	for _, or := range roots[from:] {
		if or == nil {
			continue
		}
		if fi, err := statIn(or, name, true); err != nil || !fi.IsDir() {
			continue // shadowed by the layer that holds name
		}
		d, err := or.Open(name)
		if err != nil {
			return nil, pathError("readdir", name, classify(name, err))
		}
		entries, err := d.ReadDir(-1)
		d.Close()
		if err != nil {
			return nil, pathError("readdir", name, classify(name, err))
		}
		for _, e := range entries {
			n := e.Name()
			if seen[n] {
				continue
			}
			keep := e.Type().IsRegular() || e.IsDir()
			if e.Type()&fs.ModeSymlink != 0 {
				_, err := statIn(or, path.Join(name, n), true)
				if errors.Is(err, ErrNotFound) {
					continue // dangling: a later layer may hold the name
				}
				keep = err == nil
			}
			seen[n] = true
			if keep {
				out = append(out, e)
			}
		}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// pathError is err as io/fs callers expect it: a *fs.PathError whose Err is
// the bare sentinel, so that the message names the path once.
func pathError(op, name string, err error) error {
	kind := ErrAccess
	if errors.Is(err, ErrNotFound) {
		kind = ErrNotFound
	}
	return &fs.PathError{Op: op, Path: name, Err: kind}
}

// dir is an open merged directory.
type dir struct {
	name    string
	info    fs.FileInfo
	entries []fs.DirEntry
	off     int
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dir) Close() error               { return nil }

func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}

// ReadDir follows fs.ReadDirFile: n <= 0 returns the rest, else at most n
// entries and io.EOF at the end.
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}
