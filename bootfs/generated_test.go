package bootfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/testclock"
)

// generatedRoot is an admin folder and a defaults folder around two
// generated names; calls counts the generator's runs.
func generatedRoot(t *testing.T, defaults int) (r *Root, admin, builtin string, calls *atomic.Int64) {
	t.Helper()
	admin, builtin = t.TempDir(), t.TempDir()
	writeFile(t, builtin, "boot.ipxe", "builtin menu")
	writeFile(t, builtin, "menu.ipxe", "builtin other")
	writeFile(t, builtin, "undionly.kpxe", "kpxe")
	calls = new(atomic.Int64)
	gen := func(fs.FS) ([]byte, error) {
		n := calls.Add(1)
		return []byte("generated " + strings.Repeat("x", int(n))), nil
	}
	r, err := New(Config{Dirs: []string{admin, builtin}, Defaults: defaults,
		Generated: map[string]Generator{"boot.ipxe": gen, "/sub/Menu.ipxe": gen}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, admin, builtin, calls
}

func TestGeneratedRanksAfterAdmin(t *testing.T) {
	r, admin, _, calls := generatedRoot(t, 1)
	cases := []struct{ name, want string }{
		{"boot.ipxe", "generated x"},        // hides the built-in default's boot.ipxe
		{`\BOOT.IPXE`, "generated xx"},      // cleaned and case-folded like folder names
		{"sub/menu.ipxe", "generated xxx"},  // the generated name was cleaned too
		{"SUB/MENU.IPXE", "generated xxxx"}, // made again on every open
		{"undionly.kpxe", "kpxe"},           // other names: the folders as before
		{"menu.ipxe", "builtin other"},      // not a generated name at that path
	}
	for _, c := range cases {
		if got := read(r, c.name); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	// An admin's file of that name wins, whatever its case.
	writeFile(t, admin, "Boot.iPXE", "admin menu")
	if got := read(r, "boot.ipxe"); got != "admin menu" {
		t.Errorf("with an admin boot.ipxe: got %q", got)
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("generator ran %d times, want 4 (not for names the admin's folder holds)", n)
	}
	// Refused in the admin's folder: refused, not generated.
	mustDo(t, os.MkdirAll(filepath.Join(admin, "sub", "menu.ipxe"), 0o755))
	if _, err := r.Open("sub/menu.ipxe"); !errors.Is(err, ErrAccess) {
		t.Errorf("admin directory named like a generated file: %v, want ErrAccess", err)
	}
}

func TestGeneratedAfterEveryFolder(t *testing.T) {
	r, _, builtin, _ := generatedRoot(t, 0)
	if got := read(r, "boot.ipxe"); got != "builtin menu" {
		t.Errorf("Defaults 0: got %q, want the defaults folder's file", got)
	}
	mustDo(t, os.Remove(filepath.Join(builtin, "boot.ipxe")))
	if got := read(r, "boot.ipxe"); got != "generated x" {
		t.Errorf("no file of that name anywhere: got %q", got)
	}
}

func TestGeneratedFile(t *testing.T) {
	r, _, _, _ := generatedRoot(t, 1)
	now := time.Unix(1e9, 0)
	r.now = func() time.Time { return now }
	f, err := r.Open("boot.ipxe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Name() != "boot.ipxe" || fi.Size() != int64(len("generated x")) || !fi.Mode().IsRegular() ||
		!fi.ModTime().Equal(now) {
		t.Fatalf("stat: %v %v", fi, err)
	}
	b := make([]byte, 3)
	if n, err := f.ReadAt(b, 6); n != 3 || err != nil || string(b) != "ted" {
		t.Fatalf("ReadAt: %d %v %q", n, err, b)
	}
	if _, err := f.Seek(-1, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(f); string(rest) != "x" {
		t.Fatalf("after Seek: %q", rest)
	}
	// The listing is the folders' only.
	if _, err := fs.Stat(r.FS(), "boot.ipxe"); err != nil {
		t.Fatalf("FS stat of the default's boot.ipxe: %v", err)
	}
	if _, err := fs.Stat(r.FS(), "sub/Menu.ipxe"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("FS lists a generated file: %v", err)
	}
}

func TestGeneratedError(t *testing.T) {
	dir := t.TempDir()
	errGen := errors.New("scan failed")
	r, err := New(Config{Dirs: []string{dir}, Generated: map[string]Generator{
		"boot.ipxe": func(fs.FS) ([]byte, error) { return nil, errGen },
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.Open("boot.ipxe")
	if !errors.Is(err, errGen) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrAccess) {
		t.Fatalf("Open: %v, want the generator's error only", err)
	}
}

// TestGeneratorReadsFolder: the generator reads the folder through FS
// while that folder is being replaced, which takes the Root's write lock;
// run under the lookup's read lock it would wait for ever.
func TestGeneratorReadsFolder(t *testing.T) {
	base := t.TempDir()
	admin := filepath.Join(base, "admin")
	writeFile(t, admin, "a", "1")
	c := testclock.New(time.Unix(1e9, 0))
	var listed []string
	gen := func(fsys fs.FS) ([]byte, error) {
		mustDo(t, os.Rename(admin, filepath.Join(base, "old")))
		writeFile(t, admin, "b", "2")
		c.Add(recheckEvery)
		es, err := fs.ReadDir(fsys, ".")
		for _, e := range es {
			listed = append(listed, e.Name())
		}
		return []byte("menu"), err
	}
	r, err := New(Config{Dirs: []string{admin}, Generated: map[string]Generator{"boot.ipxe": gen}})
	if err != nil {
		t.Fatal(err)
	}
	r.now = c.Now
	done := make(chan string, 1)
	go func() { done <- read(r, "boot.ipxe") }()
	select {
	case got := <-done:
		r.Close() // not on a deadlock: it would wait too
		if got != "menu" || strings.Join(listed, " ") != "b" {
			t.Fatalf("got %q, listed %v", got, listed)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open deadlocked: the generator ran under the Root's lock")
	}
}

func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	gen := func(fs.FS) ([]byte, error) { return nil, nil }
	for name, cfg := range map[string]Config{
		"defaults beyond dirs": {Dirs: []string{dir}, Defaults: 2},
		"negative defaults":    {Dirs: []string{dir}, Defaults: -1},
		"parent name":          {Dirs: []string{dir}, Generated: map[string]Generator{"../x": gen}},
		"empty name":           {Dirs: []string{dir}, Generated: map[string]Generator{"/": gen}},
		"nil generator":        {Dirs: []string{dir}, Generated: map[string]Generator{"x": nil}},
		"no folder":            {},
	} {
		if r, err := New(cfg); err == nil {
			r.Close()
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}
