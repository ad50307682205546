// Package bootmenu puts the boot catalogue (package catalog) into the boot
// folder: iPXE clients get a menu generated from what the folder holds, made
// again when a client asks, so an image copied in shows up at the next boot.
// A flood of requests costs at most one scan of the folder a second.
package bootmenu

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/pxeproxy/pxeproxy/bootfs"
	"github.com/pxeproxy/pxeproxy/catalog"
)

// Names under which the boot folder serves the generated menu. MenuName is
// the stable one an admin's own boot.ipxe can chain to; BootName is what
// iPXE clients ask for by default (PXE_IPXE_SCRIPT). Each is generated
// only when the admin's folder has no file of that name (bootfs.Config).
const (
	MenuName = "pxeproxy-menu.ipxe"
	BootName = "boot.ipxe"
)

// menuMaxAge is how long one scan of the folder serves requests: a flood
// of menu requests costs at most one scan a second.
const menuMaxAge = time.Second

// maxSkipLines bounds the log lines of one scan about names left out.
const maxSkipLines = 20

// Config is what the menu offers and where it sends clients.
type Config struct {
	// Timeout is how long the menu waits for a key before it boots
	// Default; 0: it waits for ever.
	Timeout time.Duration
	// Default is the stable id of the default entry.
	Default string
	// WDSServer, when set, adds an entry that hands clients to it.
	WDSServer net.IP
	// HTTPAddr is our HTTP listener's address ("": none), where the menu
	// sends clients for big files when clients can reach it.
	HTTPAddr string
	// BootServer is the other server the ProxyDHCP offer names (nil:
	// ourselves), and ServerIP the address we advertise (nil: the ingress
	// address): they decide the host of the HTTP URLs (HTTPBase).
	BootServer, ServerIP net.IP
}

// Maker builds the boot menu from the boot folder, at most once per
// menuMaxAge; concurrent requests wait for the one scan under way.
type Maker struct {
	scan catalog.ScanOptions
	opt  catalog.Options
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	at      time.Time
	menu    []byte
	err     error
	skipped map[string]string // path -> reason, of the last scan
}

// New returns a Maker; it lists the folder it is given by the boot folder
// (Files) or at start (LogStart).
func New(cfg Config, log *slog.Logger) *Maker {
	var scan catalog.ScanOptions
	if cfg.WDSServer != nil {
		scan.WDSServer = cfg.WDSServer.String()
	}
	t := cfg.Timeout
	if t == 0 {
		t = -1 // wait for a key for ever (catalog: negative)
	}
	return &Maker{scan: scan, opt: catalog.Options{Timeout: t, Default: cfg.Default, HTTPBase: HTTPBase(cfg)},
		log: log, now: time.Now}
}

// HTTPBase is where the menu sends clients for big files: our own HTTP
// listener when it is on and reachable, "" (TFTP, or whatever served the
// menu: its paths are relative) otherwise. A wildcard listener is reached
// at the address the ProxyDHCP offer named (catalog.ServerExpr), except
// with PXE_BOOT_SERVER, where that is the other server: then
// PXE_SERVER_IP, or relative paths.
func HTTPBase(cfg Config) string {
	if cfg.HTTPAddr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return ""
	}
	ip := net.ParseIP(host)
	switch {
	case ip != nil && ip.IsLoopback():
		return "" // no client can reach it
	case ip != nil && !ip.IsUnspecified():
		host = ip.String()
	case cfg.BootServer != nil && cfg.ServerIP != nil:
		host = cfg.ServerIP.String()
	case cfg.BootServer != nil:
		return ""
	default:
		host = catalog.ServerExpr
	}
	base := "http://" + net.JoinHostPort(host, port)
	if (catalog.Options{HTTPBase: base}).Check() != nil {
		return "" // not an address iPXE can parse: relative paths instead
	}
	return base
}

// Files are the generated names of the boot folder (bootfs.Config).
func (m *Maker) Files() map[string]bootfs.Generator {
	return map[string]bootfs.Generator{MenuName: m.make, BootName: m.make}
}

// make returns the menu, scanning the folder when the last scan is older
// than menuMaxAge.
func (m *Maker) make(fsys fs.FS) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if age := now.Sub(m.at); !m.at.IsZero() && age >= 0 && age < menuMaxAge {
		return m.menu, m.err
	}
	m.at = now
	m.menu, m.err = nil, nil
	entries, err := m.entries(fsys)
	if err != nil {
		m.err = fmt.Errorf("boot menu: %w", err)
		return nil, m.err
	}
	m.menu = catalog.Menu(entries, m.opt)
	return m.menu, nil
}

// entries scans the folder and logs the names it left out that the last
// scan did not: a log line per change of the folder, not per request.
func (m *Maker) entries(fsys fs.FS) ([]catalog.Entry, error) {
	skipped := map[string]string{}
	opt := m.scan
	opt.OnSkip = func(path, reason string) { skipped[path] = reason }
	entries, err := catalog.Scan(fsys, opt)
	if err != nil {
		return nil, err
	}
	var fresh []string
	for p, r := range skipped {
		if old, ok := m.skipped[p]; !ok || old != r {
			fresh = append(fresh, p)
		}
	}
	sort.Strings(fresh)
	for i, p := range fresh {
		if i == maxSkipLines {
			m.log.Warn("boot menu: more names left out", "svc", "menu", "count", len(fresh)-i)
			break
		}
		m.log.Warn("boot menu: left out", "svc", "menu", "file", p, "reason", skipped[p])
	}
	m.skipped = skipped
	return entries, nil
}

// LogStart scans the boot folder once at start and logs the menu's settings,
// and a warning when PXE_MENU_DEFAULT names no entry the menu can boot. An
// entry may appear later (an image copied in): a warning, not an error.
func (m *Maker) LogStart(fsys fs.FS) {
	m.mu.Lock()
	defer m.mu.Unlock()
	timeout := m.opt.Timeout.String()
	if m.opt.Timeout < 0 {
		timeout = "none"
	}
	m.log.Info("boot menu", "svc", "menu", "files", []string{BootName, MenuName}, "default", m.opt.Default,
		"timeout", timeout, "http", m.opt.HTTPBase, "wds_server", m.scan.WDSServer)
	es, err := m.entries(fsys)
	if err != nil {
		m.log.Warn("boot menu: cannot list the boot folder yet", "svc", "menu", "err", err)
		return
	}
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	m.log.Info("boot menu entries", "svc", "menu", "count", len(es), "ids", ids)
	e, ok := catalog.Lookup(es, m.opt.Default)
	switch {
	case !ok:
		m.log.Warn("PXE_MENU_DEFAULT names no entry of the boot menu (yet): the menu boots the local disk after the timeout until one appears",
			"svc", "menu", "default", m.opt.Default)
	case e.Kind == catalog.KindISO && m.opt.HTTPBase == "":
		m.log.Warn("PXE_MENU_DEFAULT is an ISO image, which boots only over HTTP (PXE_HTTP_ADDR): the menu boots the local disk instead",
			"svc", "menu", "default", m.opt.Default)
	}
}
