package proxy

import (
	"bytes"
	"context"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxeproxy/pxeproxy/internal/netnstest"
	"golang.org/x/sys/unix"
)

// syncBuffer collects log output from the server goroutine.
type syncBuffer = testlog.Buffer

// startServer runs a Server on conn for port until the test ends.
func startServer(t *testing.T, conn net.PacketConn, port int, ifaces []string) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	s := NewServer(testConfig(), ifaces, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn, port) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v after cancel, want nil", err)
		}
	})
	return s, logs
}

// exchange sends req from conn to dst and returns the first reply with the
// request's xid, or nil when none comes within wait.
func exchange(t *testing.T, conn net.PacketConn, dst net.Addr, req *dhcpv4.DHCPv4, wait time.Duration) (*dhcpv4.DHCPv4, net.Addr) {
	t.Helper()
	if _, err := conn.WriteTo(req.ToBytes(), dst); err != nil {
		t.Fatalf("send: %v", err)
	}
	deadline := time.Now().Add(wait)
	buf := make([]byte, 1500)
	for {
		_ = conn.SetReadDeadline(deadline)
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return nil, nil
		}
		rep, err := dhcpv4.FromBytes(buf[:n])
		if err == nil && rep.TransactionID == req.TransactionID && rep.OpCode == dhcpv4.OpcodeBootReply {
			return rep, from
		}
	}
}

// TestServeLoopback runs the socket loop on loopback ports (no privileges,
// no broadcast): a 4011 request comes back to its source port, garbage is
// ignored without stopping the loop, and ingress on an unserved interface is
// ignored.
func TestServeLoopback(t *testing.T) {
	srv, _, err := Listen(context.Background(), "127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, logs := startServer(t, srv, PortPXE, []string{"lo"})
	cli, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	// Garbage of every kind first: the loop must survive all of it.
	for _, junk := range [][]byte{{}, {1}, make([]byte, 239), bytes.Repeat([]byte{0xff}, 1400), truncated(), noEnd(), badOptLen()} {
		if _, err := cli.WriteTo(junk, srv.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	req := pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}, withCiaddr("127.0.0.1"),
		withOpt(opt43, []byte{71, 4, 0x80, 0, 0, 0, 255}))
	rep, from := exchange(t, cli, srv.LocalAddr(), req, 3*time.Second)
	if rep == nil {
		t.Fatalf("no ACK on loopback; server log:\n%s", logs)
	}
	if rep.MessageType() != dhcpv4.MessageTypeAck || rep.BootFileName != "snponly.efi" || from.String() != srv.LocalAddr().String() {
		t.Fatalf("got %s from %s:\n%s", rep.MessageType(), from, render(rep))
	}
	if got := rep.Options[opt43]; !bytes.Equal(got, []byte{71, 4, 0x80, 0, 0, 0, 255}) {
		t.Fatalf("43.71 not echoed: %x", got)
	}
	if n := strings.Count(logs.String(), "msg=ignored"); n != 7 {
		t.Errorf("%d junk packets logged as ignored, want 7:\n%s", n, logs)
	}

	// The same request on a loop that serves only eth-something: ignored.
	srv2, _, err := Listen(context.Background(), "127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, logs2 := startServer(t, srv2, PortPXE, []string{"pxt-none"})
	if rep, _ := exchange(t, cli, srv2.LocalAddr(), req, 300*time.Millisecond); rep != nil {
		t.Fatal("answered on an interface that is not served")
	}
	if !strings.Contains(logs2.String(), "reason=interface-not-served") {
		t.Fatalf("no debug line for the unserved interface:\n%s", logs2)
	}
}

func truncated() []byte {
	b := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes()
	return b[:100]
}

func noEnd() []byte {
	b := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes()
	return b[:bytes.LastIndexByte(bytes.TrimRight(b, "\x00"), 0xff)]
}

func badOptLen() []byte {
	b := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes()
	b = b[:240]
	return append(b, 53, 200, 1, 255)
}

// listenIn opens a UDP socket inside the peer namespace, bound to addr and
// to the peer's interface, able to broadcast.
func listenIn(t *testing.T, p *netnstest.Peer, addr string) net.PacketConn {
	t.Helper()
	var conn net.PacketConn
	err := p.Do(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
				if serr == nil {
					serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, p.PeerIf)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}}
		var err error
		conn, err = lc.ListenPacket(context.Background(), "udp4", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, p.NS, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestServeVeth is the transport's end-to-end test: the server listens on
// the real ports 67 and 4011 in a private namespace, the client sits in
// another one behind a veth pair, as on a LAN.
func TestServeVeth(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	lan := netnstest.Netns(t, "10.66.0.1/24", "10.66.0.57/24")
	other := netnstest.Netns(t, "10.67.0.1/24", "10.67.0.57/24")

	var logs *syncBuffer
	for _, port := range []int{PortDHCP, PortPXE} {
		conn, granted, err := Listen(context.Background(), ":"+strconv.Itoa(port), 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		if granted < 4<<20 {
			t.Errorf("receive buffer %d, asked 4 MiB (root has CAP_NET_ADMIN)", granted)
		}
		_, l := startServer(t, conn, port, []string{lan.HostIf})
		if port == PortDHCP {
			logs = l
		}
	}
	bcast67 := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	c68 := listenIn(t, lan, ":68")

	t.Run("bios discover gets a broadcast offer", func(t *testing.T) {
		req := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withOpt(opt97, testGUID))
		rep, from := exchange(t, c68, bcast67, req, 3*time.Second)
		if rep == nil {
			t.Fatalf("no offer; log:\n%s", logs)
		}
		if from.String() != "10.66.0.1:67" || !rep.ServerIPAddr.Equal(lan.HostAddr) ||
			!rep.ServerIdentifier().Equal(lan.HostAddr) || rep.BootFileName != "undionly.kpxe" ||
			!hasOpt(rep, opt43) || !rep.IsBroadcast() {
			t.Fatalf("offer from %s:\n%s", from, render(rep))
		}
	})
	t.Run("uefi discover gets an offer without 43", func(t *testing.T) {
		req := pkt(dhcpv4.MessageTypeDiscover, vendorUEFI, []uint16{7})
		req.TransactionID = dhcpv4.TransactionID{1, 2, 3, 4}
		rep, _ := exchange(t, c68, bcast67, req, 3*time.Second)
		if rep == nil || hasOpt(rep, opt43) || rep.BootFileName != "snponly.efi" {
			t.Fatalf("offer: %v", rep)
		}
	})
	t.Run("ordinary discover gets nothing", func(t *testing.T) {
		req := pkt(dhcpv4.MessageTypeDiscover, "MSFT 5.0", nil)
		req.TransactionID = dhcpv4.TransactionID{5, 6, 7, 8}
		if rep, _ := exchange(t, c68, bcast67, req, 500*time.Millisecond); rep != nil {
			t.Fatalf("an ordinary DHCP client was answered:\n%s", render(rep))
		}
	})
	t.Run("4011 request from 4011 gets its ack on 4011", func(t *testing.T) {
		c4011 := listenIn(t, lan, lan.PeerAddr.String()+":4011")
		req := pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}, withCiaddr(lan.PeerAddr.String()))
		req.TransactionID = dhcpv4.TransactionID{9, 9, 9, 9}
		rep, from := exchange(t, c4011, &net.UDPAddr{IP: lan.HostAddr, Port: PortPXE}, req, 3*time.Second)
		if rep == nil || rep.MessageType() != dhcpv4.MessageTypeAck || from.String() != "10.66.0.1:4011" {
			t.Fatalf("ack %v from %v", rep, from)
		}
	})
	t.Run("relayed discover is answered at giaddr:67", func(t *testing.T) {
		relay := listenIn(t, lan, lan.PeerAddr.String()+":67")
		req := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withGiaddr(lan.PeerAddr.String()))
		req.TransactionID = dhcpv4.TransactionID{7, 7, 7, 7}
		req.HopCount = 1
		rep, from := exchange(t, relay, &net.UDPAddr{IP: lan.HostAddr, Port: PortDHCP}, req, 3*time.Second)
		if rep == nil || from.String() != "10.66.0.1:67" || !rep.GatewayIPAddr.Equal(lan.PeerAddr) {
			t.Fatalf("relayed offer %v from %v", rep, from)
		}
	})
	t.Run("interface not in PXE_INTERFACES gets nothing", func(t *testing.T) {
		c := listenIn(t, other, ":68")
		req := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0})
		req.TransactionID = dhcpv4.TransactionID{3, 3, 3, 3}
		if rep, _ := exchange(t, c, bcast67, req, 500*time.Millisecond); rep != nil {
			t.Fatal("answered on an interface not listed")
		}
		if !strings.Contains(logs.String(), "reason=interface-not-served") {
			t.Fatalf("no debug line:\n%s", logs)
		}
	})
	t.Run("a burst of 2000 discovers is answered completely", func(t *testing.T) {
		const n = 2000
		c := c68
		_ = c.(*net.UDPConn).SetReadBuffer(8 << 20)
		got := make(chan int)
		go func() {
			seen := map[dhcpv4.TransactionID]bool{}
			buf := make([]byte, 1500)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for len(seen) < n {
				k, _, err := c.ReadFrom(buf)
				if err != nil {
					break
				}
				if rep, err := dhcpv4.FromBytes(buf[:k]); err == nil && rep.TransactionID[0] == 0xaa {
					seen[rep.TransactionID] = true
				}
			}
			got <- len(seen)
		}()
		for i := range n {
			req := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0})
			req.TransactionID = dhcpv4.TransactionID{0xaa, 0xbb, byte(i >> 8), byte(i)}
			if _, err := c.WriteTo(req.ToBytes(), bcast67); err != nil {
				t.Fatal(err)
			}
		}
		if k := <-got; k != n {
			t.Fatalf("%d of %d answered", k, n)
		}
	})
}

func hasOpt(p *dhcpv4.DHCPv4, code uint8) bool {
	_, ok := p.Options[code]
	return ok
}

// TestLogStrings checks the log line's hand-made MAC and xid strings
// against the codec's own String methods.
func TestLogStrings(t *testing.T) {
	for _, mac := range []net.HardwareAddr{nil, {0}, {0x52, 0x54, 0, 0x12, 0xab, 0xff}, bytes.Repeat([]byte{0xa5}, 16)} {
		if got, want := macString(mac), mac.String(); got != want {
			t.Errorf("macString(%x) = %q, want %q", []byte(mac), got, want)
		}
	}
	for _, x := range []dhcpv4.TransactionID{{}, {0xde, 0xad, 0xbe, 0xef}, {1, 2, 3, 0xa0}} {
		if got, want := xidString(x), x.String(); got != want {
			t.Errorf("xidString(%x) = %q, want %q", x[:], got, want)
		}
	}
}
