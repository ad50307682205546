package bootfs

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// File is an open boot file: a regular file of a folder (an *os.File, so
// that HTTP can send it with sendfile) or a generated file held in memory.
type File interface {
	io.ReadSeekCloser
	io.ReaderAt
	Stat() (fs.FileInfo, error)
}

// Generator makes the content of a generated file from the folder it is
// part of (the Root's FS); it runs on every open of the name, without any
// lock of the Root held.
type Generator func(fsys fs.FS) ([]byte, error)

// Config configures New. Zero values mean the documented defaults.
type Config struct {
	// Dirs are the folders of the boot folder, searched in order: the
	// admin's first (see OpenRoot). At least one must exist.
	Dirs []string
	// Defaults is how many of the last Dirs are built-in defaults: they are
	// searched after the generated files, so that a generated file hides a
	// built-in default of the same name but never an admin's file. 0: the
	// generated files come after every folder.
	Defaults int
	// Generated maps names (as Clean returns them, matched
	// case-insensitively like folder names) to the funcs that make them.
	// A name is generated only when no folder before the defaults holds
	// it. Root.FS does not list them.
	Generated map[string]Generator
}

// New opens the boot folder described by cfg.
func New(cfg Config) (*Root, error) {
	if cfg.Defaults < 0 || cfg.Defaults > len(cfg.Dirs) {
		return nil, fmt.Errorf("open boot folder: %d default folders out of %d", cfg.Defaults, len(cfg.Dirs))
	}
	gen := make(map[string]Generator, len(cfg.Generated))
	for name, g := range cfg.Generated {
		clean, err := Clean(name)
		if err != nil || g == nil {
			return nil, fmt.Errorf("open boot folder: generated file %q: bad name or no generator", name)
		}
		gen[strings.ToLower(clean)] = g
	}
	r, err := OpenRoot(cfg.Dirs...)
	if err != nil {
		return nil, err
	}
	r.gen = gen
	r.genAt = len(cfg.Dirs) - cfg.Defaults
	return r, nil
}

// generated returns the generator of clean, if it is a generated name.
func (r *Root) generated(clean string) (Generator, bool) {
	g, ok := r.gen[strings.ToLower(clean)]
	return g, ok
}

// openGenerated runs g for clean and returns the result as an open file.
func (r *Root) openGenerated(clean string, g Generator) (File, error) {
	b, err := g(r.FS())
	if err != nil {
		return nil, fmt.Errorf("generate %q: %w", clean, err)
	}
	return &memFile{Reader: bytes.NewReader(b), info: memInfo{name: path.Base(clean), size: int64(len(b)), mod: r.now()}}, nil
}

// memFile is a generated file.
type memFile struct {
	*bytes.Reader
	info memInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }

type memInfo struct {
	name string
	size int64
	mod  time.Time
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
