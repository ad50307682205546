package catalog

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// fuzzOptions are the menu variants every fuzzed script is checked under.
var fuzzOptions = []Options{
	{HTTPBase: "http://" + ServerExpr + ":8080", Default: "linux-x"},
	{TFTPServer: "192.0.2.1"},
	{},
}

// FuzzScanMenu puts fuzzed names and file contents into a boot folder of
// every kind, scans it and checks that each menu keeps to its grammar
// (validateScript): no name or content adds or changes a command.
func FuzzScanMenu(f *testing.F) {
	for p, data := range oddNames {
		f.Add(p, "x", data, data)
	}
	f.Add("linux/debian", "ubuntu.iso", "Debian 12", "console=ttyS0")
	f.Add("a\nreboot", "b || shell", "${x}\n#y", "quiet ; reboot")
	f.Add("x", "y\\z", "t\r\n", "a\\")
	f.Fuzz(func(t *testing.T, dir, name, title, args string) {
		fsys := fstest.MapFS{}
		put := func(p, data string) {
			if fs.ValidPath(p) {
				fsys[p] = &fstest.MapFile{Data: []byte(data)}
			}
		}
		put(dir+"/vmlinuz", "k")
		put(dir+"/initrd.img", "i")
		put(dir+"/title.txt", title)
		put(dir+"/cmdline.txt", args)
		put(dir+"/"+name+".iso", "iso")
		put(dir+"/"+name+".iso.txt", title)
		put(dir+"/wimboot", "w")
		put(dir+"/sources/"+name+".wim", "wim")
		put(dir+"/memtest86+x64.bin", "m")
		put(name+"/memtest86+x64.efi", "m")
		put("Boot/BCD", "b")
		put("Boot/x64/"+name, "e")
		es, err := Scan(fsys, ScanOptions{WDSServer: "192.0.2.50"})
		if err != nil {
			t.Fatal(err)
		}
		for _, opt := range fuzzOptions {
			if err := validateScript(Menu(es, opt), opt); err != nil {
				t.Fatalf("%+v: %v", opt, err)
			}
		}
	})
}

// FuzzMenuEntries feeds Menu entries built by hand from fuzzed strings:
// Menu's own checks must keep the script to its grammar whatever Scan did.
func FuzzMenuEntries(f *testing.F) {
	f.Add("linux-x", "Title", "a/vmlinuz", "quiet", "192.0.2.1")
	f.Add("x\ny", "t || reboot", "a b/${x}", "a ; b", "1.2.3.4 && shell")
	f.Add("memtest", "", "Boot/x64/bootmgfw.efi", "#x", "")
	f.Fuzz(func(t *testing.T, id, title, p, args, server string) {
		var es []Entry
		for _, k := range kindOrder {
			var roles []Role
			switch k {
			case KindLinux:
				roles = []Role{RoleKernel, RoleInitrd}
			case KindWinPE:
				roles = []Role{RoleKernel, RoleBootmgr, RoleBCD, RoleSDI, RoleWIM}
			case KindISO:
				roles = []Role{RoleISO}
			case KindWDS, KindMemtest:
				roles = []Role{RoleBIOS, RoleEFI}
			}
			e := Entry{ID: id, Kind: k, Title: title, Args: args, Server: server, Size: int64(len(p))}
			for _, r := range roles {
				e.Files = append(e.Files, File{Role: r, Path: p})
			}
			es = append(es, e)
			e.ID = string(k) + "-" + strings.ToLower(id)
			es = append(es, e)
		}
		for _, opt := range fuzzOptions {
			if err := validateScript(Menu(es, opt), opt); err != nil {
				t.Fatalf("%+v: %v", opt, err)
			}
		}
	})
}
