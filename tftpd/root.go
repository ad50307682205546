package tftpd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// ErrNotFound is wrapped by lookups of names that do not exist in any root
// (or only as ambiguous case variants).
var ErrNotFound = errors.New("file not found")

// ErrAccess is wrapped by lookups refused for safety: "..", NUL, symlinks
// leaving the root, directories and other non-regular files.
var ErrAccess = errors.New("access violation")

// Root is the confined file lookup shared by TFTP and (later) an HTTP boot
// server. It wraps one or more os.Root, searched in order.
type Root struct {
	roots []*os.Root
}

// OpenRoot opens dirs as confined roots. The first one is the admin's root;
// later ones are built-in defaults consulted only when a name is not found in
// an earlier one.
func OpenRoot(dirs ...string) (*Root, error) {
	if len(dirs) == 0 {
		return nil, errors.New("open tftp root: no directory given")
	}
	r := &Root{}
	for _, d := range dirs {
		or, err := os.OpenRoot(d)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("open tftp root: %w", err)
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
// root, lexically only: '\' is a separator (Windows boot managers ask for
// \Boot\BCD, boot\x64\wdsnbp.com and even /boot\x64\... — PXE-NOTES §7),
// leading separators and "." or empty elements are dropped. ".." elements
// and NUL are refused with ErrAccess, a name with nothing left with
// ErrNotFound. Clean is idempotent and its result never starts with '/'.
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
// case-sensitive file system). Roots are searched in order; a name that is
// refused in one root (ErrAccess) is not looked up in later ones. Errors wrap
// ErrNotFound or ErrAccess and name only the client's relative path.
func (r *Root) Open(name string) (*os.File, error) {
	clean, err := Clean(name)
	if err != nil {
		return nil, err
	}
	err = fmt.Errorf("open %q: no root: %w", clean, ErrNotFound)
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
	// Stat before opening: opening a FIFO would block and opening a device
	// can have side effects. os.Root follows symlinks only inside the root.
	fi, err := or.Stat(rel)
	if err != nil {
		return nil, classify(rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("open %q: not a regular file: %w", rel, ErrAccess)
	}
	// O_NONBLOCK so a file swapped for a FIFO between Stat and open cannot
	// hang us; it has no effect on regular files.
	f, err := or.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, classify(rel, err)
	}
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %q: not a regular file: %w", rel, ErrAccess)
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
// a symlink leaving the root with an unexported error, so everything that is
// not "does not exist" counts as an access violation.
func classify(name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("open %q: %w", name, ErrNotFound)
	default:
		return fmt.Errorf("open %q: %w: %w", name, ErrAccess, err)
	}
}
