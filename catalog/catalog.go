// Package catalog turns a boot folder into an iPXE boot menu: Scan finds
// what can be booted in an fs.FS by simple naming conventions
// (docs/boot-catalogue.md), and Menu writes the iPXE script that offers it.
//
// Contract: names and small files in the boot folder are untrusted input.
// Nothing in a file or folder name, a title file or a kernel arguments file
// can add, end or change an iPXE command in the script Menu writes: paths
// are percent-encoded, titles are reduced to a safe character set and
// arguments that would change the script are refused (safe.go). Menu checks
// every Entry again, so entries built by hand get the same guarantee. Scan
// only reads; its work is bounded (depth, directory entries, entries). It
// follows symlinks the fs.FS follows: give it a confined one (os.Root.FS,
// not os.DirFS), as the TFTP and HTTP servers use.
//
// Conventions, per folder (names match case-insensitively):
//   - Linux: a kernel (vmlinuz*, linux, bzImage) with an optional initrd
//     (initrd*, initramfs*) and kernel arguments in cmdline.txt (first
//     line). One entry per folder; with several candidates, the first name
//     in byte order is used.
//   - Windows PE: each *.wim in the folder or in its sources/ subfolder
//     (install.wim excepted), booted by wimboot found in the folder or the
//     nearest parent folder; bootmgr (or bootmgr.exe), BCD and boot.sdi in
//     the folder or its boot/ subfolder are loaded when present (wimboot
//     takes them from the WIM otherwise).
//   - WDS-style tree at the top of the boot folder: Boot/BCD with
//     Boot/x64/bootmgfw.efi (or wdsmgfw.efi) for UEFI and/or
//     Boot/x86/pxeboot.n12 (or Boot/x64/pxeboot.n12) for BIOS.
//   - ISO images: every *.iso, booted with sanboot over HTTP.
//   - Memory test: memtest*.bin (BIOS) and memtest*.efi (x86-64 UEFI), as
//     installed by Debian's memtest86+ package.
//   - Titles: title.txt in the folder (first line); for an ISO, a file named
//     like it plus ".txt" (ubuntu.iso.txt). Otherwise the name.
//   - Names starting with '.' are ignored.
package catalog

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Kind says how an entry boots.
type Kind string

// Kinds of entries, in menu order.
const (
	KindLinux     Kind = "linux"      // kernel + initrd + arguments
	KindWinPE     Kind = "winpe"      // wimboot + WIM
	KindWDS       Kind = "wds"        // Windows boot manager from the local WDS-style tree
	KindWDSServer Kind = "wds-server" // hand the client to an existing WDS server
	KindISO       Kind = "iso"        // sanboot over HTTP
	KindMemtest   Kind = "memtest"    // memtest86+ for BIOS and UEFI
	KindLocal     Kind = "local"      // boot from the local disk (the default)
	KindShell     Kind = "shell"      // iPXE shell
	KindConfig    Kind = "config"     // iPXE settings
	KindReboot    Kind = "reboot"     // reboot
)

var kindOrder = []Kind{KindLinux, KindWinPE, KindWDS, KindWDSServer, KindISO, KindMemtest,
	KindLocal, KindShell, KindConfig, KindReboot}

// Role says what a file is for in its entry.
type Role string

// Roles of the files of an entry.
const (
	RoleKernel  Role = "kernel"  // Linux kernel, or wimboot
	RoleInitrd  Role = "initrd"  // Linux initrd
	RoleBootmgr Role = "bootmgr" // Windows bootmgr or bootmgr.exe (WinPE)
	RoleBCD     Role = "bcd"     // boot configuration data (WinPE; WDS tree: Boot/BCD)
	RoleSDI     Role = "sdi"     // boot.sdi (WinPE)
	RoleWIM     Role = "wim"     // the WIM image (WinPE)
	RoleISO     Role = "iso"     // the ISO image
	RoleBIOS    Role = "bios"    // what BIOS clients load (WDS: pxeboot.n12; memtest: .bin)
	RoleEFI     Role = "efi"     // what x86-64 UEFI clients load (WDS: bootmgfw.efi; memtest: .efi)
)

// File is one file an entry loads.
type File struct {
	Role Role
	Path string // slash path below the boot folder, as listed by the fs.FS
	Size int64  // bytes
}

// Entry is one item of the boot menu.
type Entry struct {
	// ID is stable as long as the entry's path does not change (and no
	// other path reduces to the same id): "<kind>-<path>" lowercased, runs
	// of other characters than a-z and 0-9 turned into '-', e.g.
	// "linux-debian-12" for linux/debian-12/ or "iso-isos-ubuntu-24-04" for
	// isos/ubuntu-24.04.iso (the extension of an ISO or WIM is dropped).
	// Built-in entries have fixed ids: "local", "shell", "config",
	// "reboot", "wds-server"; the WDS-style tree is "wds", a memtest folder
	// named memtest is "memtest".
	ID    string
	Kind  Kind
	Title string // shown in the menu; safe (see package doc)
	Path  string // folder (Linux, WDS, memtest) or file (WIM, ISO) it was found at; "" for built-ins
	Size  int64  // bytes the entry downloads (for the larger firmware variant)
	Files []File
	Args  string // kernel arguments (Linux)
	// Server is the WDS server's address (KindWDSServer).
	Server string
}

func (e *Entry) file(r Role) (File, bool) {
	for _, f := range e.Files {
		if f.Role == r {
			return f, true
		}
	}
	return File{}, false
}

// ScanOptions configures Scan. Zero values mean the documented defaults.
type ScanOptions struct {
	// WDSServer adds an entry that hands clients to this existing WDS
	// server (PXE_WDS_SERVER): an IPv4 address. Empty: no such entry.
	WDSServer string
	// MaxDepth is how many folder levels below the top are searched.
	// Default 4.
	MaxDepth int
	// MaxEntries bounds the entries found in the folder (the built-in ones
	// come on top). Default 100.
	MaxEntries int
	// MaxNames bounds the directory entries Scan looks at, so that a huge
	// folder cannot make every menu request expensive. Default 20000.
	MaxNames int
	// OnSkip, when set, is told about each name Scan recognised but left
	// out, and why (for a log line; it may be called on every scan).
	OnSkip func(path, reason string)
}

// Defaults of ScanOptions.
const (
	DefaultMaxDepth   = 4
	DefaultMaxEntries = 100
	DefaultMaxNames   = 20000
)

// ErrOption is wrapped by errors for bad ScanOptions or Options.
var ErrOption = errors.New("bad catalog option")

// Check reports whether o is usable, naming the field that is not.
func (o ScanOptions) Check() error {
	if o.WDSServer != "" {
		if err := checkServer(o.WDSServer); err != nil {
			return fmt.Errorf("wds server: %w: %w", ErrOption, err)
		}
	}
	if o.MaxDepth < 0 || o.MaxEntries < 0 || o.MaxNames < 0 {
		return fmt.Errorf("negative limit: %w", ErrOption)
	}
	return nil
}

// Scan lists what can be booted from fsys (the boot folder: the admin's
// files over the built-in defaults) following the package conventions,
// then the built-in entries local, shell, config and reboot. Entries come
// grouped by kind in menu order, sorted by path within a kind, with unique
// ids. Only an unreadable top folder or bad options are errors; anything
// else that cannot be used is left out and reported to OnSkip.
func Scan(fsys fs.FS, opt ScanOptions) ([]Entry, error) {
	if err := opt.Check(); err != nil {
		return nil, err
	}
	if opt.MaxDepth == 0 {
		opt.MaxDepth = DefaultMaxDepth
	}
	if opt.MaxEntries == 0 {
		opt.MaxEntries = DefaultMaxEntries
	}
	if opt.MaxNames == 0 {
		opt.MaxNames = DefaultMaxNames
	}
	s := &scanner{fsys: fsys, opt: opt, dirs: map[string][]fs.DirEntry{}}
	top, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("scan boot folder: %w", err)
	}
	s.admit(".", top)
	s.walk(".", 0, "")
	found := s.found
	byKindPath := func(a, b Entry) int {
		if c := cmp.Compare(slices.Index(kindOrder, a.Kind), slices.Index(kindOrder, b.Kind)); c != 0 {
			return c
		}
		return cmp.Compare(a.Path, b.Path)
	}
	slices.SortStableFunc(found, byKindPath)
	if len(found) > opt.MaxEntries {
		for _, e := range found[opt.MaxEntries:] {
			s.skip(e.Path, fmt.Sprintf("more than %d entries", opt.MaxEntries))
		}
		found = found[:opt.MaxEntries]
	}
	uniqueIDs(found)
	if opt.WDSServer != "" {
		found = append(found, Entry{ID: "wds-server", Kind: KindWDSServer, Server: opt.WDSServer,
			Title: safeTitle("Windows Deployment Services at " + opt.WDSServer)})
		slices.SortStableFunc(found, byKindPath)
	}
	return append(found, builtins()...), nil
}

// Lookup returns the entry with id, e.g. to warn when PXE_MENU_DEFAULT
// names none (Menu then boots "local").
func Lookup(entries []Entry, id string) (Entry, bool) {
	for _, e := range entries {
		if e.ID == id {
			return e, true
		}
	}
	return Entry{}, false
}

// builtins are the entries every menu ends with.
func builtins() []Entry {
	return []Entry{
		{ID: "local", Kind: KindLocal, Title: "Boot from local disk"},
		{ID: "shell", Kind: KindShell, Title: "iPXE shell"},
		{ID: "config", Kind: KindConfig, Title: "iPXE settings"},
		{ID: "reboot", Kind: KindReboot, Title: "Reboot"},
	}
}

// uniqueIDs gives every entry whose id is shared with another one an id
// ending with a hash of its own kind and path instead, so that ids depend on
// nothing but the entry itself and the names next to it.
func uniqueIDs(es []Entry) {
	count := map[string]int{}
	for _, e := range es {
		count[e.ID]++
	}
	for i, e := range es {
		if count[e.ID] > 1 {
			es[i].ID = strings.TrimRight(e.ID[:min(len(e.ID), maxID-9)], "-") + "-" + shortHash(string(e.Kind)+"/"+e.Path)
		}
	}
}

type scanner struct {
	fsys  fs.FS
	opt   ScanOptions
	dirs  map[string][]fs.DirEntry // listings read so far
	names int                      // directory entries looked at
	found []Entry
}

func (s *scanner) skip(p, reason string) {
	if s.opt.OnSkip != nil {
		s.opt.OnSkip(p, reason)
	}
}

// list returns the listing of dir, read once, within the MaxNames budget.
func (s *scanner) list(dir string) ([]fs.DirEntry, bool) {
	if l, ok := s.dirs[dir]; ok {
		return l, true
	}
	if s.names >= s.opt.MaxNames {
		s.skip(dir, fmt.Sprintf("not read: more than %d names in the boot folder", s.opt.MaxNames))
		s.dirs[dir] = nil
		return nil, false
	}
	l, err := fs.ReadDir(s.fsys, dir)
	if err != nil {
		s.skip(dir, "cannot read folder")
		s.dirs[dir] = nil
		return nil, false
	}
	return s.admit(dir, l), true
}

// admit records listing l of dir, cut to what is left of the MaxNames
// budget.
func (s *scanner) admit(dir string, l []fs.DirEntry) []fs.DirEntry {
	if room := s.opt.MaxNames - s.names; len(l) > room {
		s.skip(dir, fmt.Sprintf("partly read: more than %d names in the boot folder", s.opt.MaxNames))
		l = l[:room]
	}
	s.names += len(l)
	s.dirs[dir] = l
	return l
}

// child finds name in dir: the exact name, else the first case-insensitive
// match (listings are sorted).
func (s *scanner) child(dir, name string) (fs.DirEntry, bool) {
	l, _ := s.list(dir)
	var fold fs.DirEntry
	for _, d := range l {
		if d.Name() == name {
			return d, true
		}
		if fold == nil && strings.EqualFold(d.Name(), name) {
			fold = d
		}
	}
	return fold, fold != nil
}

// lookup follows elems down from dir case-insensitively and returns the
// regular file at the end.
func (s *scanner) lookup(dir string, elems ...string) (File, bool) {
	p := dir
	for i, e := range elems {
		d, ok := s.child(p, e)
		if !ok || (i < len(elems)-1 && !d.IsDir()) {
			return File{}, false
		}
		p = path.Join(p, d.Name())
	}
	return s.regular(p)
}

// regular stats p (following a symlink inside the fs.FS) and returns it as
// a File when it is a regular file whose path can be served.
func (s *scanner) regular(p string) (File, bool) {
	if checkPath(p) != nil {
		return File{}, false
	}
	fi, err := fs.Stat(s.fsys, p)
	if err != nil || !fi.Mode().IsRegular() {
		return File{}, false
	}
	return File{Path: p, Size: fi.Size()}, true
}

// small reads the first line of a title or arguments file, at most
// maxSmall bytes of it.
func (s *scanner) small(p string) (string, error) {
	f, err := s.fsys.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSmall+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSmall {
		return "", fmt.Errorf("larger than %d bytes", maxSmall)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line, nil
}

// title is the safe title of an entry: the first line of the file titleName
// in dir if there is one, else fallback.
func (s *scanner) title(dir, titleName, fallback string) string {
	if f, ok := s.lookup(dir, titleName); ok {
		if t, err := s.small(f.Path); err == nil {
			if t = safeTitle(t); t != "" {
				return t
			}
		} else {
			s.skip(f.Path, "title file: "+err.Error())
		}
	}
	if t := safeTitle(fallback); t != "" {
		return t
	}
	return "(unnamed)"
}

func (s *scanner) add(e Entry) {
	s.addAs(e, e.Path)
}

// addAs adds e with an id derived from idPath.
func (s *scanner) addAs(e Entry, idPath string) {
	e.ID = makeID(e.Kind, idPath)
	for _, f := range e.Files {
		e.Size += f.Size
	}
	s.found = append(s.found, e)
}

// walk recognises entries in dir and descends into its subfolders.
// wimboot is the nearest wimboot found in dir's parents.
func (s *scanner) walk(dir string, depth int, wimboot string) {
	l, ok := s.list(dir)
	if !ok {
		return
	}
	if f, ok := s.lookup(dir, "wimboot"); ok {
		wimboot = f.Path
	}
	if dir == "." {
		s.wds()
	}
	s.linux(dir, l)
	s.winpe(dir, wimboot)
	s.isos(dir, l)
	s.memtest(dir, l)
	for _, d := range l {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		sub := path.Join(dir, d.Name())
		if depth+1 > s.opt.MaxDepth {
			s.skip(sub, fmt.Sprintf("deeper than %d folder levels: not searched", s.opt.MaxDepth))
			continue
		}
		if err := checkPath(sub); err != nil {
			s.skip(sub, err.Error())
			continue
		}
		s.walk(sub, depth+1, wimboot)
	}
}

// files returns the regular, servable files of listing l in dir whose
// lowercased names satisfy match, in name order.
func (s *scanner) files(dir string, l []fs.DirEntry, match func(lower string) bool) []File {
	var out []File
	for _, d := range l {
		n := d.Name()
		if d.IsDir() || strings.HasPrefix(n, ".") || !match(strings.ToLower(n)) {
			continue
		}
		p := path.Join(dir, n)
		if err := checkPath(p); err != nil {
			s.skip(p, err.Error())
			continue
		}
		if f, ok := s.regular(p); ok {
			out = append(out, f)
		}
	}
	return out
}

func dirTitle(dir, fallback string) string {
	if dir == "." {
		return fallback
	}
	return path.Base(dir)
}

func (s *scanner) linux(dir string, l []fs.DirEntry) {
	kernels := s.files(dir, l, func(n string) bool {
		return strings.HasPrefix(n, "vmlinuz") || n == "linux" || n == "bzimage"
	})
	if len(kernels) == 0 {
		return
	}
	e := Entry{Kind: KindLinux, Path: dir}
	k := kernels[0]
	k.Role = RoleKernel
	e.Files = append(e.Files, k)
	initrds := s.files(dir, l, func(n string) bool {
		return strings.HasPrefix(n, "initrd") || strings.HasPrefix(n, "initramfs")
	})
	if len(initrds) > 0 {
		i := initrds[0]
		i.Role = RoleInitrd
		e.Files = append(e.Files, i)
	}
	if f, ok := s.lookup(dir, "cmdline.txt"); ok {
		line, err := s.small(f.Path)
		if err == nil {
			line, err = checkArgs(line)
		}
		if err != nil {
			s.skip(f.Path, err.Error())
			return
		}
		e.Args = line
	}
	e.Title = s.title(dir, "title.txt", dirTitle(dir, "Linux"))
	s.add(e)
}

func (s *scanner) winpe(dir, wimboot string) {
	if strings.EqualFold(path.Base(dir), "sources") {
		return // its WIMs belong to the parent folder
	}
	isWIM := func(n string) bool { return strings.HasSuffix(n, ".wim") }
	l, _ := s.list(dir)
	wims := s.files(dir, l, isWIM)
	if d, ok := s.child(dir, "sources"); ok && d.IsDir() {
		src := path.Join(dir, d.Name())
		sl, _ := s.list(src)
		wims = append(wims, s.files(src, sl, isWIM)...)
	}
	var found []File
	for _, w := range wims {
		switch {
		case strings.EqualFold(path.Base(w.Path), "install.wim"):
			s.skip(w.Path, "an installation image, not a boot image: boot the boot.wim next to it")
		case wimboot == "":
			s.skip(w.Path, "no wimboot in its folder or a parent folder (download it from the iPXE project)")
		default:
			found = append(found, w)
		}
	}
	if len(found) == 0 {
		return
	}
	var extra []File
	if f, ok := s.lookupAny(dir, [][]string{{"bootmgr"}, {"bootmgr.exe"}}); ok {
		f.Role = RoleBootmgr
		extra = append(extra, f)
	}
	if f, ok := s.lookupAny(dir, [][]string{{"boot", "bcd"}, {"bcd"}}); ok {
		f.Role = RoleBCD
		extra = append(extra, f)
	}
	if f, ok := s.lookupAny(dir, [][]string{{"boot", "boot.sdi"}, {"boot.sdi"}}); ok {
		f.Role = RoleSDI
		extra = append(extra, f)
	}
	title := s.title(dir, "title.txt", dirTitle(dir, "Windows PE"))
	for _, w := range found {
		e := Entry{Kind: KindWinPE, Path: w.Path, Title: title}
		if len(found) > 1 {
			e.Title = safeTitle(title + " (" + path.Base(w.Path) + ")")
		}
		e.Files = append(e.Files, File{Role: RoleKernel, Path: wimboot, Size: s.size(wimboot)})
		e.Files = append(e.Files, extra...)
		w.Role = RoleWIM
		e.Files = append(e.Files, w)
		// The id names the folder, and the WIM unless it is the usual
		// boot.wim: winpe/sources/boot.wim is "winpe".
		idPath := path.Join(dir, strings.TrimSuffix(path.Base(w.Path), path.Ext(w.Path)))
		if strings.EqualFold(path.Base(w.Path), "boot.wim") {
			idPath = dir
		}
		s.addAs(e, idPath)
	}
}

func (s *scanner) size(p string) int64 {
	f, _ := s.regular(p)
	return f.Size
}

// lookupAny returns the first of several candidate paths below dir.
func (s *scanner) lookupAny(dir string, cands [][]string) (File, bool) {
	for _, c := range cands {
		if f, ok := s.lookup(dir, c...); ok {
			return f, true
		}
	}
	return File{}, false
}

// wds recognises a WDS-style tree at the top of the boot folder. It is only
// looked for there: the Windows boot managers fetch \Boot\BCD from the top
// of the TFTP server whatever folder they were loaded from.
func (s *scanner) wds() {
	bcd, hasBCD := s.lookup(".", "boot", "bcd")
	efi, hasEFI := s.lookupAny(".", [][]string{{"boot", "x64", "bootmgfw.efi"}, {"boot", "x64", "wdsmgfw.efi"}})
	bios, hasBIOS := s.lookupAny(".", [][]string{{"boot", "x86", "pxeboot.n12"}, {"boot", "x64", "pxeboot.n12"}})
	if !hasEFI && !hasBIOS {
		return
	}
	if !hasBCD {
		s.skip("Boot", "Windows boot manager files without Boot/BCD")
		return
	}
	e := Entry{Kind: KindWDS, Path: ".", Title: s.title(path.Dir(bcd.Path), "title.txt", "Windows boot manager (Boot folder)")}
	s.addPerFirmware(e, bios, hasBIOS, efi, hasEFI)
}

// addPerFirmware adds e with its BIOS and UEFI variants, whichever were
// found, and the size of the larger: a client loads only the variant for its
// firmware.
func (s *scanner) addPerFirmware(e Entry, bios File, hasBIOS bool, efi File, hasEFI bool) {
	if hasBIOS {
		bios.Role = RoleBIOS
		e.Files = append(e.Files, bios)
	}
	if hasEFI {
		efi.Role = RoleEFI
		e.Files = append(e.Files, efi)
	}
	s.add(e)
	last := &s.found[len(s.found)-1]
	last.Size = 0
	for _, f := range last.Files {
		last.Size = max(last.Size, f.Size)
	}
}

func (s *scanner) isos(dir string, l []fs.DirEntry) {
	for _, f := range s.files(dir, l, func(n string) bool { return strings.HasSuffix(n, ".iso") }) {
		f.Role = RoleISO
		name := path.Base(f.Path)
		s.addAs(Entry{Kind: KindISO, Path: f.Path, Files: []File{f},
			Title: s.title(dir, name+".txt", strings.TrimSuffix(name, path.Ext(name)))},
			strings.TrimSuffix(f.Path, path.Ext(f.Path)))
	}
}

func (s *scanner) memtest(dir string, l []fs.DirEntry) {
	pick := func(ext string) (File, bool) {
		fs := s.files(dir, l, func(n string) bool { return strings.HasPrefix(n, "memtest") && strings.HasSuffix(n, ext) })
		// Debian ships x64 and ia32 builds side by side: prefer x64.
		for _, f := range fs {
			if strings.Contains(path.Base(f.Path), "64") {
				return f, true
			}
		}
		if len(fs) > 0 {
			return fs[0], true
		}
		return File{}, false
	}
	bin, hasBIN := pick(".bin")
	efi, hasEFI := pick(".efi")
	if !hasBIN && !hasEFI {
		return
	}
	e := Entry{Kind: KindMemtest, Path: dir, Title: s.title(dir, "title.txt", "Memory test (memtest86+)")}
	s.addPerFirmware(e, bin, hasBIN, efi, hasEFI)
}
