package journal

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pxeproxy/pxeproxy/internal/browsertest"
)

func hw(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// seedScreenshot records finished journeys of several kinds, ending a few
// minutes before now, so the page shows each kind of verdict.
func seedScreenshot(j *Journal, offset *atomic.Int64) {
	step := func(d time.Duration) { offset.Add(int64(d)) }
	offset.Store(int64(-12 * time.Minute))
	srv := ip("192.168.50.1")

	// A Dell UEFI laptop boots Debian through iPXE.
	dell := hw("b8:ca:3a:41:7e:02")
	j.Discover(Discover{MAC: dell, Port: PortDHCP, Arch: 7, Vendor: pxeVendor, Iface: "eth0"})
	j.Reply(Reply{MAC: dell, Port: PortDHCP, File: "snponly.efi", Server: srv})
	j.Discover(Discover{MAC: dell, Port: PortPXE, Arch: 7, Vendor: pxeVendor, ClientIP: ip("192.168.50.31")})
	j.Reply(Reply{MAC: dell, Port: PortPXE, File: "snponly.efi", Server: srv})
	for _, f := range []struct {
		proto, name string
		size        int64
	}{{"tftp", "snponly.efi", 214_016}, {"http", "/boot.ipxe", 412}, {"http", "/debian/linux", 8_452_096}, {"http", "/debian/initrd.gz", 31_337_210}} {
		if f.name == "/boot.ipxe" {
			j.Discover(Discover{MAC: dell, Port: PortDHCP, Arch: 7, Vendor: pxeVendor, IPXE: true})
			j.Reply(Reply{MAC: dell, Port: PortDHCP, File: "http://192.168.50.1:8080/boot.ipxe", Server: srv})
		}
		tr := j.StartTransfer(TransferStart{Proto: f.proto, Peer: ap("192.168.50.31:1024"), File: f.name, Size: f.size, BlockSize: 1468, WindowSize: 4})
		step(1500 * time.Millisecond)
		tr.Progress(f.size, 0)
		tr.End(ResultOK, "")
	}

	// An HP desktop with Secure Boot on refuses the unsigned iPXE.
	step(time.Minute)
	hp := hw("3c:52:82:5a:10:c4")
	j.Discover(Discover{MAC: hp, Port: PortDHCP, Arch: 7, Vendor: pxeVendor, Iface: "eth0"})
	j.Reply(Reply{MAC: hp, Port: PortDHCP, File: "snponly.efi", Server: srv})
	j.Join(hp, ip("192.168.50.44"), ViaSiteReply)
	tr := j.StartTransfer(TransferStart{Proto: "tftp", Peer: ap("192.168.50.44:1025"), File: "snponly.efi", Size: 214_016, BlockSize: 1468, WindowSize: 4})
	step(400 * time.Millisecond)
	tr.Progress(214_016, 0)
	tr.End(ResultOK, "")
	step(3 * time.Second)
	j.Discover(Discover{MAC: hp, Port: PortDHCP6, Arch: 7, Vendor: pxeVendor})

	// A Lenovo BIOS machine takes another ProxyDHCP's offer.
	step(time.Minute)
	lenovo := hw("98:fa:9b:0c:22:5e")
	j.Discover(Discover{MAC: lenovo, Port: PortDHCP, Arch: 0, Vendor: biosVendor, Iface: "eth0"})
	j.Reply(Reply{MAC: lenovo, Port: PortDHCP, File: "undionly.kpxe", Server: srv})
	j.Conflict(Conflict{MAC: lenovo, Server: ip("192.168.50.9"), What: "proxydhcp", File: "pxelinux.0"})

	// A Windows client behind a relay asks for a BCD that is not there.
	step(time.Minute)
	win := hw("00:15:5d:02:7a:11")
	j.Discover(Discover{MAC: win, Port: PortDHCP, Arch: 0, Vendor: biosVendor, Relay: ip("10.20.0.1")})
	j.Reply(Reply{MAC: win, Port: PortDHCP, File: `boot\x64\wdsnbp.com`, Server: srv})
	j.Join(win, ip("10.20.0.57"), ViaPXERequest)
	tr = j.StartTransfer(TransferStart{Proto: "tftp", Peer: ap("10.20.0.57:2001"), File: `boot\x64\wdsnbp.com`, Size: 30_832})
	tr.Progress(30_832, 0)
	tr.End(ResultOK, "")
	j.StartTransfer(TransferStart{Proto: "tftp", Peer: ap("10.20.0.57:2002"), File: `\Boot\BCD.bak`}).End(ResultNotFound, "")

	// A Raspberry Pi (ARM64) has no boot file, and a denied MAC.
	step(time.Minute)
	pi := hw("dc:a6:32:8e:01:9f")
	j.Discover(Discover{MAC: pi, Port: PortDHCP, Arch: 11, Vendor: "PXEClient:Arch:00011:UNDI:003000", Iface: "eth0"})
	j.Reply(Reply{MAC: pi, Port: PortDHCP, Reason: ReasonNoBootFile})
	denied := hw("00:0c:29:3f:aa:01")
	j.Discover(Discover{MAC: denied, Port: PortDHCP, Arch: 7, Vendor: pxeVendor, Iface: "eth0"})
	j.Reply(Reply{MAC: denied, Port: PortDHCP, Reason: ReasonDenied})

	// A client whose file name is markup: the page must show it as text.
	step(time.Minute)
	evil := hw("00:1b:21:66:66:66")
	j.Discover(Discover{MAC: evil, Port: PortDHCP, Arch: 0, Vendor: `<b id=pwn>PXEClient</b>`, Iface: "eth0"})
	j.Reply(Reply{MAC: evil, Port: PortDHCP, Reason: `<img src=x onerror="document.title='pwned'">`})
	offset.Store(0)
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestBrowser drives headless Chromium against the page while a client
// boots: its row appears, its progress bar moves, its verdict turns booted.
func TestBrowser(t *testing.T) {
	bin := browsertest.Find()
	if bin == "" {
		t.Skip("no Chromium found (apt-get install chromium, or set PXE_CHROMIUM): the real-browser test is skipped")
	}
	var offset atomic.Int64
	j := New(Config{
		StreamInterval: 100 * time.Millisecond,
		Now:            func() time.Time { return time.Now().Add(time.Duration(offset.Load())) },
		Names: func() []string {
			return []string{"Boot/BCD", "Boot/boot.sdi", "boot/x64/wdsnbp.com", "snponly.efi", "undionly.kpxe"}
		},
		Image: func(name string) (Image, bool) {
			switch name {
			case "snponly.efi":
				return Image{EFI: true, Machine: 0x8664}, true
			case "undionly.kpxe":
				return Image{}, true
			}
			return Image{}, false
		},
	}, nil)
	seedScreenshot(j, &offset)
	srv := httptest.NewServer(j.Handler()) // 127.0.0.1
	// Closed after Chromium stops (cleanups run last first): Close waits for
	// the page's open event stream.
	t.Cleanup(srv.Close)

	ctx := browsertest.Start(t, bin, 1500, 820, 90*time.Second)

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll := func(what, expr string) {
		t.Helper()
		do(what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second)))
	}
	evalInt := func(expr string) int { t.Helper(); return evaluate[int](t, ctx, expr) }
	evalString := func(expr string) string { t.Helper(); return evaluate[string](t, ctx, expr) }

	const id = "52:54:00:12:34:56"
	row := `tr[data-id="` + id + `"]`
	do("open the page", chromedp.EmulateViewport(1500, 820), chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#conn.live`)))

	// The client asks to boot: its row appears.
	m := hw(id)
	j.Discover(Discover{MAC: m, Port: PortDHCP, Arch: 0, Vendor: biosVendor, Iface: "eth0"})
	j.Reply(Reply{MAC: m, Port: PortDHCP, File: "undionly.kpxe", Server: ip("192.168.50.1")})
	j.Join(m, ip("192.168.50.60"), ViaSiteReply)
	do("row", chromedp.WaitVisible(chromedp.CSS(row)))
	if state := evalString(`document.querySelector('` + row + ` td.state').textContent`); state != string(StateInProgress) {
		t.Fatalf("state %q", state)
	}

	// Its download runs: the progress bar moves.
	tr := j.StartTransfer(TransferStart{Proto: "tftp", Peer: ap("192.168.50.60:2070"), File: "undionly.kpxe", Size: 1_000_000, BlockSize: 1468})
	width := func(want float64) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const f = document.querySelector('%s .fill'); return f !== null && parseFloat(f.style.width) === %g; })()`, row, want)
		if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			got := evalString(`(document.querySelector('` + row + ` .fill') || {style: {}}).style.width || "none"`)
			t.Fatalf("progress bar at %q, want %g%%: %v", got, want, err)
		}
	}
	tr.Progress(200_000, 0)
	width(20)
	tr.Progress(650_000, 1)
	width(65)

	// The detail view follows the client.
	do("detail", chromedp.Click(chromedp.CSS(row)), chromedp.WaitVisible(chromedp.CSS(`#detail`)))
	poll("timeline", `document.querySelectorAll('#timeline tbody tr').length >= 4`)

	// It finishes, iPXE comes back and fetches its script: booted.
	tr.Progress(1_000_000, 1)
	tr.End(ResultOK, "")
	poll("image in the timeline", `document.querySelector('#timeline').textContent.includes("not an EFI executable")`)
	time.Sleep(700 * time.Millisecond)
	j.Discover(Discover{MAC: m, Port: PortDHCP, Arch: 0, Vendor: biosVendor, IPXE: true})
	j.Reply(Reply{MAC: m, Port: PortDHCP, File: "http://192.168.50.1:8080/boot.ipxe", Server: ip("192.168.50.1")})
	tr = j.StartTransfer(TransferStart{Proto: "http", Peer: ap("192.168.50.60:49152"), File: "/boot.ipxe", Size: 412})
	tr.Progress(412, 0)
	tr.End(ResultOK, "")
	poll("verdict booted", fmt.Sprintf(`document.querySelector('%s td.state').textContent === "booted"`, row))
	poll("detail verdict", `document.querySelector('#dverdict').textContent.includes("Booted in")`)
	t.Logf("verdict: %s", evalString(`document.querySelector('`+row+` td.verdict').textContent`))

	// LAN data stays text: no element or script came from it.
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if n := evalInt(`document.querySelectorAll('img, #pwn').length`); title == "pwned" || n != 0 {
		t.Fatalf("markup from the LAN was rendered: title %q, %d elements", title, n)
	}

	// The filter narrows the table.
	// The page filters on its next animation frame, not within the key
	// event: wait for it.
	do("filter", chromedp.SendKeys(chromedp.CSS(`#filter`), "secure"))
	shown := `[...document.querySelectorAll('#clients tbody tr')].filter(r => !r.hidden).length`
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](shown+` === 1`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("%d rows match 'secure', want 1: %v", evalInt(shown), err)
	}

	// Clear the filter, show a running download next to the finished
	// journeys and take the picture.
	m2 := hw("52:54:00:ab:cd:07")
	j.Discover(Discover{MAC: m2, Port: PortDHCP, Arch: 7, Vendor: pxeVendor, Iface: "eth0"})
	j.Reply(Reply{MAC: m2, Port: PortDHCP, File: "snponly.efi", Server: ip("192.168.50.1")})
	j.Join(m2, ip("192.168.50.61"), ViaSiteReply)
	tr2 := j.StartTransfer(TransferStart{Proto: "tftp", Peer: ap("192.168.50.61:2071"), File: "snponly.efi", Size: 214_016, BlockSize: 1468, WindowSize: 4})
	tr2.Progress(131_072, 0)
	do("clear filter", chromedp.Evaluate[chromedp.Void](`(() => { const f = document.getElementById("filter"); f.value = ""; f.dispatchEvent(new Event("input")); })()`))
	poll("all rows", `[...document.querySelectorAll('#clients tbody tr')].filter(r => !r.hidden).length === 9`)
	poll("second bar", `document.querySelector('tr[data-id="52:54:00:ab:cd:07"] .fill') !== null`)
	do("settle", chromedp.Sleep(300*time.Millisecond))
	do("move the mouse away", chromedp.MouseClickXY(1490, 815))
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// docs/journeys.png comes from the e2e scenario browser (a live boot),
	// not from these made-up clients.
	out := filepath.Join(t.TempDir(), "journeys.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))

	// The server's clock an hour behind the browser's: a client active just
	// now still reads "0 s ago", measured on the server's clock.
	offset.Store(int64(-time.Hour))
	m3 := hw("52:54:00:ab:cd:08")
	j.Discover(Discover{MAC: m3, Port: PortDHCP, Arch: 7, Vendor: pxeVendor, Iface: "eth0"})
	last := `document.querySelector('tr[data-id="52:54:00:ab:cd:08"] td.last')`
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](last+` !== null && /^[0-4] s ago$/.test(`+last+`.textContent)`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("last activity with the server's clock an hour behind: %q: %v",
			evalString(`(`+last+` || {textContent: "no row"}).textContent`), err)
	}
}

// evaluate runs the JavaScript expression expr in the page and returns its
// value; the test fails when it throws or is not a T.
func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}
