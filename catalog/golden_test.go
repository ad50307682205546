package catalog

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/golden"
)

// oddNames are added to the sample tree in memory: names a checkout could
// not hold on every system (newlines, control characters, quotes, '|',
// '\', bytes that are not UTF-8, names longer than a path component).
var oddNames = map[string]string{
	"isos/evil\nreboot.iso":                                "x",
	"isos/tab\tand\rcr.iso":                                "x",
	"isos/pipe || shell ; reboot.iso":                      "x",
	"isos/quote\"s and 'single' `back`.iso":                "x",
	"isos/back\\slash.iso":                                 "x",
	"isos/ctrl\x01\x1b[31m.iso":                            "x",
	"isos/\xff\xfe not utf-8.iso":                          "x",
	"isos/" + strings.Repeat("long-", 60) + ".iso":         "x",
	"isos/#comment.iso":                                    "x",
	"isos/%2e%2e%2fescape.iso":                             "x",
	"linux/evil title/vmlinuz":                             "k",
	"linux/evil title/title.txt":                           "Evil ${reboot} || shell ; #x && `y`\nreboot\n",
	"linux/evil args/vmlinuz":                              "k",
	"linux/evil args/cmdline.txt":                          "quiet\\",
	"linux/UPPER CASE/VMLINUZ":                             "k",
	"linux/UPPER CASE/INITRD.IMG":                          "i",
	"linux/a b/vmlinuz":                                    "k",
	"linux/a_b/vmlinuz":                                    "k",
	"linux/" + strings.Repeat("deep-name-", 12) + "/linux": "k",
}

// sampleTree is testdata/tree (every kind of entry, with odd but portable
// names) plus oddNames, in memory.
func sampleTree(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	root := filepath.Join("testdata", "tree")
	err := fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		m[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, data := range oddNames {
		m[p] = &fstest.MapFile{Data: []byte(data)}
	}
	return m
}

// TestGolden scans the sample tree and compares the entries and the menus
// (HTTP and TFTP only) with testdata/golden; -update rewrites them. Every
// menu must also pass validateScript.
func TestGolden(t *testing.T) {
	var skips []string
	es, err := Scan(sampleTree(t), ScanOptions{WDSServer: "192.0.2.50", OnSkip: func(p, r string) {
		skips = append(skips, fmt.Sprintf("skip %q: %s", p, r))
	}})
	if err != nil {
		t.Fatal(err)
	}
	var list bytes.Buffer
	for _, e := range es {
		fmt.Fprintf(&list, "%s %s size=%d title=%q", e.ID, e.Kind, e.Size, e.Title)
		for _, f := range e.Files {
			fmt.Fprintf(&list, " %s=%q", f.Role, f.Path)
		}
		if e.Args != "" {
			fmt.Fprintf(&list, " args=%q", e.Args)
		}
		if e.Server != "" {
			fmt.Fprintf(&list, " server=%s", e.Server)
		}
		list.WriteByte('\n')
	}
	for _, s := range skips {
		list.WriteString(s + "\n")
	}
	golden.Check(t, "golden/entries.txt", list.String())

	menus := map[string]Options{
		"menu-http.ipxe": {HTTPBase: "http://" + ServerExpr + ":8080", Default: "linux-debian-12", Timeout: 5 * time.Second},
		"menu-tftp.ipxe": {Default: "iso-isos-ubuntu-24-04"}, // not bootable without HTTP: local
	}
	for name, opt := range menus {
		script := Menu(es, opt)
		if err := validateScript(script, opt); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		golden.Check(t, "golden/"+name, string(script))
	}
}

// TestMenuOptions covers the choices Menu makes from its options.
func TestMenuOptions(t *testing.T) {
	es := []Entry{
		{ID: "linux-a", Kind: KindLinux, Title: "A", Files: []File{{Role: RoleKernel, Path: "a/vmlinuz"}, {Role: RoleInitrd, Path: "a/initrd"}}},
		{ID: "iso-b", Kind: KindISO, Title: "B", Files: []File{{Role: RoleISO, Path: "b.iso"}}},
		{ID: "local", Kind: KindLocal, Title: "Boot from local disk"},
	}
	cases := map[string]struct {
		opt     Options
		want    []string
		wantNot []string
	}{
		"defaults": {
			opt:     Options{},
			want:    []string{"set pxeproxy-default local\n", "set pxeproxy-timeout 30000\n", "kernel /a/vmlinuz initrd=initrd ||", "item --gap -- B (needs pxeproxy's HTTP server)"},
			wantNot: []string{":iso-b", "sanboot --no-describe /b.iso"},
		},
		"http": {
			opt:     Options{HTTPBase: "http://192.0.2.1:8080/", Default: "iso-b", Timeout: 1500 * time.Millisecond},
			want:    []string{"set pxeproxy-default iso-b\n", "set pxeproxy-timeout 1500\n", "set pxeproxy-http http://192.0.2.1:8080\n", "kernel ${pxeproxy-http}/a/vmlinuz ", "sanboot --no-describe ${pxeproxy-http}/b.iso ||", "item iso-b B"},
			wantNot: []string{"clear pxeproxy-http"},
		},
		"tftp server": {
			opt:     Options{TFTPServer: ServerExpr, Default: "linux-a", Timeout: -1},
			want:    []string{"set pxeproxy-default linux-a\n", "set pxeproxy-timeout 0\n", "kernel tftp://${pxeproxy-server}/a/vmlinuz "},
			wantNot: []string{"pxeproxy-http"},
		},
		"unknown default": {opt: Options{Default: "linux-zz"}, want: []string{"set pxeproxy-default local\n"}},
		"bad bases ignored": {
			opt:     Options{HTTPBase: "http://x/ || reboot", TFTPServer: "a b"},
			want:    []string{"kernel /a/vmlinuz "},
			wantNot: []string{"reboot ||", "tftp://"},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			script := Menu(es, c.opt)
			check := c.opt
			if check.HTTPBase != "" && !validBase(strings.TrimRight(check.HTTPBase, "/")) {
				check.HTTPBase = ""
			}
			if check.TFTPServer != "" && !validHost(check.TFTPServer) {
				check.TFTPServer = ""
			}
			if err := validateScript(script, check); err != nil {
				t.Errorf("%v\n%s", err, script)
			}
			for _, w := range c.want {
				if !bytes.Contains(script, []byte(w)) {
					t.Errorf("no %q in\n%s", w, script)
				}
			}
			for _, w := range c.wantNot {
				if bytes.Contains(script, []byte(w)) {
					t.Errorf("%q in\n%s", w, script)
				}
			}
		})
	}
}

// TestMenuServerAddress runs the menu's preamble as iPXE would with the
// settings of each kind of client and checks the URL its kernel comes from.
// An iPXE that booted over IPv6 alone has no DHCPv4 settings: it must get a
// path relative to the menu's URL, not "http://:8080/...".
func TestMenuServerAddress(t *testing.T) {
	es := []Entry{{ID: "linux-a", Kind: KindLinux, Title: "A", Files: []File{{Role: RoleKernel, Path: "a/vmlinuz"}}}}
	script := string(Menu(es, Options{HTTPBase: "http://" + ServerExpr + ":8080"}))
	cases := map[string]struct {
		settings map[string]string
		want     string
	}{
		"proxydhcp offer":             {map[string]string{"proxydhcp/next-server": "192.0.2.1", "next-server": "192.0.2.9"}, "http://192.0.2.1:8080/a/vmlinuz"},
		"no proxydhcp offer":          {map[string]string{"next-server": "192.0.2.9"}, "http://192.0.2.9:8080/a/vmlinuz"},
		"ipv6 alone":                  {map[string]string{}, "/a/vmlinuz"},
		"chained with server set":     {map[string]string{"pxeproxy-server": "[2001:db8::5]"}, "http://[2001:db8::5]:8080/a/vmlinuz"},
		"stale http base from before": {map[string]string{"pxeproxy-http": "http://192.0.2.66"}, "/a/vmlinuz"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ipxeKernelURL(script, c.settings)
			if err != nil {
				t.Fatalf("%v\n%s", err, script)
			}
			if got != c.want {
				t.Errorf("kernel from %q, want %q", got, c.want)
			}
		})
	}
}

// ipxeKernelURL runs the preamble of script (isset, set, clear; iPXE
// src/hci/commands/nvo_cmd.c: setting an empty value deletes it) over
// settings and returns the first kernel line's URL as iPXE expands it.
func ipxeKernelURL(script string, settings map[string]string) (string, error) {
	s := maps.Clone(settings)
	expand := func(v string) string {
		return regexp.MustCompile(`\$\{[^}]*\}`).ReplaceAllStringFunc(v, func(e string) string { return s[e[2:len(e)-1]] })
	}
	var run func(toks []string) error
	run = func(toks []string) error {
		switch {
		case len(toks) >= 4 && toks[0] == "isset" && toks[2] == "||":
			if expand(toks[1]) == "" {
				return run(toks[3:])
			}
		case len(toks) >= 2 && toks[0] == "set":
			if v := expand(strings.Join(toks[2:], " ")); v != "" {
				s[toks[1]] = v
			} else {
				delete(s, toks[1])
			}
		case len(toks) == 2 && toks[0] == "clear":
			delete(s, toks[1])
		default:
			return fmt.Errorf("preamble command %q", toks)
		}
		return nil
	}
	lines := strings.Split(script, "\n")
	i := 1
	for ; i < len(lines) && lines[i] != ":pxeproxy/menu"; i++ {
		if toks := strings.Fields(lines[i]); len(toks) > 0 && !strings.HasPrefix(toks[0], "#") {
			if err := run(toks); err != nil {
				return "", err
			}
		}
	}
	for _, l := range lines[i:] {
		if toks := strings.Fields(l); len(toks) > 1 && toks[0] == "kernel" {
			return expand(toks[1]), nil
		}
	}
	return "", fmt.Errorf("no kernel line")
}

// TestMenuDropsBadEntries: Menu checks hand-built entries again.
func TestMenuDropsBadEntries(t *testing.T) {
	bad := []Entry{
		{ID: "Linux", Kind: KindLinux, Files: []File{{Role: RoleKernel, Path: "k"}}},
		{ID: "linux-x", Kind: KindLinux, Files: []File{{Role: RoleKernel, Path: "../k"}}},
		{ID: "linux-y", Kind: KindLinux, Files: []File{{Role: RoleKernel, Path: `a\k`}}},
		{ID: "linux-z", Kind: KindLinux, Files: []File{{Role: RoleInitrd, Path: "i"}}},
		{ID: "linux-w", Kind: KindLinux, Args: "a || reboot", Files: []File{{Role: RoleKernel, Path: "k"}}},
		{ID: "winpe-a", Kind: KindWinPE, Files: []File{{Role: RoleKernel, Path: "wimboot"}}},
		{ID: "wds", Kind: KindWDS, Files: []File{{Role: RoleEFI, Path: "Boot/x64/boot mgfw.efi"}}},
		{ID: "wds-b", Kind: KindWDS},
		{ID: "memtest", Kind: KindMemtest},
		{ID: "wds-server", Kind: KindWDSServer, Server: "192.0.2.1 || reboot"},
		{ID: "iso-a", Kind: KindISO},
		{ID: "odd", Kind: Kind("odd")},
		{ID: "local", Kind: KindLocal, Title: "first"},
		{ID: "local", Kind: KindLocal, Title: "second"},
	}
	script := Menu(bad, Options{HTTPBase: "http://192.0.2.1"})
	if err := validateScript(script, Options{HTTPBase: "http://192.0.2.1"}); err != nil {
		t.Fatalf("%v\n%s", err, script)
	}
	for _, l := range strings.Split(string(script), "\n") {
		if strings.HasPrefix(l, ":") && !strings.HasPrefix(l, ":pxeproxy/") && l != ":local" {
			t.Errorf("label %q of a bad entry", l)
		}
	}
	if bytes.Contains(script, []byte("second")) {
		t.Error("second entry with a repeated id kept")
	}
}
