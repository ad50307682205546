// Package golden holds the test helpers of golden files and hex captures
// shared by the decision packages' tests (proxy, proxy6). Importing it
// registers the -update flag, so only tests import it.
package golden

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pxeproxy/pxeproxy/internal/pxeboot"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Check compares got with testdata/name, or rewrites that file with -update.
func Check(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from what the code builds now (-want +got):\n%s", path, Diff(string(want), got))
	}
}

// Diff is a minimal line diff, enough to read a golden mismatch.
func Diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n-%s\n+%s\n", i+1, wl, gl)
		}
	}
	return b.String()
}

// ReadHex reads a capture: hex digits, white space and #-comments ignored.
func ReadHex(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var digits strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// Refused checks a decision's error against want, the error a table case
// expects (nil: a reply). When the request was refused as wanted, it writes
// the case's entry ("ignored: " and reason(err)) to w and returns true.
func Refused(t testing.TB, w io.Writer, name string, err, want error, answered bool, reason func(error) string) bool {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return false
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if answered {
		t.Fatal("an ignored request got a reply")
	}
	fmt.Fprintf(w, "== %s\nignored: %s\n", name, reason(err))
	return true
}

// SeedHex adds every capture testdata/*.hex to the fuzz corpus.
func SeedHex(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hex"))
	for _, file := range files {
		if b, err := ReadHex(file); err == nil {
			f.Add(b)
		}
	}
}

// Table runs run on every case of cases, in name order and each as a
// subtest, and compares all they wrote with testdata/file (Check).
func Table[C any](t *testing.T, file string, cases map[string]C, run func(t *testing.T, name string, c C, w io.Writer)) {
	t.Helper()
	var all strings.Builder
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		t.Run(name, func(t *testing.T) { run(t, name, cases[name], &all) })
	}
	Check(t, file, all.String())
}

// Settings are the boot settings the decisions' golden replies were made
// with: main's defaults.
func Settings() pxeboot.Settings {
	return pxeboot.Settings{
		BootFiles:  map[uint16]string{0: "undionly.kpxe", 6: "ipxe-i386.efi", 7: "snponly.efi", 9: "snponly.efi", 11: "ipxe-arm64.efi"},
		IPXEScript: "boot.ipxe",
	}
}

// Apply changes cfg by each non-nil mod (a table case's own settings) and
// returns it.
func Apply[T any](cfg *T, mods ...func(*T)) *T {
	for _, mod := range mods {
		if mod != nil {
			mod(cfg)
		}
	}
	return cfg
}
