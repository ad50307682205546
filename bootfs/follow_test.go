package bootfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/testclock"
)

// followed opens dirs with a fake clock.
func followed(t *testing.T, dirs ...string) (*Root, *testclock.Clock) {
	t.Helper()
	r, err := OpenRoot(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c := testclock.New(time.Unix(1e9, 0))
	r.now = c.Now
	return r, c
}

// read returns the content of name in r, or the error's kind.
func read(r *Root, name string) string {
	f, err := r.Open(name)
	switch {
	case errors.Is(err, ErrNotFound):
		return "<not found>"
	case err != nil:
		return "<" + err.Error() + ">"
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	return string(b)
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRootFollowsPath renames, deletes and recreates the admin's folder
// under a running Root: what is served is what the path names, within a
// second, at once when a lookup misses.
func TestRootFollowsPath(t *testing.T) {
	base := t.TempDir()
	admin, defaults := filepath.Join(base, "tftp"), filepath.Join(base, "defaults")
	writeFile(t, admin, "boot.ipxe", "v1")
	writeFile(t, admin, "old-only", "old")
	writeFile(t, defaults, "undionly.kpxe", "builtin")
	r, clk := followed(t, admin, defaults)
	expect := func(step string, want map[string]string, healthy bool) {
		t.Helper()
		for name, w := range want {
			if got := read(r, name); got != w {
				t.Errorf("%s: %s = %q, want %q", step, name, got, w)
			}
		}
		if err := r.Err(); (err == nil) != healthy || (err != nil && !errors.Is(err, ErrGone)) {
			t.Errorf("%s: Err() = %v, want healthy %v", step, err, healthy)
		}
		// The fs.FS view follows too.
		if w, ok := want["boot.ipxe"]; ok && w != "<not found>" {
			if b, err := fs.ReadFile(r.FS(), "boot.ipxe"); string(b) != w {
				t.Errorf("%s: FS boot.ipxe = %q %v, want %q", step, b, err, w)
			}
		}
	}
	expect("start", map[string]string{"boot.ipxe": "v1", "undionly.kpxe": "builtin"}, true)

	// Renamed away and a new folder moved in place (a deployment): a name
	// only the new one has misses in the old one, which makes the lookup
	// check the path at once.
	mustDo(t, os.Rename(admin, admin+".old"))
	writeFile(t, admin, "boot.ipxe", "v2")
	writeFile(t, admin, "new-only", "new")
	expect("replaced, a miss", map[string]string{"new-only": "new"}, true)
	expect("replaced, after the miss", map[string]string{"old-only": "<not found>", "boot.ipxe": "v2"}, true)

	// Replaced again: within the second the hit may be stale; after it, not.
	mustDo(t, os.Rename(admin, admin+".v2"))
	writeFile(t, admin, "boot.ipxe", "v3")
	clk.Add(recheckEvery)
	expect("replaced, a second later", map[string]string{"boot.ipxe": "v3"}, true)

	// Renamed away, nothing in place: the defaults still serve.
	mustDo(t, os.Rename(admin, admin+".v3"))
	clk.Add(recheckEvery)
	expect("renamed away", map[string]string{"boot.ipxe": "<not found>", "undionly.kpxe": "builtin"}, true)

	// Both deleted: nothing to serve, and Err says so.
	mustDo(t, os.RemoveAll(defaults))
	expect("all gone", map[string]string{"boot.ipxe": "<not found>", "undionly.kpxe": "<not found>"}, false)

	// Recreated: served again, healthy again.
	writeFile(t, admin, "boot.ipxe", "v4")
	clk.Add(recheckEvery)
	expect("recreated", map[string]string{"boot.ipxe": "v4", "undionly.kpxe": "<not found>"}, true)

	// Deleted in place (the open directory is unlinked, not moved).
	mustDo(t, os.RemoveAll(admin))
	expect("deleted", map[string]string{"boot.ipxe": "<not found>"}, false)
	if err := r.Err(); err == nil || strings.Contains(err.Error(), base) {
		t.Errorf("Err() = %v: want an error naming no host path", err)
	}
}

// TestRootFollowsSymlink: a folder path that is a symlink switched to
// another directory (an atomic deployment) serves the new target.
func TestRootFollowsSymlink(t *testing.T) {
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "rel1"), "boot.ipxe", "rel1")
	writeFile(t, filepath.Join(base, "rel2"), "boot.ipxe", "rel2")
	link := filepath.Join(base, "current")
	mustDo(t, os.Symlink("rel1", link))
	r, clk := followed(t, link)
	if got := read(r, "boot.ipxe"); got != "rel1" {
		t.Fatalf("boot.ipxe = %q", got)
	}
	mustDo(t, os.Symlink("rel2", link+".new"))
	mustDo(t, os.Rename(link+".new", link))
	clk.Add(recheckEvery)
	if got := read(r, "boot.ipxe"); got != "rel2" {
		t.Errorf("after the switch: boot.ipxe = %q, want rel2", got)
	}
}

// TestOpenRootMissing: a folder that does not exist yet is followed and
// served once created, as long as another one exists at the start.
func TestOpenRootMissing(t *testing.T) {
	base := t.TempDir()
	admin, defaults := filepath.Join(base, "tftp"), filepath.Join(base, "defaults")
	writeFile(t, defaults, "undionly.kpxe", "builtin")
	r, _ := followed(t, admin, defaults)
	if got := read(r, "boot.ipxe"); got != "<not found>" {
		t.Fatalf("boot.ipxe = %q before the folder exists", got)
	}
	writeFile(t, admin, "boot.ipxe", "late")
	if got := read(r, "boot.ipxe"); got != "late" {
		t.Errorf("boot.ipxe = %q once the folder exists, want late", got)
	}
	for name, dirs := range map[string][]string{
		"none exists":    {admin + "x", defaults + "x"},
		"not a folder":   {filepath.Join(defaults, "undionly.kpxe"), defaults},
		"nothing given":  nil,
		"missing single": {admin + "x"},
	} {
		if r, err := OpenRoot(dirs...); err == nil {
			r.Close()
			t.Errorf("%s: OpenRoot(%q) succeeded", name, dirs)
		}
	}
}

// TestRootFollowConcurrent looks files up while their folder is replaced
// and deleted over and over (go test -race): every lookup gets a file of
// one of the folders or "not found", never anything else.
func TestRootFollowConcurrent(t *testing.T) {
	base := t.TempDir()
	admin := filepath.Join(base, "tftp")
	writeFile(t, admin, "f", "x")
	r, clk := followed(t, admin)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got := read(r, "f"); got != "x" && got != "<not found>" {
					t.Errorf("lookup during replacement: %q", got)
					return
				}
				r.Err()
			}
		})
	}
	for i := range 200 {
		next := filepath.Join(base, "next")
		writeFile(t, next, "f", "x")
		mustDo(t, os.Rename(admin, filepath.Join(base, "old")))
		mustDo(t, os.Rename(next, admin))
		mustDo(t, os.RemoveAll(filepath.Join(base, "old")))
		if i%3 == 0 {
			clk.Add(recheckEvery)
		}
	}
	close(stop)
	wg.Wait()
}
