package bootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// Folder is one folder of the boot folder and the setting that named it,
// which the errors name so that the admin knows what to change.
type Folder struct {
	Setting string // e.g. PXE_TFTP_ROOT
	Path    string // "": none
}

// Open opens the admin's folder and then the built-in defaults, with the
// generated files ranked between them, and returns the folders it serves.
// A missing admin folder is fine when defaults exist (the container with
// no volume mounted): it is served as soon as it is created. Neither
// folder set is the caller's to refuse (it knows how to switch serving off).
func Open(admin, defaults Folder, gen map[string]Generator, log *slog.Logger) (*Root, []string, error) {
	var dirs []string
	for _, d := range []Folder{admin, defaults} {
		if d.Path == "" {
			continue
		}
		st, err := os.Stat(d.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist) && d == admin && defaults.Path != "":
			log.Warn("tftp root does not exist: serving only the built-in defaults until it is created", "svc", "tftp", "dir", d.Path)
		case err != nil:
			return nil, nil, fmt.Errorf("%s=%q: %w (expected a readable folder)", d.Setting, d.Path, err)
		case !st.IsDir():
			return nil, nil, fmt.Errorf("%s=%q: not a folder", d.Setting, d.Path)
		}
		dirs = append(dirs, d.Path)
	}
	if len(dirs) == 0 {
		return nil, nil, fmt.Errorf("%s=%q: no folder to serve", admin.Setting, admin.Path)
	}
	n := 0
	if defaults.Path != "" {
		n = 1
	}
	root, err := New(Config{Dirs: dirs, Defaults: n, Generated: gen})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", admin.Setting, err)
	}
	return root, dirs, nil
}
