package bootfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// layeredTree is the hostile admin folder of testTree over a defaults
// folder that shares some names with it.
func layeredTree(t *testing.T) (fs.FS, string) {
	t.Helper()
	admin, outside := testTree(t)
	defaults := t.TempDir()
	writeFile(t, defaults, "undionly.kpxe", "builtin-kpxe") // shadowed by the admin's
	writeFile(t, defaults, "ipxe.efi", "builtin-ipxe")      // only in the defaults
	writeFile(t, defaults, "Boot/x86/pxeboot.n12", "n12")   // merged into the admin's Boot
	writeFile(t, defaults, "Boot/BCD", "builtin-bcd")       // shadowed inside a merged folder
	writeFile(t, defaults, "abs-escape", "builtin-escape")  // refused in the admin's: stays refused
	writeFile(t, defaults, "dangling", "builtin-dangling")  // dangling in the admin's: the defaults win
	writeFile(t, defaults, "sub/inner.txt/x", "x")          // a file in the admin's shadows this folder's name
	writeFile(t, defaults, "fifo/y", "y")                   // the admin's FIFO shadows this folder's name
	if err := os.Symlink("nowhere", filepath.Join(admin, "dangling")); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRoot(admin, defaults)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r.FS(), outside
}

func TestFSConformance(t *testing.T) {
	fsys, _ := layeredTree(t)
	// TestFS walks every listing, opens and stats every entry and checks
	// they agree; these are the files it must find.
	if err := fstest.TestFS(fsys,
		"undionly.kpxe", "ipxe.efi", "dangling", "Boot/BCD", "Boot/x64/wdsnbp.com", "Boot/x86/pxeboot.n12",
		"Exact/file", "exact/file", "amb/Readme", "amb/README", "sub/inner.txt", "inner-link", "sub-link"); err != nil {
		t.Fatal(err)
	}
}

// TestFSLayers checks which layer each name comes from and what the
// listings leave out.
func TestFSLayers(t *testing.T) {
	fsys, _ := layeredTree(t)
	listings := map[string]string{
		".":    "Boot/ Exact/ amb/ dangling exact/ inner-link@ ipxe.efi sub/ sub-link@ undionly.kpxe",
		"Boot": "BCD x64/ x86/",
		"sub":  "inner.txt",
	}
	for dir, want := range listings {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			t.Fatalf("ReadDir(%q): %v", dir, err)
		}
		var names []string
		for _, e := range entries {
			n := e.Name()
			switch {
			case e.Type()&fs.ModeSymlink != 0:
				n += "@"
			case e.IsDir():
				n += "/"
			}
			names = append(names, n)
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("ReadDir(%q) = %s\nwant %s", dir, got, want)
		}
	}
	reads := map[string]string{
		"undionly.kpxe":        "kpxe",
		"ipxe.efi":             "builtin-ipxe",
		"Boot/BCD":             "bcd",
		"Boot/x86/pxeboot.n12": "n12",
		"dangling":             "builtin-dangling",
		"inner-link":           "inner",
		"sub-link/inner.txt":   "inner",
		// Unlisted, but found in the defaults as by Root.Open: in the
		// admin's folder a file is no folder to look in.
		"sub/inner.txt/x": "x",
		"fifo/y":          "y",
	}
	for name, want := range reads {
		b, err := fs.ReadFile(fsys, name)
		if err != nil || string(b) != want {
			t.Errorf("ReadFile(%q) = %q, %v; want %q", name, b, err, want)
		}
	}
}

func TestFSRefuses(t *testing.T) {
	fsys, outside := layeredTree(t)
	cases := map[string]error{
		"nope":              fs.ErrNotExist,
		"undionly.kpxe/x":   fs.ErrNotExist,
		"boot/bcd":          fs.ErrNotExist, // exact names only
		"abs-escape":        fs.ErrPermission,
		"rel-escape":        fs.ErrPermission,
		"dir-escape/secret": fs.ErrPermission,
		"fifo":              fs.ErrPermission,
		"../outside/secret": fs.ErrInvalid,
		"/undionly.kpxe":    fs.ErrInvalid,
		`Boot\BCD`:          fs.ErrNotExist, // a valid io/fs name with a backslash in it
		"Boot/./BCD":        fs.ErrInvalid,
		"":                  fs.ErrInvalid,
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			f, err := fsys.Open(name)
			if err == nil {
				f.Close()
			}
			_, serr := fs.Stat(fsys, name)
			_, derr := fs.ReadDir(fsys, name)
			for op, err := range map[string]error{"Open": err, "Stat": serr, "ReadDir": derr} {
				if !errors.Is(err, want) {
					t.Errorf("%s(%q) = %v; want %v", op, name, err, want)
				}
				var pe *fs.PathError
				if !errors.As(err, &pe) || strings.Contains(err.Error(), outside) || strings.Contains(err.Error(), "SECRET") {
					t.Errorf("%s(%q) = %v: not a *fs.PathError, or names the outside", op, name, err)
				}
			}
			if want == fs.ErrNotExist && !errors.Is(err, ErrNotFound) || want == fs.ErrPermission && !errors.Is(err, ErrAccess) {
				t.Errorf("Open(%q) = %v: does not wrap the bootfs sentinel", name, err)
			}
		})
	}
	if _, err := fs.ReadDir(fsys, "undionly.kpxe"); err == nil {
		t.Error("ReadDir of a file succeeded")
	}
}

// TestFSWalkLoop walks a tree with a symlink to its own parent: the walk
// ends, and the link is listed but not followed.
func TestFSWalkLoop(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a/f", "f")
	if err := os.Symlink("..", filepath.Join(dir, "a", "up")); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var seen []string
	err = fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		seen = append(seen, p)
		return err
	})
	if want := []string{".", "a", "a/f", "a/up"}; err != nil || !slices.Equal(seen, want) {
		t.Errorf("WalkDir = %q, %v; want %q", seen, err, want)
	}
}

// TestFSReadDirFile reads an open directory in pieces, as fs.ReadDirFile
// allows.
func TestFSReadDirFile(t *testing.T) {
	fsys, _ := layeredTree(t)
	f, err := fsys.Open("Boot")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := f.(fs.ReadDirFile)
	var names []string
	for {
		es, err := d.ReadDir(2)
		for _, e := range es {
			names = append(names, e.Name())
		}
		if err == io.EOF {
			break
		}
		if err != nil || len(es) == 0 {
			t.Fatalf("ReadDir(2) = %d entries, %v", len(es), err)
		}
	}
	if got := strings.Join(names, " "); got != "BCD x64 x86" {
		t.Errorf("pieces = %s", got)
	}
	if _, err := f.Read(make([]byte, 1)); err == nil {
		t.Error("Read of a directory succeeded")
	}
}
