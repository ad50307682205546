// Package bootfs is the boot folder: the read-only tree of boot files that
// pxeproxy serves over TFTP and HTTP, made of layered folders (the admin's
// first, then built-in defaults for names the admin's lacks).
//
// Contract: no path can leave the folder. Every lookup goes through os.Root,
// so neither ".." nor a symlink planted in the folder reaches a file outside
// it, and only regular files are opened (never a FIFO or a device). The
// lexical clean-up of client names (Clean: backslashes, leading separators,
// ".." refused) is a pure function, table- and fuzz-tested. Errors wrap
// ErrNotFound or ErrAccess and name only the path relative to the folder,
// never a host path. Nothing in the folder is ever created or changed.
package bootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// ErrNotFound is wrapped by lookups of names that do not exist in any layer
// (or only as ambiguous case variants). It wraps fs.ErrNotExist, as io/fs
// users expect.
var ErrNotFound error = &kindError{"file not found", fs.ErrNotExist}

// ErrAccess is wrapped by lookups refused for safety: "..", NUL, symlinks
// leaving the folder, directories and other non-regular files. It wraps
// fs.ErrPermission.
var ErrAccess error = &kindError{"access violation", fs.ErrPermission}

// kindError is a sentinel whose text is its own but which is also the io/fs
// sentinel of its kind.
type kindError struct {
	text string
	kind error
}

func (e *kindError) Error() string { return e.text }
func (e *kindError) Unwrap() error { return e.kind }

// Root is the boot folder: one or more os.Root, searched in order.
type Root struct {
	roots []*os.Root
}

// OpenRoot opens dirs as the layers of the boot folder. The first one is
// the admin's folder; later ones are built-in defaults consulted only for
// names not found in an earlier one.
func OpenRoot(dirs ...string) (*Root, error) {
	if len(dirs) == 0 {
		return nil, errors.New("open boot folder: no directory given")
	}
	r := &Root{}
	for _, d := range dirs {
		or, err := os.OpenRoot(d)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("open boot folder: %w", err)
		}
		r.roots = append(r.roots, or)
	}
	return r, nil
}

// Close closes every underlying os.Root.
func (r *Root) Close() error {
	var errs []error
	for _, or := range r.roots {
		errs = append(errs, or.Close())
	}
	r.roots = nil
	return errors.Join(errs...)
}

// Clean turns a client's path into a slash-separated path relative to the
// folder, lexically only: '\' is a separator (Windows boot managers ask for
// \Boot\BCD, boot\x64\wdsnbp.com and even /boot\x64\...: docs/pxe-notes.md
// §7), leading separators and "." or empty elements are dropped. ".."
// elements and NUL are refused with ErrAccess, a name with nothing left
// with ErrNotFound. Clean is idempotent and its result never starts with '/'.
func Clean(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("clean path: nul byte: %w", ErrAccess)
	}
	name = strings.ReplaceAll(name, `\`, "/")
	elems := strings.Split(name, "/")
	out := elems[:0]
	for _, e := range elems {
		switch e {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("clean path: parent element: %w", ErrAccess)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return "", fmt.Errorf("clean path: empty name: %w", ErrNotFound)
	}
	return strings.Join(out, "/"), nil
}

// Open resolves a client path (cleaned with Clean) to an open regular file.
// Each element is matched exactly first, otherwise case-insensitively when
// exactly one directory entry matches (firmware asks for \Boot\BCD on a
// case-sensitive file system). Layers are searched in order; a name that is
// refused in one layer (ErrAccess) is not looked up in later ones.
func (r *Root) Open(name string) (*os.File, error) {
	clean, err := Clean(name)
	if err != nil {
		return nil, err
	}
	err = fmt.Errorf("open %q: no folder: %w", clean, ErrNotFound)
	for _, or := range r.roots {
		var f *os.File
		if f, err = openIn(or, clean); err == nil || !errors.Is(err, ErrNotFound) {
			return f, err
		}
	}
	return nil, err
}

// openIn resolves clean inside one os.Root and opens it if it is a regular file.
func openIn(or *os.Root, clean string) (*os.File, error) {
	rel, err := resolve(or, clean)
	if err != nil {
		return nil, err
	}
	if _, err := statIn(or, rel, false); err != nil {
		return nil, err
	}
	return openRegular(or, rel)
}

// statIn stats name inside or, following symlinks only inside it, and
// refuses what may not be served: anything but a regular file, or a
// directory when dirOK.
func statIn(or *os.Root, name string, dirOK bool) (fs.FileInfo, error) {
	// Stat before opening: opening a FIFO would block and opening a device
	// can have side effects.
	fi, err := or.Stat(name)
	if err != nil {
		return nil, classify(name, err)
	}
	if !fi.Mode().IsRegular() && !(dirOK && fi.IsDir()) {
		return nil, fmt.Errorf("open %q: not a regular file: %w", name, ErrAccess)
	}
	return fi, nil
}

// openRegular opens name, which statIn found to be a regular file.
func openRegular(or *os.Root, name string) (*os.File, error) {
	// O_NONBLOCK so a file swapped for a FIFO between Stat and open cannot
	// hang us; it has no effect on regular files.
	f, err := or.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, classify(name, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %q: not a regular file: %w", name, ErrAccess)
	}
	return f, nil
}

// resolve maps clean to the real name inside or, element by element: the exact
// name if it exists, else the single case-insensitive match.
func resolve(or *os.Root, clean string) (string, error) {
	elems := strings.Split(clean, "/")
	dir := "."
	for _, e := range elems {
		p := path.Join(dir, e)
		if _, err := or.Lstat(p); err == nil {
			dir = p
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", classify(p, err)
		}
		d, err := or.Open(dir)
		if err != nil {
			return "", classify(dir, err)
		}
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			return "", classify(dir, err)
		}
		match := ""
		for _, n := range names {
			if strings.EqualFold(n, e) {
				if match != "" {
					return "", fmt.Errorf("open %q: ambiguous case variants: %w", clean, ErrNotFound)
				}
				match = n
			}
		}
		if match == "" {
			return "", fmt.Errorf("open %q: %w", clean, ErrNotFound)
		}
		dir = path.Join(dir, match)
	}
	return dir, nil
}

// classify maps an os.Root error to ErrNotFound or ErrAccess. os.Root reports
// a symlink leaving the folder with an unexported error, so everything that
// is not "does not exist" counts as an access violation.
func classify(name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("open %q: %w", name, ErrNotFound)
	default:
		return fmt.Errorf("open %q: %w: %w", name, ErrAccess, err)
	}
}
