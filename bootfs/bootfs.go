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
//
// Generated files (Config.Generated: the boot menu made from the folder)
// are made in memory by a func on each open. They rank after the admin's
// folder and before the built-in defaults: an admin's file of the same
// name always wins.
package bootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"
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

// ErrGone is wrapped by Root.Err when none of the folders exists any more.
var ErrGone = errors.New("gone")

// recheckEvery is how often a lookup checks that a folder's path still
// names the directory it has open; a failed lookup checks at once.
const recheckEvery = time.Second

// Root is the boot folder: one or more directories, searched in order,
// each followed by its path. When a path is renamed away, deleted, or
// names another directory (a new folder moved in place, a symlink
// switched), lookups see that within a second: the directory now at the
// path is opened, or the layer is skipped while nothing is there.
type Root struct {
	layers []*layer
	now    func() time.Time

	gen   map[string]Generator // by lowercased clean name (New)
	genAt int                  // layers searched before the generated files

	// mu is held for reading by lookups while they use the layers'
	// os.Roots, and for writing to replace one: an os.Root is closed only
	// when no lookup uses it.
	mu sync.RWMutex
}

// layer is one directory of the boot folder.
type layer struct {
	dir  string
	root *os.Root // under Root.mu; nil while dir names no directory

	check   sync.Mutex // one check of the path at a time; guards the rest
	checked time.Time
	info    fs.FileInfo // of the directory root holds, for os.SameFile
}

// OpenRoot opens dirs as the layers of the boot folder. The first one is
// the admin's folder; later ones are built-in defaults consulted only for
// names not found in an earlier one. A dir that does not exist yet is
// followed like one that goes away, served once it appears; but at least
// one must exist, and one that exists must be a readable directory.
func OpenRoot(dirs ...string) (*Root, error) {
	if len(dirs) == 0 {
		return nil, errors.New("open boot folder: no directory given")
	}
	r := &Root{now: time.Now}
	found := false
	for _, d := range dirs {
		l := &layer{dir: d}
		or, fi, err := openDir(d)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.Close()
			return nil, fmt.Errorf("open boot folder: %w", err)
		}
		l.root, l.info = or, fi
		found = found || or != nil
		r.layers = append(r.layers, l)
	}
	if !found {
		r.Close()
		return nil, fmt.Errorf("open boot folder %s: %w", dirs[0], fs.ErrNotExist)
	}
	return r, nil
}

// Close closes every underlying os.Root.
func (r *Root) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, l := range r.layers {
		if l.root != nil {
			errs = append(errs, l.root.Close())
		}
	}
	r.layers = nil
	return errors.Join(errs...)
}

// Err reports whether there is anything to serve: it wraps ErrGone when
// none of the folders exists. It names no host path (it may be shown to
// clients, e.g. on /healthz).
func (r *Root) Err() error {
	r.follow(false)
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, l := range r.layers {
		if l.root != nil {
			return nil
		}
	}
	if len(r.layers) == 1 {
		return fmt.Errorf("%w: its folder does not exist", ErrGone)
	}
	return fmt.Errorf("%w: none of its %d folders exists", ErrGone, len(r.layers))
}

// lookup runs find on the layers' os.Roots (nil for a missing one). When
// it fails, the paths are checked at once and find runs again if a layer
// changed, so that a folder replaced or deleted is noticed by the first
// request that misses.
func lookup[T any](r *Root, find func(roots []*os.Root) (T, error)) (T, error) {
	r.follow(false)
	v, err := use(r, find)
	if err == nil || !r.follow(true) {
		return v, err
	}
	return use(r, find)
}

func use[T any](r *Root, find func(roots []*os.Root) (T, error)) (T, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	roots := make([]*os.Root, len(r.layers))
	for i, l := range r.layers {
		roots[i] = l.root
	}
	return find(roots)
}

// follow checks the paths not checked in the last second, or all when
// force, and reports whether a layer changed.
func (r *Root) follow(force bool) bool {
	now := r.now()
	changed := false
	for _, l := range r.layers {
		if r.followLayer(l, now, force) {
			changed = true
		}
	}
	return changed
}

// followLayer makes l hold the directory its path names now.
func (r *Root) followLayer(l *layer, now time.Time, force bool) bool {
	l.check.Lock()
	defer l.check.Unlock()
	if !force && now.Sub(l.checked) < recheckEvery {
		return false
	}
	l.checked = now
	fi, err := os.Stat(l.dir)
	present := err == nil && fi.IsDir()
	if present && l.info != nil && os.SameFile(fi, l.info) {
		return false
	}
	if !present && l.info == nil {
		return false
	}
	var or *os.Root
	l.info = nil
	if present {
		// Stays nil on error: checked again on the next miss.
		or, l.info, _ = openDir(l.dir)
	}
	r.mu.Lock()
	old := l.root
	l.root = or
	r.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return true
}

// openDir opens dir and returns the identity of what it opened, not of
// what the path names by now.
func openDir(dir string) (*os.Root, fs.FileInfo, error) {
	or, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	fi, err := or.Stat(".")
	if err != nil {
		or.Close()
		return nil, nil, err
	}
	return or, fi, nil
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

// Open resolves a client path (cleaned with Clean) to an open regular file
// or a generated one (see Config.Generated). Each element is matched
// exactly first, otherwise case-insensitively when exactly one directory
// entry matches (firmware asks for \Boot\BCD on a case-sensitive file
// system). Layers are searched in order; a name that is refused in one
// layer (ErrAccess) is not looked up in later ones.
func (r *Root) Open(name string) (File, error) {
	clean, err := Clean(name)
	if err != nil {
		return nil, err
	}
	g, isGen := r.generated(clean)
	f, err := lookup(r, func(roots []*os.Root) (*os.File, error) {
		if isGen {
			roots = roots[:min(r.genAt, len(roots))]
		}
		err := fmt.Errorf("open %q: no folder: %w", clean, ErrNotFound)
		for _, or := range roots {
			if or == nil {
				continue
			}
			var f *os.File
			if f, err = openIn(or, clean); err == nil || !errors.Is(err, ErrNotFound) {
				return f, err
			}
		}
		return nil, err
	})
	switch {
	case err == nil:
		return f, nil
	case isGen && errors.Is(err, ErrNotFound):
		// Outside lookup: the generator may read the folder through FS.
		return r.openGenerated(clean, g)
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
