package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ServerExpr is an iPXE expression for the address of the pxeproxy that
// sent the menu, set at the top of every menu: the ProxyDHCP offer's
// next-server (docs/pxe-notes.md §5-6: ${next-server} alone is the site
// DHCP server's siaddr whenever that server fills it in), or next-server
// when the client got no ProxyDHCP offer. A script that chains to the menu
// may set pxeproxy-server itself first. Use it in Options.HTTPBase, e.g.
// "http://" + ServerExpr + ":8080".
const ServerExpr = "${pxeproxy-server}"

// httpSetting holds the HTTP base in the menu, so that the menu can drop it
// when it finds no server address (see Menu).
const httpSetting = "pxeproxy-http"

// DefaultTimeout is the menu timeout when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options configures Menu. Zero values mean the documented defaults.
type Options struct {
	// Timeout is how long the menu waits before it boots the default
	// entry. 0: DefaultTimeout; negative: it waits for a key for ever.
	Timeout time.Duration
	// Default is the id of the entry booted after the timeout
	// (PXE_MENU_DEFAULT). Empty, unknown or not bootable: "local".
	Default string
	// HTTPBase is the URL of pxeproxy's HTTP boot files without a trailing
	// '/', e.g. "http://192.0.2.10:8080" or "http://"+ServerExpr+":8080".
	// Kernels, initrds, WIMs, ISOs and memtest are fetched below it. Empty:
	// everything goes over TFTP and ISO entries are shown as unavailable
	// (sanboot needs HTTP). With ServerExpr in it, a client for which the
	// menu finds no server address (iPXE on IPv6 alone) gets its files by
	// paths relative to the menu's own URL instead.
	HTTPBase string
	// TFTPServer is the host of tftp:// URLs, e.g. "192.0.2.10" or
	// ServerExpr. Empty: paths such as "/linux/vmlinuz", which iPXE
	// resolves against the server the menu itself came from.
	TFTPServer string
}

// Check reports whether o is usable, naming the field that is not. Menu
// ignores a bad HTTPBase or TFTPServer (TFTP with relative paths) and a bad
// Default ("local"); call Check at start-up to fail early instead.
func (o Options) Check() error {
	if o.Default != "" && !validID(o.Default) {
		return fmt.Errorf("default %q: expected an entry id (a-z, 0-9, '-'): %w", o.Default, ErrOption)
	}
	if o.HTTPBase != "" && !validBase(o.HTTPBase) {
		return fmt.Errorf("http base %q: expected an http:// URL without spaces, quotes, '#', '|', '&', ';' or '\\': %w", o.HTTPBase, ErrOption)
	}
	if o.TFTPServer != "" && !validHost(o.TFTPServer) {
		return fmt.Errorf("tftp server %q: expected an address or an iPXE expression: %w", o.TFTPServer, ErrOption)
	}
	return nil
}

func validBase(s string) bool {
	return len(s) <= 256 && (strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")) && checkExpr(s)
}

func validHost(s string) bool {
	return len(s) <= 256 && strings.IndexByte(s, '/') < 0 && checkExpr(s)
}

// Internal labels hold a '/', which no entry id can, so no folder name can
// take them over.
const (
	labelMenu        = "pxeproxy/menu"
	labelFailed      = "pxeproxy/failed"
	labelUnsupported = "pxeproxy/unsupported"
)

// Menu writes the iPXE script offering entries, in their order, with the
// sizes they download. It checks each entry again (id, title, paths,
// arguments, server; see the package doc) and leaves out those that fail or
// repeat an id. The script expects an iPXE with menu support; it uses only
// commands present in Debian's 2019 iPXE build.
func Menu(entries []Entry, opt Options) []byte {
	m := &menu{http: strings.TrimRight(opt.HTTPBase, "/"), tftp: opt.TFTPServer}
	if m.http != "" && !validBase(m.http) {
		m.http = ""
	}
	if m.tftp != "" && !validHost(m.tftp) {
		m.tftp = ""
	}
	seen := map[string]bool{}
	var ok []Entry
	for _, e := range entries {
		if e, good := m.check(e); good && !seen[e.ID] {
			seen[e.ID] = true
			ok = append(ok, e)
		}
	}
	if !seen["local"] {
		// The menu falls back to it (Esc, failed boots): it must be there.
		ok = append(ok, builtins()[0])
	}
	def := "local"
	for _, e := range ok {
		if e.ID == opt.Default && m.bootable(e) {
			def = e.ID
		}
	}
	timeout := opt.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = 0 // iPXE's choose: no timeout
	}

	m.line("#!ipxe")
	m.line("# pxeproxy boot catalogue, generated from the boot folder for each request.")
	m.line("# A boot.ipxe of your own in the boot folder replaces it.")
	m.line("")
	m.line("isset", ServerExpr, "||", "set", "pxeproxy-server", "${proxydhcp/next-server}")
	m.line("isset", ServerExpr, "||", "set", "pxeproxy-server", "${next-server}")
	if m.http != "" {
		m.line("set", httpSetting, m.http)
		if strings.Contains(m.http, ServerExpr) {
			// An iPXE that booted over IPv6 alone has neither setting
			// (both come from DHCPv4), and "http://:4011/..." fails: its
			// files then come by paths relative to the menu's own URL
			// (tftp://[addr]/boot.ipxe, docs/boot-catalogue.md).
			m.line("isset", ServerExpr, "||", "clear", httpSetting)
		}
	}
	m.line("set", "pxeproxy-default", def)
	m.line("set", "pxeproxy-timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	m.line("")
	m.line(":" + labelMenu)
	m.line("menu", "pxeproxy boot menu")
	m.line("item", "--gap", "--", "Client ${netX/mac} ${netX/ip} (${buildarch}/${platform}), server", ServerExpr)
	section := ""
	for _, e := range ok {
		if s := sectionOf(e.Kind); s != section {
			section = s
			m.line("item", "--gap", "--")
			if s != "" {
				m.line("item", "--gap", "--", s)
			}
		}
		m.item(e)
	}
	m.line("item", "--gap", "--")
	m.line("item", "--gap", "--", "More: copy images into the boot folder (README: Boot catalogue)")
	m.line("choose", "--timeout", "${pxeproxy-timeout}", "--default", "${pxeproxy-default}", "pxeproxy-choice", "||", "goto", "local")
	m.line("goto", "${pxeproxy-choice}")
	for _, e := range ok {
		if m.bootable(e) {
			m.line("")
			m.entry(e)
		}
	}
	m.line("")
	m.line(":" + labelUnsupported)
	m.line("echo", "This entry has no boot file for ${platform} firmware on ${buildarch}.")
	m.line(":" + labelFailed)
	m.line("echo", "Boot failed. Back to the menu, with the local disk as the default.")
	m.line("set", "pxeproxy-default", "local")
	m.line("prompt", "--timeout", "5000", "Press any key to continue", "||")
	m.line("goto", labelMenu)
	return []byte(m.b.String())
}

type menu struct {
	b    strings.Builder
	http string // validated HTTP base, or ""
	tftp string // validated TFTP host, or ""
}

// line writes one script line of already safe tokens.
func (m *menu) line(tokens ...string) {
	m.b.WriteString(strings.Join(tokens, " "))
	m.b.WriteByte('\n')
}

func sectionOf(k Kind) string {
	switch k {
	case KindLinux:
		return "Linux"
	case KindWinPE, KindWDS, KindWDSServer:
		return "Windows"
	case KindISO:
		return "ISO images over HTTP (works for ISOs that support it)"
	case KindMemtest:
		return "Tools"
	}
	return ""
}

// required lists the roles an entry of each kind must have; every other
// kind needs at least one of RoleBIOS and RoleEFI (checked in check).
var required = map[Kind][]Role{
	KindLinux: {RoleKernel},
	KindWinPE: {RoleKernel, RoleWIM},
	KindISO:   {RoleISO},
}

// check returns e with a safe title, or false when e cannot be written
// safely or lacks the files its kind needs.
func (m *menu) check(e Entry) (Entry, bool) {
	if !validID(e.ID) {
		return e, false
	}
	if e.Title = safeTitle(e.Title); e.Title == "" {
		e.Title = e.ID
	}
	for _, f := range e.Files {
		if checkPath(f.Path) != nil {
			return e, false
		}
	}
	if e.Args != "" {
		a, err := checkArgs(e.Args)
		if err != nil {
			return e, false
		}
		e.Args = a
	}
	for _, r := range required[e.Kind] {
		if _, ok := e.file(r); !ok {
			return e, false
		}
	}
	switch e.Kind {
	case KindWDS, KindMemtest:
		_, bios := e.file(RoleBIOS)
		_, efi := e.file(RoleEFI)
		if !bios && !efi {
			return e, false
		}
		if e.Kind == KindWDS {
			// These paths are also written as Windows file names
			// (backslashes) into the filename setting, unencoded.
			for _, f := range e.Files {
				if !plainPath(f.Path) {
					return e, false
				}
			}
		}
	case KindWDSServer:
		if checkServer(e.Server) != nil {
			return e, false
		}
	case KindLocal, KindShell, KindConfig, KindReboot:
		// Built-ins keep their documented ids.
		if e.ID != string(e.Kind) {
			return e, false
		}
	case KindLinux, KindWinPE, KindISO:
	default:
		return e, false
	}
	return e, true
}

// plainPath reports whether p has only letters, digits, '.', '_', '-' and
// '/' (the file names of a WDS tree).
func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if c := p[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' && c != '/' {
			return false
		}
	}
	return true
}

// bootable reports whether e can boot with these options: ISO images need
// HTTP.
func (m *menu) bootable(e Entry) bool {
	return e.Kind != KindISO || m.http != ""
}

func (m *menu) item(e Entry) {
	if !m.bootable(e) {
		m.line("item", "--gap", "--", e.Title, "(needs pxeproxy's HTTP server)")
		return
	}
	text := e.Title
	if e.Size > 0 {
		sz := formatSize(e.Size)
		dots := max(3, 60-len(text)-len(sz)-2)
		text += " " + strings.Repeat(".", dots) + " " + sz
	}
	switch {
	case e.Kind == KindLocal:
		m.line("item", "--key", "l", e.ID, text)
	case e.Kind == KindShell:
		m.line("item", "--key", "s", e.ID, text)
	case e.Kind == KindConfig:
		m.line("item", "--key", "c", e.ID, text)
	case e.Kind == KindReboot:
		m.line("item", "--key", "r", e.ID, text)
	default:
		m.line("item", e.ID, text)
	}
}

// formatSize writes n bytes in binary units with three significant digits
// or so: "512 B", "142 KiB", "45.2 MiB".
func formatSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v := float64(n)
	unit := ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		unit = u
		if v < 1024 {
			break
		}
	}
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + unit
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " " + unit
}

// bigURL is where a kernel, initrd, WIM, ISO or memtest is fetched: below
// the HTTP base the menu set when there is one, else TFTP.
func (m *menu) bigURL(p string) string {
	if m.http != "" {
		return "${" + httpSetting + "}/" + encodePath(p)
	}
	return m.tftpURL(p)
}

func (m *menu) tftpURL(p string) string {
	if m.tftp == "" {
		return "/" + encodePath(p)
	}
	return "tftp://" + m.tftp + "/" + encodePath(p)
}

func (m *menu) via() string {
	if m.http != "" {
		return "HTTP"
	}
	return "TFTP"
}

const orFail = "|| goto " + labelFailed

// entry writes the label and commands of one bootable entry.
func (m *menu) entry(e Entry) {
	m.line(":" + e.ID)
	switch e.Kind {
	case KindLinux:
		m.line("echo", "Booting", e.Title, "over", m.via())
		m.line("imgfree")
		k, _ := e.file(RoleKernel)
		args := []string{"kernel", m.bigURL(k.Path)}
		initrd, hasInitrd := e.file(RoleInitrd)
		if hasInitrd {
			// A UEFI kernel's EFI stub opens the initrd named by
			// initrd= from iPXE's virtual file system; the BIOS
			// bzImage loader passes every initrd anyway. First, so
			// that no "--" in the arguments hides it.
			args = append(args, "initrd=initrd")
		}
		if e.Args != "" {
			args = append(args, e.Args)
		}
		m.line(append(args, orFail)...)
		if hasInitrd {
			m.line("initrd", "--name", "initrd", m.bigURL(initrd.Path), orFail)
		}
		m.line("boot", orFail)
	case KindWinPE:
		m.line("echo", "Booting", e.Title, "over", m.via())
		m.line("imgfree")
		k, _ := e.file(RoleKernel)
		m.line("kernel", m.bigURL(k.Path), orFail)
		// wimboot reads each file under the name given twice: --name
		// for UEFI, the argument for BIOS (ipxe.org/appnote/
		// wimboot_architecture).
		for _, r := range []Role{RoleBootmgr, RoleBCD, RoleSDI, RoleWIM} {
			f, ok := e.file(r)
			if !ok {
				continue
			}
			name := map[Role]string{RoleBootmgr: "bootmgr", RoleBCD: "BCD", RoleSDI: "boot.sdi", RoleWIM: "boot.wim"}[r]
			if r == RoleBootmgr && strings.HasSuffix(strings.ToLower(f.Path), ".exe") {
				name = "bootmgr.exe"
			}
			m.line("initrd", "--name", name, m.bigURL(f.Path), name, orFail)
		}
		m.line("boot", orFail)
	case KindISO:
		f, _ := e.file(RoleISO)
		m.line("echo", "Booting", e.Title, "over HTTP (works for ISOs that support it)")
		m.line("sanboot", "--no-describe", m.bigURL(f.Path), orFail)
	case KindMemtest:
		m.line("echo", "Booting", e.Title, "over", m.via())
		m.line("imgfree")
		bios, efi := variants(e)
		m.byFirmware(e.ID, bios, efi, func(f File) {
			m.line("kernel", m.bigURL(f.Path), orFail)
			m.line("boot", orFail)
		})
	case KindWDS:
		m.line("echo", "Booting", e.Title, "over TFTP")
		bios, efi := variants(e)
		m.byFirmware(e.ID, bios, efi, func(f File) {
			// The Windows boot program finds its folder in the
			// filename of the DHCP packets iPXE hands it (iPXE
			// src/net/fakedhcp.c: the ProxyDHCP packet when there is
			// one), then asks for \Boot\BCD at the top.
			win := strings.ReplaceAll(f.Path, "/", `\`)
			m.line("set", "netX/filename", win)
			m.line("isset", "${proxydhcp/next-server}", "&&", "set", "proxydhcp/filename", win, "||")
			m.line("chain", m.tftpURL(f.Path), orFail)
		})
	case KindWDSServer:
		m.line("echo", "Handing over to Windows Deployment Services at", e.Server)
		bios := File{Role: RoleBIOS, Path: `boot\x86\wdsnbp.com`}
		efi := File{Role: RoleEFI, Path: `boot\x64\wdsmgfw.efi`}
		m.byFirmware(e.ID, &bios, &efi, func(f File) {
			// wdsnbp.com and wdsmgfw.efi talk to the server in the
			// next-server and filename of the packets iPXE hands them:
			// point both the lease's and the ProxyDHCP copy there.
			m.line("set", "netX/next-server", e.Server)
			m.line("set", "netX/filename", f.Path)
			m.line("isset", "${proxydhcp/next-server}", "&&", "set", "proxydhcp/next-server", e.Server, "||")
			m.line("isset", "${proxydhcp/next-server}", "&&", "set", "proxydhcp/filename", f.Path, "||")
			m.line("chain", "tftp://"+e.Server+"/"+f.Path, orFail)
		})
	case KindLocal:
		m.line("echo", "Booting from local disk...")
		// UEFI: leaving iPXE hands control back to the firmware boot
		// manager, which tries the next boot entry. BIOS: hand over to
		// the first hard disk; if there is none (or it is not
		// bootable), "exit" lets the BIOS try its next device.
		m.line("iseq", "${platform}", "efi", "&&", "exit", "||")
		m.line("sanboot", "--no-describe", "--drive", "0x80", "||", "exit")
	case KindShell:
		m.line("echo", `Type "exit" to return to the menu.`)
		m.line("shell")
		m.line("goto", labelMenu)
	case KindConfig:
		m.line("config")
		m.line("goto", labelMenu)
	case KindReboot:
		m.line("reboot")
	}
}

// byFirmware writes the commands for the BIOS file and the x86-64 UEFI
// file of entry id (nil: none), choosing by iPXE's ${platform} and
// ${buildarch}; a client for which there is no file goes to the
// "unsupported" label.
func (m *menu) byFirmware(id string, bios, efi *File, boot func(File)) {
	efiLabel := id + "/efi"
	if bios != nil {
		m.line("iseq", "${platform}", "efi", "&&", "goto", efiLabel, "||")
		boot(*bios)
	} else {
		m.line("iseq", "${platform}", "efi", "||", "goto", labelUnsupported)
	}
	m.line(":" + efiLabel)
	if efi == nil {
		m.line("goto", labelUnsupported)
		return
	}
	m.line("iseq", "${buildarch}", "x86_64", "||", "goto", labelUnsupported)
	boot(*efi)
}

// variants returns e's BIOS and UEFI files, nil when missing.
func variants(e Entry) (bios, efi *File) {
	if f, ok := e.file(RoleBIOS); ok {
		bios = &f
	}
	if f, ok := e.file(RoleEFI); ok {
		efi = &f
	}
	return bios, efi
}
