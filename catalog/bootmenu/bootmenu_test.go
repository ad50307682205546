package bootmenu

import (
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/bootfs"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
	"github.com/pxeproxy/pxeproxy/internal/testtree"
)

// fakeClock is a settable time for Maker.now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// countingFS counts the listings of the top folder: one per scan.
type countingFS struct {
	fs.ReadDirFS
	scans *atomic.Int64
}

func (c countingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name == "." {
		c.scans.Add(1)
	}
	return c.ReadDirFS.ReadDir(name)
}

// menuFixture is the wiring of serve: an admin folder and a defaults
// folder (holding a stale boot.ipxe) opened with the menu's generated
// names, the maker on a fake clock, its log.
type menuFixture struct {
	admin, defaults string
	root            *bootfs.Root
	maker           *Maker
	clock           *fakeClock
	scans           atomic.Int64
	logs            *testlog.Buffer
}

// testConfig is the menu's settings at their defaults (PXE_MENU_*).
var testConfig = Config{Timeout: 30 * time.Second, Default: "local"}

func newMenuFixture(t *testing.T, cfg Config) *menuFixture {
	t.Helper()
	f := &menuFixture{admin: t.TempDir(), defaults: t.TempDir(), logs: &testlog.Buffer{},
		clock: &fakeClock{t: time.Unix(1e9, 0)}}
	testtree.Write(t, f.defaults, "undionly.kpxe", "kpxe")
	testtree.Write(t, f.defaults, "boot.ipxe", "#!ipxe\necho an old built-in menu\n")
	testtree.Write(t, f.defaults, "memtest/memtest86+x64.bin", "bin")
	testtree.Write(t, f.defaults, "memtest/memtest86+x64.efi", "efi")
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	f.maker = New(cfg, log)
	f.maker.now = f.clock.now
	var err error
	gen := f.maker.Files()
	for name, g := range gen {
		gen[name] = func(fsys fs.FS) ([]byte, error) { return g(countingFS{fsys.(fs.ReadDirFS), &f.scans}) }
	}
	f.root, _, err = bootfs.Open(bootfs.Folder{Path: f.admin}, bootfs.Folder{Path: f.defaults}, gen, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.root.Close() })
	return f
}

// get returns what a client asking for name gets.
func (f *menuFixture) get(t *testing.T, name string) string {
	t.Helper()
	file, err := f.root.Open(name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer file.Close()
	b, err := io.ReadAll(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const menuMark = "# pxeproxy boot catalogue"

func TestMenuServedFromFolder(t *testing.T) {
	f := newMenuFixture(t, testConfig)
	for _, name := range []string{"boot.ipxe", "/BOOT.IPXE", "pxeproxy-menu.ipxe"} {
		if got := f.get(t, name); !strings.Contains(got, menuMark) || !strings.Contains(got, "item memtest ") {
			t.Fatalf("%s: not the generated menu with the built-in memtest:\n%s", name, got)
		}
	}
	// An image copied in shows up once the last scan is a second old.
	testtree.Write(t, f.admin, "linux/debian-12/linux", "kernel")
	testtree.Write(t, f.admin, "linux/debian-12/initrd.gz", "initrd")
	if got := f.get(t, "boot.ipxe"); strings.Contains(got, "linux-debian-12") {
		t.Fatal("scanned again within a second")
	}
	f.clock.add(menuMaxAge)
	if got := f.get(t, "boot.ipxe"); !strings.Contains(got, "item linux-debian-12 ") {
		t.Fatalf("new image not in the menu:\n%s", got)
	}
	// The admin's own boot.ipxe wins; the stable name stays the catalogue.
	testtree.Write(t, f.admin, "boot.ipxe", "#!ipxe\nchain pxeproxy-menu.ipxe\n")
	if got := f.get(t, "boot.ipxe"); got != "#!ipxe\nchain pxeproxy-menu.ipxe\n" {
		t.Fatalf("admin's boot.ipxe not served: %q", got)
	}
	if got := f.get(t, "pxeproxy-menu.ipxe"); !strings.Contains(got, menuMark) {
		t.Fatalf("stable name lost the menu: %q", got)
	}
}

func TestMenuSettings(t *testing.T) {
	with := func(change func(c *Config)) Config { c := testConfig; change(&c); return c }
	cases := map[string]struct {
		cfg  Config
		want []string
	}{
		"defaults": {testConfig, []string{"set pxeproxy-timeout 30000\n", "set pxeproxy-default local\n",
			"kernel /memtest/memtest86%2Bx64.bin"}},
		"forever": {with(func(c *Config) { c.Timeout = 0 }), []string{"set pxeproxy-timeout 0\n"}},
		"default entry": {with(func(c *Config) { c.Default, c.Timeout = "memtest", 2*time.Second }),
			[]string{"set pxeproxy-timeout 2000\n", "set pxeproxy-default memtest\n"}},
		"unknown default boots local": {with(func(c *Config) { c.Default = "linux-later" }),
			[]string{"set pxeproxy-default local\n"}},
		"wds server": {with(func(c *Config) { c.WDSServer = net.IPv4(192, 0, 2, 50).To4() }),
			[]string{"item wds-server ", "chain tftp://192.0.2.50/boot\\x64\\wdsmgfw.efi"}},
		"http": {with(func(c *Config) { c.HTTPAddr = ":4011" }),
			[]string{"set pxeproxy-http http://${pxeproxy-server}:4011\n", "kernel ${pxeproxy-http}/memtest/memtest86%2Bx64.bin"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := newMenuFixture(t, c.cfg).get(t, "boot.ipxe")
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("menu lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestMenuHTTPBase(t *testing.T) {
	ip := func(s string) net.IP { return net.ParseIP(s).To4() }
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"off":                       {Config{}, ""},
		"wildcard":                  {Config{HTTPAddr: ":4011"}, "http://${pxeproxy-server}:4011"},
		"wildcard v4":               {Config{HTTPAddr: "0.0.0.0:4011"}, "http://${pxeproxy-server}:4011"},
		"one address":               {Config{HTTPAddr: "10.0.0.5:4011"}, "http://10.0.0.5:4011"},
		"loopback":                  {Config{HTTPAddr: "127.0.0.1:4011"}, ""},
		"ipv6 address":              {Config{HTTPAddr: "[2001:db8::5]:4011"}, "http://[2001:db8::5]:4011"},
		"other boot server":         {Config{HTTPAddr: ":4011", BootServer: ip("10.0.0.9")}, ""},
		"other boot server, our ip": {Config{HTTPAddr: ":4011", BootServer: ip("10.0.0.9"), ServerIP: ip("10.0.0.5")}, "http://10.0.0.5:4011"},
	}
	for name, c := range cases {
		if got := HTTPBase(c.cfg); got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
}

// TestMenuFlood: a flood of menu requests, all at once and then in
// sequence, costs one scan of the folder per second, not one per request.
func TestMenuFlood(t *testing.T) {
	f := newMenuFixture(t, testConfig)
	var wg sync.WaitGroup
	for range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if file, err := f.root.Open("boot.ipxe"); err == nil {
				file.Close()
			} else {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.scans.Load(); n != 1 {
		t.Fatalf("500 requests at once: %d scans, want 1", n)
	}
	for i := range 100 {
		f.clock.add(menuMaxAge / 10)
		f.get(t, "pxeproxy-menu.ipxe")
		if n, want := f.scans.Load(), int64(1+(i+1)/10); n != want {
			t.Fatalf("after %d requests over %s: %d scans, want %d", 500+i+1, time.Duration(i+1)*menuMaxAge/10, n, want)
		}
	}
}

// TestMenuSkipLogBounded: a name the catalogue leaves out is logged when
// it appears, not on every scan, and one scan logs a bounded number of
// lines however many names it leaves out.
func TestMenuSkipLogBounded(t *testing.T) {
	f := newMenuFixture(t, testConfig)
	testtree.Write(t, f.admin, "linux/bad/vmlinuz", "k")
	testtree.Write(t, f.admin, "linux/bad/cmdline.txt", "quiet ; reboot")
	lines := func() int { return strings.Count(f.logs.String(), "boot menu: left out") }
	for range 20 {
		f.clock.add(menuMaxAge)
		f.get(t, "boot.ipxe")
	}
	if n := lines(); n != 1 {
		t.Fatalf("one bad entry over 20 scans: %d lines, want 1\n%s", n, f.logs.String())
	}
	for i := range 3 * maxSkipLines {
		testtree.Write(t, f.admin, "win/"+strings.Repeat("x", i+1)+"/boot.wim", "w") // no wimboot: left out
	}
	f.clock.add(menuMaxAge)
	f.get(t, "boot.ipxe")
	if n := lines(); n != 1+maxSkipLines {
		t.Fatalf("%d new names left out: %d lines, want %d", 3*maxSkipLines, n-1, maxSkipLines)
	}
	if !strings.Contains(f.logs.String(), "more names left out") {
		t.Fatal("no summary line for the names not logged")
	}
}

func TestMenuStartWarnings(t *testing.T) {
	cases := map[string]struct {
		def  string
		warn string
	}{
		"local":            {"local", ""},
		"built-in memtest": {"memtest", ""},
		"not there yet":    {"linux-debian-12", `PXE_MENU_DEFAULT names no entry of the boot menu (yet)`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig
			cfg.Default = c.def
			f := newMenuFixture(t, cfg)
			f.maker.LogStart(f.root.FS())
			logs := f.logs.String()
			if !strings.Contains(logs, `msg="boot menu entries" svc=menu count=5 ids="[memtest local shell config reboot]"`) {
				t.Errorf("no entries line:\n%s", logs)
			}
			if got := strings.Contains(logs, "level=WARN"); got != (c.warn != "") || !strings.Contains(logs, c.warn) {
				t.Errorf("warnings: want %q in\n%s", c.warn, logs)
			}
		})
	}
}
