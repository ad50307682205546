// Package testtree builds boot folders for tests: plain files, and a hostile
// tree whose symlinks, FIFO and case variants the confined lookup of package
// bootfs must handle.
package testtree

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Write creates dir/name (and parents) with content.
func Write(t testing.TB, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Hostile builds a folder with the shapes a lookup must handle and a secret
// file outside it (content "SECRET"). It returns the folder and the outside
// directory.
func Hostile(t testing.TB) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	Write(t, outside, "secret", "SECRET")
	Write(t, root, "Boot/BCD", "bcd")
	Write(t, root, "Boot/x64/wdsnbp.com", "wdsnbp")
	Write(t, root, "Exact/file", "exact-upper")
	Write(t, root, "exact/file", "exact-lower")
	Write(t, root, "amb/Readme", "r1")
	Write(t, root, "amb/README", "r2")
	Write(t, root, "undionly.kpxe", "kpxe")
	Write(t, root, "sub/inner.txt", "inner")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "abs-escape")))
	must(os.Symlink("../outside/secret", filepath.Join(root, "rel-escape")))
	must(os.Symlink(outside, filepath.Join(root, "dir-escape")))
	must(os.Symlink("sub/inner.txt", filepath.Join(root, "inner-link")))
	must(os.Symlink("sub", filepath.Join(root, "sub-link")))
	must(syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	return root, outside
}
