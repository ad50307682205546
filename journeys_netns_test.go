package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/pxeproxy/pxeproxy/internal/netnstest"
	"github.com/pxeproxy/pxeproxy/journal"
)

// TestServeJourneys runs the whole program in a private namespace and boots
// a client the way UEFI firmware and iPXE do, from a client namespace: a
// PXE DISCOVER, the port-4011 request, a TFTP download of the boot file, a
// second-stage iPXE DISCOVER and its script. The API must show one journey
// with the MAC and IP joined, its events in order and the verdict booted; a
// refused MAC reads refused; the lease REQUEST on 67 and the site server's
// ACK on 68 join MAC and IP passively; metrics and `pxeproxy clients` show
// the same. A BIOS client, which sends no 4011 request, is joined to its
// TFTP download through the kernel's neighbour table.
func TestServeJourneys(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	lan := netnstest.Netns(t, "10.74.0.1/24", "10.74.0.50/24")
	bios := netnstest.Netns(t, "10.75.0.1/24", "10.75.0.50/24") // a BIOS client: no 4011 request
	boot := bytes.Repeat([]byte("efi!"), 1000)                  // 4000 bytes: 8 blocks of 512
	root := bootFolder(t, map[string][]byte{"snponly.efi": boot, "undionly.kpxe": boot, "boot.ipxe": []byte("#!ipxe\nexit\n")})
	logs := startServe(t, loadEnv(t, "PXE_INTERFACES", lan.HostIf+","+bios.HostIf, "PXE_TFTP_ROOT", root,
		"PXE_HTTP_ADDR", "127.0.0.1:18080", "PXE_DENY_MACS", "02:00:00:00:de"), "http://127.0.0.1:18080/healthz")

	// The client's sockets, in its namespace: 68 for the proxy offers and
	// for sending, 4011 for the boot-server request.
	var c68, c4011 net.PacketConn
	var mac net.HardwareAddr
	if err := lan.Do(func() error {
		ifi, err := net.InterfaceByName(lan.PeerIf)
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr
		if c68, err = listen68(lan.PeerIf); err != nil {
			return err
		}
		c4011, err = net.ListenPacket("udp4", "10.74.0.50:4011")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c68.Close()
	defer c4011.Close()
	server := &net.UDPAddr{IP: net.IPv4(10, 74, 0, 1)}
	bcast67 := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	uefi := "PXEClient:Arch:00007:UNDI:003016"
	guid := append([]byte{0}, []byte("journey-test-123")...)

	// 1. The firmware's DISCOVER and the proxy offer.
	disc := request(mac, dhcpv4.MessageTypeDiscover, uefi, 7, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, guid)))
	if rep := exchange(t, c68, disc, bcast67); rep == nil || rep.BootFileName != "snponly.efi" {
		t.Fatalf("no proxy offer for snponly.efi: %v; log:\n%s", rep, logs)
	}
	// 2. The boot-server request on 4011 with ciaddr: the MAC-IP join.
	req := request(mac, dhcpv4.MessageTypeRequest, uefi, 7, dhcpv4.WithClientIP(net.IPv4(10, 74, 0, 50)))
	if rep := exchange(t, c4011, req, &net.UDPAddr{IP: server.IP, Port: 4011}); rep == nil || rep.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("no 4011 ACK: %v; log:\n%s", rep, logs)
	}
	// 3. The boot file over TFTP.
	if got := tftpGet(t, lan, server.IP, "snponly.efi"); !bytes.Equal(got, boot) {
		t.Fatalf("tftp: %d bytes, want %d", len(got), len(boot))
	}
	// 4. iPXE comes back and fetches its script.
	ipxe := request(mac, dhcpv4.MessageTypeDiscover, uefi, 7, dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")))
	if rep := exchange(t, c68, ipxe, bcast67); rep == nil || rep.BootFileName != "boot.ipxe" {
		t.Fatalf("no offer of the script to iPXE: %v", rep)
	}
	tftpGet(t, lan, server.IP, "boot.ipxe")

	// A refused client, one whose lease REQUEST reaches 67, and one whose
	// site server's ACK reaches 68.
	denied, _ := net.ParseMAC("02:00:00:00:de:01")
	leased, _ := net.ParseMAC("02:00:00:00:05:01")
	acked, _ := net.ParseMAC("02:00:00:00:06:01")
	if rep := exchange(t, c68, request(denied, dhcpv4.MessageTypeDiscover, uefi, 7), bcast67); rep != nil {
		t.Fatalf("denied client answered")
	}
	exchange(t, c68, request(leased, dhcpv4.MessageTypeDiscover, uefi, 7), bcast67)
	send(t, c68, request(leased, dhcpv4.MessageTypeRequest, uefi, 7,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 74, 0, 77))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 74, 0, 254)))), bcast67)
	exchange(t, c68, request(acked, dhcpv4.MessageTypeDiscover, uefi, 7), bcast67)
	ack, _ := dhcpv4.New(dhcpv4.WithReply(request(acked, dhcpv4.MessageTypeRequest, uefi, 7)),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck), dhcpv4.WithYourIP(net.IPv4(10, 74, 0, 88)),
		dhcpv4.WithServerIP(net.IPv4(10, 74, 0, 254)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 74, 0, 254))))
	send(t, c68, ack, &net.UDPAddr{IP: net.IPv4bcast, Port: 68})

	// The BIOS client: its MAC and IP meet only in the neighbour table.
	var biosMAC net.HardwareAddr
	if err := bios.Do(func() error {
		ifi, err := net.InterfaceByName(bios.PeerIf)
		if err != nil {
			return err
		}
		biosMAC = ifi.HardwareAddr
		c, err := listen68(bios.PeerIf)
		if err != nil {
			return err
		}
		defer c.Close()
		if rep := exchange(t, c, request(biosMAC, dhcpv4.MessageTypeDiscover, "PXEClient:Arch:00000:UNDI:002001", 0), bcast67); rep == nil {
			return errors.New("no offer to the BIOS client")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tftpGet(t, bios, net.IPv4(10, 75, 0, 1), "undionly.kpxe")

	// The journeys, through the API.
	var c journal.ClientDetail
	var kinds string
	for i := 0; ; i++ {
		c = client(t, mac.String())
		kinds = timelineWords(c.Timeline)
		if c.State == journal.StateBooted || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := "discover:67 reply:67:snponly.efi discover:4011 join:10.74.0.50:4011-request reply:4011:snponly.efi " +
		"transfer:tftp:snponly.efi:ok:4000 discover:67:ipxe reply:67:boot.ipxe transfer:tftp:boot.ipxe:ok:12"
	if kinds != want {
		t.Errorf("timeline\n got %s\nwant %s", kinds, want)
	}
	if c.State != journal.StateBooted || c.IP.String() != "10.74.0.50" || c.MAC != mac.String() || c.Verdict == "" ||
		c.Arch == nil || *c.Arch != 7 || c.Timeline[0].UUID != "72756f6a-656e-2d79-7465-73742d313233" { // "journey-test-123" read as an EFI GUID
		t.Errorf("client %+v", c.Client)
	}
	for id, want := range map[string]string{denied.String(): "refused", leased.String(): "in-progress", acked.String(): "in-progress"} {
		if got := client(t, id); string(got.State) != want {
			t.Errorf("%s: state %s (%s), want %s", id, got.State, got.Verdict, want)
		}
	}
	// The kernel may learn the BIOS client's MAC only from the download
	// itself; the table is read again within a second or two.
	eventually(t, func() bool { return client(t, biosMAC.String()).IP.String() == "10.75.0.50" }, func() string {
		got := client(t, biosMAC.String())
		arp, _ := os.ReadFile("/proc/thread-self/net/arp")
		return fmt.Sprintf("BIOS client not joined through the neighbour table: %+v\n%s\n%s", got.Client, timelineWords(got.Timeline), arp)
	})
	if got := timelineWords(client(t, biosMAC.String()).Timeline); got != "discover:67 reply:67:undionly.kpxe transfer:tftp:undionly.kpxe:ok:4000 join:10.75.0.50:neighbour" &&
		got != "discover:67 reply:67:undionly.kpxe join:10.75.0.50:neighbour transfer:tftp:undionly.kpxe:ok:4000" {
		t.Errorf("BIOS client's timeline: %s", got)
	}
	if got := client(t, leased.String()); got.IP.String() != "10.74.0.77" {
		t.Errorf("lease REQUEST on 67 not joined: %+v", got.Client)
	}
	// The site server's ACK reaches the conflict watcher's socket after it
	// has left ours: wait for it.
	eventually(t, func() bool { return client(t, acked.String()).IP.String() == "10.74.0.88" }, func() string {
		return fmt.Sprintf("site server's ACK not joined: %+v\n%s", client(t, acked.String()).Client, logs)
	})

	metrics := scrape(t, "http://127.0.0.1:18080/metrics")
	for series, v := range map[string]string{
		`pxeproxy_journal_clients{state="booted"}`:      "1",
		`pxeproxy_journal_clients{state="refused"}`:     "1",
		`pxeproxy_journal_clients{state="in-progress"}`: "3",
		`pxeproxy_boots_total{outcome="booted"}`:        "0", // settles after a quiet minute
		`pxeproxy_journal_dropped_total`:                "0",
	} {
		if metrics[series] != v {
			t.Errorf("%s = %q, want %s", series, metrics[series], v)
		}
	}
	var out bytes.Buffer
	if err := run([]string{"clients"}, &out, &out); err != nil {
		t.Fatalf("pxeproxy clients: %v", err)
	}
	t.Logf("verdict: %s\npxeproxy clients:\n%s", c.Verdict, out.String())
	if tab := out.String(); strings.Count(tab, "\n") != 6 || !strings.Contains(tab, mac.String()) || !strings.Contains(tab, "booted") {
		t.Errorf("pxeproxy clients:\n%s", tab)
	}
	if r, err := http.Get("http://127.0.0.1:18080/"); err != nil || r.StatusCode != 200 || r.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("the page: %v %v", r, err)
	} else {
		r.Body.Close()
	}
}

// eventually waits up to 5 seconds for ok, then fails with msg.
func eventually(t *testing.T, ok func() bool, msg func() string) {
	t.Helper()
	for range 50 {
		if ok() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal(msg())
}

// request builds a client request of type mt from mac with option 60 and
// option 93 arch.
func request(mac net.HardwareAddr, mt dhcpv4.MessageType, vendor string, arch byte, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	mods = append([]dhcpv4.Modifier{dhcpv4.WithMessageType(mt), dhcpv4.WithHwAddr(mac),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vendor)),
		dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, arch}), dhcpv4.WithBroadcast(true)}, mods...)
	p, err := dhcpv4.New(mods...)
	if err != nil {
		panic(err)
	}
	return p
}

func send(t *testing.T, c net.PacketConn, p *dhcpv4.DHCPv4, to *net.UDPAddr) {
	t.Helper()
	if _, err := c.WriteTo(p.ToBytes(), to); err != nil {
		t.Fatal(err)
	}
}

// exchange sends p and returns the reply with its xid, or nil after a
// second.
func exchange(t *testing.T, c net.PacketConn, p *dhcpv4.DHCPv4, to *net.UDPAddr) *dhcpv4.DHCPv4 {
	t.Helper()
	send(t, c, p, to)
	buf := make([]byte, 1500)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return nil
		}
		rep, err := dhcpv4.FromBytes(buf[:n])
		if err == nil && rep.OpCode == dhcpv4.OpcodeBootReply && rep.TransactionID == p.TransactionID {
			return rep
		}
	}
}

// tftpGet downloads file from server:69 in lock-step, from lan.
func tftpGet(t *testing.T, lan *netnstest.Peer, server net.IP, file string) []byte {
	t.Helper()
	var got []byte
	err := lan.Do(func() error {
		c, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			return err
		}
		defer c.Close()
		rrq := append(append(append([]byte{0, 1}, file...), 0), "octet\x00"...)
		if _, err := c.WriteTo(rrq, &net.UDPAddr{IP: server, Port: 69}); err != nil {
			return err
		}
		buf := make([]byte, 516)
		for want := uint16(1); ; {
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			if n < 4 || binary.BigEndian.Uint16(buf) != 3 {
				return fmt.Errorf("not DATA: %q", buf[:n])
			}
			if binary.BigEndian.Uint16(buf[2:]) != want {
				continue
			}
			got = append(got, buf[4:n]...)
			if _, err := c.WriteTo([]byte{0, 4, byte(want >> 8), byte(want)}, from); err != nil {
				return err
			}
			if n < 516 {
				return nil
			}
			want++
		}
	})
	if err != nil {
		t.Fatalf("tftp %s: %v", file, err)
	}
	return got
}

// client fetches /api/v1/clients/{id}.
func client(t *testing.T, id string) journal.ClientDetail {
	t.Helper()
	r, err := http.Get("http://127.0.0.1:18080/api/v1/clients/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var c journal.ClientDetail
	if r.StatusCode != 200 {
		t.Fatalf("client %s: %s", id, r.Status)
	}
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// timelineWords renders events as kind:detail words.
func timelineWords(evs []journal.Event) string {
	var out []string
	for _, e := range evs {
		w := []string{string(e.Kind)}
		switch e.Kind {
		case journal.KindDiscover:
			w = append(w, fmt.Sprint(e.Port))
			if e.IPXE {
				w = append(w, "ipxe")
			}
		case journal.KindReply:
			w = append(w, fmt.Sprint(e.Port), e.File)
		case journal.KindIgnored:
			w = append(w, e.Reason)
		case journal.KindJoin:
			w = append(w, e.IP.String(), e.Via)
		case journal.KindTransfer:
			w = append(w, e.Proto, e.File, string(e.Result), fmt.Sprint(e.Bytes))
		}
		out = append(out, strings.Join(w, ":"))
	}
	return strings.Join(out, " ")
}
