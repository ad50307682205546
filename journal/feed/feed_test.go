package feed

import (
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/pxeproxy/pxeproxy/conflict"
	"github.com/pxeproxy/pxeproxy/httpd"
	"github.com/pxeproxy/pxeproxy/journal"
	"github.com/pxeproxy/pxeproxy/proxy"
	"github.com/pxeproxy/pxeproxy/tftpd"
)

// testJourneys is the adapter over a fresh journal, with the neighbour
// table read from arp (a /proc/net/arp body without its header).
func testJourneys(t *testing.T, arp string) *Feed {
	t.Helper()
	path := filepath.Join(t.TempDir(), "arp")
	if err := os.WriteFile(path, []byte("IP address       HW type     Flags       HW address            Mask     Device\n"+arp), 0o644); err != nil {
		t.Fatal(err)
	}
	return New(Config{Clients: 10, ARPPath: path}, slog.New(slog.DiscardHandler))
}

// timeline renders a client's events as "kind detail" words.
func timeline(t *testing.T, jw *Feed, id string) (journal.ClientDetail, string) {
	t.Helper()
	c, ok := jw.j.Client(id)
	if !ok {
		t.Fatalf("no client %s", id)
	}
	var out []string
	for _, e := range c.Timeline {
		w := string(e.Kind)
		switch e.Kind {
		case journal.KindDiscover:
			w += " " + strconv.Itoa(e.Port) + " " + e.UUID
		case journal.KindReply:
			w += " " + e.File
		case journal.KindIgnored:
			w += " " + e.Reason
		case journal.KindJoin:
			w += " " + e.IP.String() + " " + e.Via
		case journal.KindConflict:
			w += " " + e.Server.String() + " " + e.What + " " + e.File
		case journal.KindTransfer:
			w += " " + e.Proto + " " + e.File + " " + string(e.Result)
		}
		out = append(out, w)
	}
	return c, strings.Join(out, "; ")
}

func httpdStart(peer, file string) httpd.Start {
	return httpd.Start{Peer: netip.MustParseAddrPort(peer), File: file}
}

// TestJourneysAdapter drives one client through every hook the services
// call and reads its journey back.
func TestJourneysAdapter(t *testing.T) {
	jw := testJourneys(t, "10.0.0.60 0x1 0x2 52:54:00:00:00:60 * eth1\n")
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	uuid := append([]byte{0}, []byte("0123456789abcdef")...)
	server := netip.MustParseAddr("10.0.0.1")
	jw.Request(proxy.Seen{MAC: mac, Port: proxy.PortDHCP, Type: dhcpv4.MessageTypeDiscover, Arch: 7, HasArch: true,
		Vendor: []byte("PXEClient:Arch:00007:UNDI:003016"), UUID: uuid, Iface: "eth1", File: "snponly.efi", Server: server})
	// The lease REQUEST to the site's server: a join, nothing else.
	jw.Request(proxy.Seen{MAC: mac, Port: proxy.PortDHCP, Type: dhcpv4.MessageTypeRequest, Arch: 7, HasArch: true,
		Requested: netip.MustParseAddr("10.0.0.50"), Iface: "eth1", Reason: "message-type"})
	jw.Conflict(conflict.Finding{MAC: mac, Server: net.IPv4(10, 0, 0, 9), Kind: conflict.KindProxy, File: "other.efi"})
	jw.Lease(mac, netip.MustParseAddr("10.0.0.51"))
	w := jw.StartTFTP(tftpd.Start{Peer: netip.MustParseAddrPort("10.0.0.51:2000"), File: "snponly.efi", Size: 100, BlockSize: 1468, WindowSize: 4})
	if w == nil {
		t.Fatal("no watch for a transfer")
	}
	w.Progress(100, 0)
	w.End(tftpd.ResultOK, "")

	c, got := timeline(t, jw, mac.String())
	want := "discover 67 33323130-3534-3736-3839-616263646566; reply snponly.efi; join 10.0.0.50 dhcp-request; " +
		"conflict 10.0.0.9 second-proxydhcp other.efi; join 10.0.0.51 site-reply; transfer tftp snponly.efi ok"
	if got != want {
		t.Fatalf("timeline\n got %s\nwant %s", got, want)
	}
	if c.IP.String() != "10.0.0.51" {
		t.Errorf("ip %s, want 10.0.0.51", c.IP)
	}

	// A peer no journey holds, whose MAC the kernel knows: a journey keyed
	// by that MAC, joined.
	jw.StartHTTP(httpdStart("10.0.0.60:3000", "/boot.ipxe")).End("ok", "")
	if c, _ := timeline(t, jw, "52:54:00:00:00:60"); c.IP.String() != "10.0.0.60" {
		t.Errorf("neighbour join: %+v", c.Client)
	}
	// A relayed peer: no MAC, a journey keyed by the address.
	jw.StartHTTP(httpdStart("10.9.0.7:3000", "/boot.ipxe")).End("not-found", "no such file")
	if c, got := timeline(t, jw, "10.9.0.7"); c.MAC != "" || got != "transfer http /boot.ipxe not-found" {
		t.Errorf("relayed peer: %+v %s", c.Client, got)
	}
}

func TestGUID(t *testing.T) {
	g := []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	for name, c := range map[string]struct {
		in   []byte
		want string
	}{
		"type 0 and 16 bytes": {append([]byte{0}, g...), "33221100-5544-7766-8899-aabbccddeeff"},
		"16 bytes":            {g, "33221100-5544-7766-8899-aabbccddeeff"},
		// QEMU's -uuid e2e00000-0000-4000-8000-... as OVMF sent it (e2e browser scenario).
		"as qemu's smbios": {[]byte{0, 0, 0, 0xe0, 0xe2, 0, 0, 0, 0x40, 0x80, 0, 0, 0, 0, 0, 0, 1}, "e2e00000-0000-4000-8000-000000000001"},
		"other type":       {append([]byte{1}, g...), ""},
		"short":            {g[:15], ""},
		"none":             {nil, ""},
	} {
		if got := guid(c.in); got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
}
