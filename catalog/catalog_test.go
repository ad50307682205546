package catalog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// files builds a MapFS whose files hold their own path (so sizes differ).
func files(paths ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for _, p := range paths {
		m[p] = &fstest.MapFile{Data: []byte(p)}
	}
	return m
}

// scan is Scan for a folder that must scan without error.
func scan(t *testing.T, fsys fs.FS, opt ScanOptions) []Entry {
	t.Helper()
	es, err := Scan(fsys, opt)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// contents builds a MapFS from path: content pairs.
func contents(m map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for p, data := range m {
		fsys[p] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

// brief renders entries as "id kind [role=path ...] args" for comparisons.
func brief(es []Entry) []string {
	var out []string
	for _, e := range es {
		s := e.ID + " " + string(e.Kind)
		for _, f := range e.Files {
			s += " " + string(f.Role) + "=" + f.Path
		}
		if e.Args != "" {
			s += " args=" + e.Args
		}
		if e.Server != "" {
			s += " server=" + e.Server
		}
		out = append(out, s)
	}
	return out
}

var builtinBrief = []string{"local local", "shell shell", "config config", "reboot reboot"}

func TestScan(t *testing.T) {
	cases := map[string]struct {
		fs   fstest.MapFS
		opt  ScanOptions
		want []string // before the built-ins
	}{
		"empty": {fs: fstest.MapFS{}},
		"linux": {
			fs:   files("debian/linux", "debian/initrd.gz", "debian/README"),
			want: []string{"linux-debian linux kernel=debian/linux initrd=debian/initrd.gz"},
		},
		"linux kernel names and first initrd": {
			fs: files("a/vmlinuz-6.1", "a/vmlinuz-6.5", "a/initrd.img-6.1", "a/initrd.img-6.5",
				"b/bzImage", "c/VMLINUZ", "c/INITRAMFS.IMG", "d/linux.txt", "e/initrd.gz"),
			want: []string{
				"linux-a linux kernel=a/vmlinuz-6.1 initrd=a/initrd.img-6.1",
				"linux-b linux kernel=b/bzImage",
				"linux-c linux kernel=c/VMLINUZ initrd=c/INITRAMFS.IMG",
			},
		},
		"linux arguments": {
			fs: contents(map[string]string{
				"d/linux":       "k",
				"d/cmdline.txt": "console=ttyS0   quiet\r\nignored\n",
			}),
			want: []string{"linux-d linux kernel=d/linux args=console=ttyS0 quiet"},
		},
		"linux unsafe arguments leave the entry out": {
			fs: contents(map[string]string{
				"d/linux":       "k",
				"d/cmdline.txt": "quiet || reboot",
				"e/linux":       "k",
				"e/CMDLINE.TXT": strings.Repeat("a", maxSmall+1),
			}),
		},
		"winpe": {
			fs: files("win/wimboot", "win/bootmgr", "win/boot/BCD", "win/boot/boot.sdi",
				"win/sources/boot.wim", "win/sources/install.wim"),
			want: []string{"winpe-win winpe kernel=win/wimboot bootmgr=win/bootmgr bcd=win/boot/BCD sdi=win/boot/boot.sdi wim=win/sources/boot.wim"},
		},
		"winpe wimboot from a parent, several wims, flat files": {
			fs: files("wimboot", "pe/a.wim", "pe/b.WIM", "pe/BCD", "pe/boot.sdi", "pe/bootmgr.exe"),
			want: []string{
				"winpe-pe-a winpe kernel=wimboot bootmgr=pe/bootmgr.exe bcd=pe/BCD sdi=pe/boot.sdi wim=pe/a.wim",
				"winpe-pe-b winpe kernel=wimboot bootmgr=pe/bootmgr.exe bcd=pe/BCD sdi=pe/boot.sdi wim=pe/b.WIM",
			},
		},
		"winpe nearest wimboot wins": {
			fs:   files("wimboot", "x/wimboot", "x/y/boot.wim"),
			want: []string{"winpe-x-y winpe kernel=x/wimboot wim=x/y/boot.wim"},
		},
		"winpe without wimboot": {fs: files("pe/boot.wim", "other/wimboot")},
		"wds tree": {
			fs:   files("Boot/BCD", "Boot/x64/wdsmgfw.efi", "Boot/x64/bootmgfw.efi", "Boot/x86/pxeboot.n12", "Boot/x86/pxeboot.com"),
			want: []string{"wds wds bios=Boot/x86/pxeboot.n12 efi=Boot/x64/bootmgfw.efi"},
		},
		"wds tree efi only, lower case": {
			fs:   files("boot/bcd", "boot/x64/wdsmgfw.efi"),
			want: []string{"wds wds efi=boot/x64/wdsmgfw.efi"},
		},
		"wds tree without BCD":    {fs: files("Boot/x64/bootmgfw.efi")},
		"wds tree not at the top": {fs: files("w/Boot/BCD", "w/Boot/x64/bootmgfw.efi")},
		"wds server": {
			fs:   fstest.MapFS{},
			opt:  ScanOptions{WDSServer: "192.0.2.50"},
			want: []string{"wds-server wds-server server=192.0.2.50"},
		},
		"iso": {
			fs:   files("isos/b.iso", "isos/A.ISO", "x.iso.txt"),
			want: []string{"iso-isos-a iso iso=isos/A.ISO", "iso-isos-b iso iso=isos/b.iso"},
		},
		"memtest": {
			fs:   files("memtest/memtest86+ia32.bin", "memtest/memtest86+x64.bin", "memtest/memtest86+x64.efi", "memtest/memtest86+ia32.efi"),
			want: []string{"memtest memtest bios=memtest/memtest86+x64.bin efi=memtest/memtest86+x64.efi"},
		},
		"memtest bin only": {
			fs:   files("tools/memtest.bin"),
			want: []string{"memtest-tools memtest bios=tools/memtest.bin"},
		},
		"hidden names": {fs: files(".x/vmlinuz", "y/.vmlinuz", ".a.iso")},
		"not a regular file": {
			fs: fstest.MapFS{"d/vmlinuz": {Mode: fs.ModeDir}, "n/x.iso": {Mode: fs.ModeNamedPipe}},
		},
		"backslash in a name": {fs: files(`a\b/vmlinuz`, `c/x\y.iso`)},
		"kinds in menu order": {
			fs: files("z/vmlinuz", "a.iso", "memtest.efi", "wimboot", "w.wim"),
			want: []string{
				"linux-z linux kernel=z/vmlinuz",
				"winpe-w winpe kernel=wimboot wim=w.wim",
				"iso-a iso iso=a.iso",
				"memtest memtest efi=memtest.efi",
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			es := scan(t, c.fs, c.opt)
			got := brief(es)
			want := append(slices.Clone(c.want), builtinBrief...)
			if !slices.Equal(got, want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
		})
	}
}

func TestScanSkipReasons(t *testing.T) {
	fsys := contents(map[string]string{
		"pe/install.wim":       "x",
		"pe/boot.wim":          "x",
		"l/vmlinuz":            "x",
		"l/cmdline.txt":        "a ; b",
		"Boot/x64/wdsmgfw.efi": "x",
		"a/b/c/d/e/vmlinuz":    "x",
		`x\y.iso`:              "x",
	})
	got := map[string]string{}
	scan(t, fsys, ScanOptions{OnSkip: func(p, r string) { got[p] = r }})
	for p, want := range map[string]string{
		"pe/install.wim": "installation image",
		"pe/boot.wim":    "no wimboot",
		"l/cmdline.txt":  `token ";"`,
		"Boot":           "without Boot/BCD",
		"a/b/c/d/e":      "deeper than 4",
		`x\y.iso`:        "backslash",
	} {
		if !strings.Contains(got[p], want) {
			t.Errorf("skip reason for %q = %q, want it to mention %q", p, got[p], want)
		}
	}
}

func TestScanTitles(t *testing.T) {
	fsys := contents(map[string]string{
		"d/linux":              "k",
		"d/title.txt":          "  Debian ${x} || installer \nsecond line\n",
		"e/linux":              "k",
		"e/Title.TXT":          "\n",
		"isos/u.iso":           "i",
		"isos/u.iso.txt":       "Ubuntu 24.04",
		"isos/v.iso":           "i",
		"big/linux":            "k",
		"big/title.txt":        strings.Repeat("x", maxSmall+1),
		"pe/wimboot":           "w",
		"pe/sources/boot.wim":  "w",
		"pe/sources/winre.wim": "w",
		"pe/title.txt":         "Windows PE",
	})
	es := scan(t, fsys, ScanOptions{})
	got := map[string]string{}
	for _, e := range es {
		got[e.ID] = e.Title
	}
	for id, want := range map[string]string{
		"linux-d":        "Debian __x_ __ installer",
		"linux-e":        "e",
		"linux-big":      "big",
		"iso-isos-u":     "Ubuntu 24.04",
		"iso-isos-v":     "v",
		"winpe-pe":       "Windows PE (boot.wim)",
		"winpe-pe-winre": "Windows PE (winre.wim)",
		"local":          "Boot from local disk",
	} {
		if got[id] != want {
			t.Errorf("title of %s = %q, want %q (all: %q)", id, got[id], want, got)
		}
	}
}

func TestScanSizes(t *testing.T) {
	fsys := fstest.MapFS{
		"l/vmlinuz":             {Data: make([]byte, 1000)},
		"l/initrd.img":          {Data: make([]byte, 2000)},
		"m/memtest86+x64.bin":   {Data: make([]byte, 100)},
		"m/memtest86+x64.efi":   {Data: make([]byte, 300)},
		"w/wimboot":             {Data: make([]byte, 10)},
		"w/boot.wim":            {Data: make([]byte, 5000)},
		"w/boot.sdi":            {Data: make([]byte, 20)},
		"Boot/BCD":              {Data: make([]byte, 7)},
		"Boot/x86/pxeboot.n12":  {Data: make([]byte, 30)},
		"Boot/x64/bootmgfw.efi": {Data: make([]byte, 40)},
	}
	es := scan(t, fsys, ScanOptions{})
	got := map[string]int64{}
	for _, e := range es {
		got[e.ID] = e.Size
	}
	want := map[string]int64{"linux-l": 3000, "memtest-m": 300, "winpe-w": 5030, "wds": 40,
		"local": 0, "shell": 0, "config": 0, "reboot": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sizes %v, want %v", got, want)
	}
}

// TestScanIDs: ids are unique, valid, and depend only on the entry's own
// path and its namesakes.
func TestScanIDs(t *testing.T) {
	fsys := files("linux/a b/vmlinuz", "linux/a_b/vmlinuz", "linux/c/vmlinuz", "c/vmlinuz", "x/y.iso", "x-y.iso")
	es := scan(t, fsys, ScanOptions{})
	seen := map[string]bool{}
	ids := map[string]string{}
	for _, e := range es {
		if !validID(e.ID) || seen[e.ID] {
			t.Errorf("id %q invalid or repeated", e.ID)
		}
		seen[e.ID] = true
		if e.Path != "" {
			ids[e.Path] = e.ID
		}
	}
	for p, want := range map[string]string{
		"linux/a b": "linux-a-b-" + shortHash("linux/linux/a b"),
		"linux/a_b": "linux-a-b-" + shortHash("linux/linux/a_b"),
		"linux/c":   "linux-c-" + shortHash("linux/linux/c"),
		"c":         "linux-c-" + shortHash("linux/c"),
		"x/y.iso":   "iso-x-y-" + shortHash("iso/x/y.iso"),
		"x-y.iso":   "iso-x-y-" + shortHash("iso/x-y.iso"),
	} {
		if ids[p] != want {
			t.Errorf("id of %q = %q, want %q", p, ids[p], want)
		}
	}
	// Adding an unrelated entry changes no id.
	fsys["z/vmlinuz"] = &fstest.MapFile{Data: []byte("z")}
	es2 := scan(t, fsys, ScanOptions{})
	for _, e := range es2 {
		if old, ok := ids[e.Path]; ok && old != e.ID {
			t.Errorf("id of %q changed from %q to %q", e.Path, old, e.ID)
		}
	}
}

// TestScanBounds floods Scan with folders and names: the limits hold and
// the overflow is reported.
func TestScanBounds(t *testing.T) {
	fsys := fstest.MapFS{}
	for i := range 300 {
		fsys[fmt.Sprintf("iso/%03d.iso", i)] = &fstest.MapFile{Data: []byte("x")}
	}
	skipped := 0
	es := scan(t, fsys, ScanOptions{MaxEntries: 50, OnSkip: func(string, string) { skipped++ }})
	if n := len(es) - len(builtinBrief); n != 50 || skipped != 250 {
		t.Errorf("%d entries, %d skipped; want 50 and 250", n, skipped)
	}

	deep := "a"
	fsys = fstest.MapFS{}
	for range 50 {
		deep += "/a"
		fsys[deep+"/vmlinuz"] = &fstest.MapFile{Data: []byte("x")}
	}
	es = scan(t, fsys, ScanOptions{MaxDepth: 3})
	if n := len(es) - len(builtinBrief); n != 2 { // a/a (depth 2) and a/a/a (depth 3)
		t.Errorf("%d entries with MaxDepth 3, want 2: %q", n, brief(es))
	}

	fsys = fstest.MapFS{}
	for i := range 1000 {
		fsys[fmt.Sprintf("d%03d/x.iso", i)] = &fstest.MapFile{Data: []byte("x")}
	}
	es = scan(t, fsys, ScanOptions{MaxNames: 1200, MaxEntries: 1000})
	// 1000 top names, then one name per folder until the budget is spent.
	if n := len(es) - len(builtinBrief); n != 200 {
		t.Errorf("%d entries with MaxNames 1200, want 200", n)
	}
	es = scan(t, fsys, ScanOptions{MaxNames: 10})
	// The top folder is cut to 10 names, each holding one ISO.
	if n := len(es) - len(builtinBrief); n != 0 {
		t.Errorf("%d entries with MaxNames 10, want 0 (budget spent on the top folder)", n)
	}
}

func TestScanErrors(t *testing.T) {
	if _, err := Scan(fstest.MapFS{}, ScanOptions{WDSServer: "wds.example"}); !errors.Is(err, ErrOption) {
		t.Errorf("host name as WDS server: %v, want ErrOption", err)
	}
	if _, err := Scan(fstest.MapFS{}, ScanOptions{MaxDepth: -1}); !errors.Is(err, ErrOption) {
		t.Errorf("negative depth: %v, want ErrOption", err)
	}
	if _, err := Scan(os.DirFS(filepath.Join(t.TempDir(), "missing")), ScanOptions{}); err == nil {
		t.Error("missing folder: no error")
	}
}

// TestScanSymlinks: on a real folder, a link to a file counts as the file
// and a link to a folder is not followed (no loops).
func TestScanSymlinks(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "real"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "real", "kernel-image"), []byte("k"), 0o644))
	must(os.Symlink("kernel-image", filepath.Join(dir, "real", "vmlinuz")))
	must(os.Symlink("..", filepath.Join(dir, "real", "loop")))
	must(os.Symlink("real", filepath.Join(dir, "alias")))
	es := scan(t, os.DirFS(dir), ScanOptions{})
	want := append([]string{"linux-real linux kernel=real/vmlinuz"}, builtinBrief...)
	if got := brief(es); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLookup(t *testing.T) {
	es := scan(t, files("debian/linux"), ScanOptions{})
	if e, ok := Lookup(es, "linux-debian"); !ok || e.Path != "debian" {
		t.Errorf("Lookup(linux-debian) = %+v, %v", e, ok)
	}
	if _, ok := Lookup(es, "local"); !ok {
		t.Error("no local entry")
	}
	if _, ok := Lookup(es, "linux-ubuntu"); ok {
		t.Error("found a missing id")
	}
}
