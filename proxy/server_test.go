package proxy

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/pxeproxy/pxeproxy/internal/dhcptest"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
)

// syncBuffer collects log output from the server goroutine.
type syncBuffer = testlog.Buffer

// startServer runs a Server on conn, through the portable transport, for
// port until the test ends.
func startServer(t *testing.T, conn net.PacketConn, port int, ifaces []string) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	s := New(ServerConfig{Config: *testConfig(), Interfaces: ifaces}, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	tr, err := NewConnTransport(conn)
	if err != nil {
		t.Fatal(err)
	}
	dhcptest.Serve(t, func(ctx context.Context) error { return s.Serve(ctx, tr, port) })
	return s, logs
}

// loopbackName is the name of the loopback interface: lo on Linux, lo0 on
// the BSDs and macOS.
func loopbackName(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			return i.Name
		}
	}
	t.Skip("no loopback interface")
	return ""
}

// TestServeLoopback runs the socket loop over the portable transport on
// loopback ports (no privileges, no broadcast, any OS): a 4011 request
// comes back to its source port, garbage is ignored without stopping the
// loop, and ingress on an unserved interface is ignored.
func TestServeLoopback(t *testing.T) {
	srv, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, logs := startServer(t, srv, PortPXE, []string{loopbackName(t)})
	cli, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	// Garbage of every kind first: the loop must survive all of it.
	for _, junk := range [][]byte{{}, {1}, make([]byte, 239), bytes.Repeat([]byte{0xff}, 1400), truncated(), noEnd(), badOptLen(), oversize()} {
		if _, err := cli.WriteTo(junk, srv.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	req := pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}, withCiaddr("127.0.0.1"),
		withOpt(opt43, []byte{71, 4, 0x80, 0, 0, 0, 255}))
	rep, from := dhcptest.Exchange(t, cli, srv.LocalAddr(), req, 3*time.Second)
	if rep == nil {
		t.Fatalf("no ACK on loopback; server log:\n%s", logs)
	}
	if rep.MessageType() != dhcpv4.MessageTypeAck || rep.BootFileName != "snponly.efi" || from.String() != srv.LocalAddr().String() {
		t.Fatalf("got %s from %s:\n%s", rep.MessageType(), from, render(rep))
	}
	if got := rep.Options[opt43]; !bytes.Equal(got, []byte{71, 4, 0x80, 0, 0, 0, 255}) {
		t.Fatalf("43.71 not echoed: %x", got)
	}
	if n := strings.Count(logs.String(), "msg=ignored"); n != 8 {
		t.Errorf("%d junk packets logged as ignored, want 8:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "err=\"oversize datagram\"") {
		t.Errorf("no line for the oversize datagram:\n%s", logs)
	}

	// The same request on a loop that serves only eth-something: ignored.
	srv2, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, logs2 := startServer(t, srv2, PortPXE, []string{"pxt-none"})
	if rep, _ := dhcptest.Exchange(t, cli, srv2.LocalAddr(), req, 300*time.Millisecond); rep != nil {
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

// oversize is a valid PXE request padded past maxDatagram.
func oversize() []byte {
	b := pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}, withCiaddr("127.0.0.1")).ToBytes()
	return append(b, make([]byte, maxDatagram+1-len(b))...)
}

func badOptLen() []byte {
	b := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes()
	b = b[:240]
	return append(b, 53, 200, 1, 255)
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

// BenchmarkHandleDiscover is the user-space cost of one DISCOVER through
// the loop: quickCheck, decode, decide, encode, log (the socket is faked).
func BenchmarkHandleDiscover(b *testing.B) {
	s := testLoop(b, ServerConfig{Config: *testConfig()}, slog.LevelInfo)
	req := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes()
	src := &net.UDPAddr{IP: net.IPv4zero, Port: 68}
	buf := make([]byte, maxDatagram+1)
	out := make([]byte, 0, 1024)
	var dec Decoder
	var wrote int
	b.ReportAllocs()
	for b.Loop() {
		k := copy(buf, req)
		out = s.handle(context.Background(), nopWriter{&wrote}, nil, PortDHCP, buf[:k], src, net.IPv4bcast, 2, &dec, out)
	}
	if wrote != b.N {
		b.Fatalf("%d replies for %d requests", wrote, b.N)
	}
}
