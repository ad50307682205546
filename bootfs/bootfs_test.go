package bootfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxeproxy/pxeproxy/internal/testtree"
)

func TestClean(t *testing.T) {
	cases := map[string]struct {
		in, want string
		err      error
	}{
		"plain":               {in: "undionly.kpxe", want: "undionly.kpxe"},
		"leading slash":       {in: "/boot/x", want: "boot/x"},
		"windows absolute":    {in: `\Boot\BCD`, want: "Boot/BCD"},
		"windows relative":    {in: `boot\x64\wdsnbp.com`, want: "boot/x64/wdsnbp.com"},
		"mixed":               {in: `/boot\x64\pxeboot.n12`, want: "boot/x64/pxeboot.n12"},
		"double separators":   {in: `//a\\b//c`, want: "a/b/c"},
		"dot elements":        {in: "./a/./b/.", want: "a/b"},
		"dots in name":        {in: "a..b/...", want: "a..b/..."},
		"parent":              {in: "../etc/passwd", err: ErrAccess},
		"parent inside":       {in: "a/../../b", err: ErrAccess},
		"windows parent":      {in: `boot\..\..\x`, err: ErrAccess},
		"trailing parent":     {in: "a/..", err: ErrAccess},
		"nul":                 {in: "a\x00b", err: ErrAccess},
		"empty":               {in: "", err: ErrNotFound},
		"only separators":     {in: `/\/`, err: ErrNotFound},
		"only dot":            {in: ".", err: ErrNotFound},
		"spaces kept":         {in: " a b ", want: " a b "},
		"utf8 kept":           {in: "ü/ß", want: "ü/ß"},
		"trailing separator":  {in: "pxelinux.cfg/", want: "pxelinux.cfg"},
		"parent-like element": {in: "..a/b..", want: "..a/b.."},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Clean(c.in)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("Clean(%q) = %q, %v; want error %v", c.in, got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Clean(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
		})
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"a", `\Boot\BCD`, "../x", "a/./b", "//", "a\x00", `/boot\x64\..\y`, "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Clean(in)
		if err != nil {
			if !errors.Is(err, ErrAccess) && !errors.Is(err, ErrNotFound) {
				t.Fatalf("Clean(%q): error %v wraps neither ErrAccess nor ErrNotFound", in, err)
			}
			return
		}
		if got == "" || strings.HasPrefix(got, "/") || strings.ContainsAny(got, "\\\x00") {
			t.Fatalf("Clean(%q) = %q: empty, absolute, backslash or NUL", in, got)
		}
		for _, e := range strings.Split(got, "/") {
			if e == "" || e == "." || e == ".." {
				t.Fatalf("Clean(%q) = %q: element %q", in, got, e)
			}
		}
		if again, err := Clean(got); err != nil || again != got {
			t.Fatalf("Clean not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
		if !filepath.IsLocal(got) {
			t.Fatalf("Clean(%q) = %q is not local", in, got)
		}
	})
}

var writeFile, testTree = testtree.Write, testtree.Hostile

func TestRootOpen(t *testing.T) {
	root, _ := testTree(t)
	r, err := OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cases := map[string]struct {
		name, want string
		err        error
	}{
		"exact":                  {name: "undionly.kpxe", want: "kpxe"},
		"windows absolute":       {name: `\Boot\BCD`, want: "bcd"},
		"case folded":            {name: `\boot\bcd`, want: "bcd"},
		"case folded all upper":  {name: `BOOT\X64\WDSNBP.COM`, want: "wdsnbp"},
		"slash and backslash":    {name: `/boot\x64\wdsnbp.com`, want: "wdsnbp"},
		"exact wins upper":       {name: "Exact/file", want: "exact-upper"},
		"exact wins lower":       {name: "exact/file", want: "exact-lower"},
		"ambiguous dir no exact": {name: "EXACT/file", err: ErrNotFound},
		"ambiguous file":         {name: "amb/readme", err: ErrNotFound},
		"ambiguous exact ok":     {name: "amb/README", want: "r2"},
		"missing":                {name: "nope", err: ErrNotFound},
		"missing dir":            {name: "nope/x", err: ErrNotFound},
		"file as dir":            {name: "undionly.kpxe/x", err: ErrNotFound},
		"directory":              {name: "sub", err: ErrAccess},
		"root itself":            {name: "/", err: ErrNotFound},
		"fifo":                   {name: "fifo", err: ErrAccess},
		"parent":                 {name: "../outside/secret", err: ErrAccess},
		"parent windows":         {name: `..\outside\secret`, err: ErrAccess},
		"absolute symlink out":   {name: "abs-escape", err: ErrAccess},
		"relative symlink out":   {name: "rel-escape", err: ErrAccess},
		"symlinked dir out":      {name: "dir-escape/secret", err: ErrAccess},
		"symlink inside":         {name: "inner-link", want: "inner"},
		"symlinked dir inside":   {name: "SUB-LINK/INNER.TXT", want: "inner"},
		"nul":                    {name: "undionly.kpxe\x00", err: ErrAccess},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f, err := r.Open(c.name)
			if c.err != nil {
				if err == nil {
					f.Close()
				}
				if !errors.Is(err, c.err) {
					t.Fatalf("Open(%q) = %v; want %v", c.name, err, c.err)
				}
				if strings.Contains(err.Error(), root) {
					t.Fatalf("Open(%q) error %q names the host path", c.name, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", c.name, err)
			}
			defer f.Close()
			b, _ := io.ReadAll(f)
			if string(b) != c.want {
				t.Fatalf("Open(%q) read %q; want %q", c.name, b, c.want)
			}
		})
	}
}

func TestRootSearchOrder(t *testing.T) {
	admin, defaults := t.TempDir(), t.TempDir()
	writeFile(t, admin, "undionly.kpxe", "admin")
	writeFile(t, defaults, "undionly.kpxe", "builtin")
	writeFile(t, defaults, "snponly.efi", "builtin-efi")
	if err := os.Symlink("/etc/passwd", filepath.Join(admin, "ipxe.efi")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, defaults, "ipxe.efi", "builtin-ipxe")
	r, err := OpenRoot(admin, defaults)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for name, want := range map[string]string{"undionly.kpxe": "admin", "SNPONLY.EFI": "builtin-efi"} {
		f, err := r.Open(name)
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != want {
			t.Errorf("Open(%q) = %q; want %q", name, b, want)
		}
	}
	// A name refused in the admin root is not silently served from the
	// defaults: the admin's escaping symlink is a configuration error.
	if _, err := r.Open("ipxe.efi"); !errors.Is(err, ErrAccess) {
		t.Errorf("Open(escaping symlink) = %v; want ErrAccess", err)
	}
	if _, err := r.Open("missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(missing) = %v; want ErrNotFound", err)
	}
	if _, err := OpenRoot(filepath.Join(admin, "nope")); err == nil {
		t.Error("OpenRoot(missing dir) succeeded")
	}
}
