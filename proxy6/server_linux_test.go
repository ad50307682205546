package proxy6

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxeproxy/pxeproxy/dhcpsock"
	"github.com/pxeproxy/pxeproxy/internal/macprefix"
	"github.com/pxeproxy/pxeproxy/internal/netnstest"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
)

// exchange6 sends b from conn to dst and returns the first reply whose
// transaction id (of the innermost message) is xid, and its source; nil when
// none comes within wait.
func exchange6(conn net.PacketConn, dst net.Addr, b []byte, xid dhcpv6.TransactionID, wait time.Duration) (dhcpv6.DHCPv6, net.Addr, error) {
	if _, err := conn.WriteTo(b, dst); err != nil {
		return nil, nil, fmt.Errorf("send to %s: %w", dst, err)
	}
	deadline := time.Now().Add(wait)
	buf := make([]byte, 2048)
	for {
		_ = conn.SetReadDeadline(deadline)
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return nil, nil, nil
		}
		p, err := dhcpv6.FromBytes(buf[:n])
		if err != nil {
			continue
		}
		if got, err := dhcpv6.GetTransactionID(p); err == nil && got == xid {
			return p, from, nil
		}
	}
}

// TestServeNetns runs the Server on real sockets: pxeproxy on one end of a
// veth pair, a client in a namespace of its own on the other. A multicast
// EDK2-shaped SOLICIT gets an ADVERTISE from our link-local address; the
// 4011 REQUEST that follows, from the client's global address, gets its
// REPLY, BootReplyDelay later, from the address it was sent to, with the
// per-MAC file of the MAC learnt from the SOLICIT; a relayed SOLICIT gets a
// RELAY-REPL; an ordinary client's SOLICIT gets nothing.
func TestServeNetns(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	peer := netnstest.Netns(t, "2001:db8:77::1/64", "2001:db8:77::2/64")
	peer.WaitDAD(t)

	var peerMAC net.HardwareAddr
	if err := peer.Do(func() error {
		ifc, err := net.InterfaceByName(peer.PeerIf)
		if err == nil {
			peerMAC = ifc.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Interfaces = []string{peer.HostIf}
	cfg.Allow = []macprefix.Prefix{macprefix.Prefix(peerMAC)}
	cfg.MACBootFiles = []macprefix.BootFile{{Prefix: macprefix.Prefix(peerMAC), File: "this-machine.efi"}}
	logs := &testlog.Buffer{}
	srv := New(*cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	for _, addr := range []string{"[::]:547", "[::]:4011"} {
		conn, granted, err := dhcpsock.Listen6(ctx, addr, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if granted < 1<<20 {
			t.Errorf("%s: receive buffer %d, want 1 MiB (root in a namespace has CAP_NET_ADMIN)", addr, granted)
		}
		go func() { done <- srv.Serve(ctx, conn) }()
	}
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("Serve returned %v after cancel, want nil", err)
			}
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	if got := srv.Interfaces()[peer.HostIf]; len(got) != 2 || !strings.HasPrefix(got[0], "fe80::") || got[1] != "2001:db8:77::1" {
		t.Fatalf("Interfaces()[%s] = %v", peer.HostIf, got)
	}
	wantURL := "tftp://[2001:db8:77::1]/this-machine.efi"

	err := peer.Do(func() error {
		c546, err := net.ListenPacket("udp6", "[::]:546")
		if err != nil {
			return err
		}
		defer c546.Close()
		all := &net.UDPAddr{IP: allDHCP, Port: PortDHCP, Zone: peer.PeerIf}
		// An ordinary client: nothing comes back (checked in the log below,
		// once the server has joined ff02::1:2).
		plain := msgBytes(solicit, []opt{{dhcpv6.OptionClientID, duidLLT}, {dhcpv6.OptionORO, u16(23)}, {dhcpv6.OptionIANA, make([]byte, 12)}})
		defer func() {
			if p, _, err := exchange6(c546, all, plain, testXID, 500*time.Millisecond); err != nil || p != nil {
				t.Errorf("ordinary SOLICIT: reply %v, err %v", p, err)
			}
		}()
		// The SOLICIT may go out before the server joined ff02::1:2: retry.
		var adv dhcpv6.DHCPv6
		var from net.Addr
		for range 10 {
			if adv, from, err = exchange6(c546, all, msgBytes(solicit, edk2x64), testXID, time.Second); err != nil || adv != nil {
				break
			}
		}
		if adv == nil {
			return fmt.Errorf("no ADVERTISE (err %v)", err)
		}
		m := adv.(*dhcpv6.Message)
		if m.MessageType != dhcpv6.MessageTypeAdvertise || m.Options.BootFileURL() != wantURL {
			return fmt.Errorf("got %s with option 59 %q", m.MessageType, m.Options.BootFileURL())
		}
		if ua := from.(*net.UDPAddr); !ua.IP.IsLinkLocalUnicast() || ua.Port != PortDHCP {
			return fmt.Errorf("ADVERTISE from %s, want our link-local address, port 547", from)
		}

		// EDK2's 4011 REQUEST, from its global address and port 4011.
		c4011, err := net.ListenPacket("udp6", "[2001:db8:77::2]:4011")
		if err != nil {
			return err
		}
		defer c4011.Close()
		req := msgBytes(request, edk2Request4011(7, m.Options.ServerID().ToBytes()))
		sentAt := time.Now()
		rep, from, err := exchange6(c4011, &net.UDPAddr{IP: net.ParseIP("2001:db8:77::1"), Port: PortPXE}, req, testXID, 3*time.Second)
		if err != nil || rep == nil {
			return fmt.Errorf("no 4011 REPLY (err %v)", err)
		}
		m = rep.(*dhcpv6.Message)
		if m.MessageType != dhcpv6.MessageTypeReply || m.Options.BootFileURL() != wantURL {
			return fmt.Errorf("4011: got %s with option 59 %q", m.MessageType, m.Options.BootFileURL())
		}
		if from.String() != "[2001:db8:77::1]:4011" {
			return fmt.Errorf("4011 REPLY from %s", from)
		}
		if d := time.Since(sentAt); d < BootReplyDelay {
			return fmt.Errorf("4011 REPLY after %v, before BootReplyDelay", d)
		}

		// A relay agent on the peer's side.
		c547, err := net.ListenPacket("udp6", "[2001:db8:77::2]:547")
		if err != nil {
			return err
		}
		defer c547.Close()
		fw := relayFwd(msgBytes(solicit, edk2x64), 0, net.ParseIP("2001:db8:99::1"), eui64(peerMAC), interfaceX)
		rr, from, err := exchange6(c547, &net.UDPAddr{IP: net.ParseIP("2001:db8:77::1"), Port: PortDHCP}, fw, testXID, 3*time.Second)
		if err != nil || rr == nil {
			return fmt.Errorf("no RELAY-REPL (err %v)", err)
		}
		if rr.Type() != dhcpv6.MessageTypeRelayReply || from.String() != "[2001:db8:77::1]:547" {
			return fmt.Errorf("relayed: got %s from %s", rr.Type(), from)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"reason=not-pxe", "type=ADVERTISE", "svc=pxe6-4011", "mac_from=transport", "relays=1"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("server log lacks %q", want)
		}
	}
}
