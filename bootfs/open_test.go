package bootfs

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxeproxy/pxeproxy/internal/testlog"
)

// TestOpen: the admin's folder may be missing only when defaults exist
// (then a warning), and every refusal names the setting and the path.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "none")
	admin := func(p string) Folder { return Folder{"PXE_TFTP_ROOT", p} }
	defaults := func(p string) Folder { return Folder{"PXE_TFTP_DEFAULTS", p} }
	for name, c := range map[string]struct {
		admin, defaults Folder
		dirs, err, warn string
	}{
		"admin only":               {admin: admin(dir), dirs: dir},
		"both":                     {admin: admin(dir), defaults: defaults(dir), dirs: dir + " " + dir},
		"missing admin, defaults":  {admin: admin(missing), defaults: defaults(dir), dirs: missing + " " + dir, warn: "tftp root does not exist"},
		"missing admin, none else": {admin: admin(missing), err: `PXE_TFTP_ROOT="` + missing + `": stat`},
		"missing defaults":         {admin: admin(dir), defaults: defaults(missing), err: `PXE_TFTP_DEFAULTS="` + missing + `"`},
		"not a folder":             {admin: admin(file), err: `PXE_TFTP_ROOT="` + file + `": not a folder`},
		"nothing":                  {admin: admin(""), err: `PXE_TFTP_ROOT="": no folder to serve`},
	} {
		t.Run(name, func(t *testing.T) {
			logs := &testlog.Buffer{}
			r, dirs, err := Open(c.admin, c.defaults, nil, slog.New(slog.NewTextHandler(logs, nil)))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := strings.Join(dirs, " "); got != c.dirs {
				t.Errorf("dirs %q, want %q", got, c.dirs)
			}
			if got := logs.String(); (c.warn == "") != (got == "") || !strings.Contains(got, c.warn) {
				t.Errorf("log %q, want %q", got, c.warn)
			}
		})
	}
}
