package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/pxeproxy/pxeproxy/internal/logfmt"
	"github.com/pxeproxy/pxeproxy/internal/macprefix"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
)

// kernelWriter is a Transport that refuses writes as Linux does: a
// destination port 0 is EINVAL, and a source address that is not ours
// (any longer) is ENETUNREACH. It records what it sent.
type kernelWriter struct {
	mu    sync.Mutex
	local net.IP // our address now
	sent  []memWrite
}

func (k *kernelWriter) ReadPacket([]byte) (int, *net.UDPAddr, net.IP, int, error) {
	return 0, nil, nil, 0, net.ErrClosed
}

func (k *kernelWriter) WritePacket(b []byte, src net.IP, _ int, dst *net.UDPAddr) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case dst.Port == 0:
		return fmt.Errorf("sendmsg: %w", syscall.EINVAL)
	case src != nil && !src.Equal(k.local):
		return fmt.Errorf("sendmsg: %w", syscall.ENETUNREACH)
	}
	k.sent = append(k.sent, memWrite{b: append([]byte(nil), b...), src: append(net.IP(nil), src...), dst: dst.String()})
	return nil
}

func (k *kernelWriter) Close() error { return nil }

// TestAddressChangeRetry: when the interface's address changes, the first
// reply after it is not lost to the interface cache (up to 10 s of
// "network is unreachable"): the send error refreshes the table and the
// request is answered again, once, with the new address.
func TestAddressChangeRetry(t *testing.T) {
	logs := &testlog.Buffer{}
	s := New(ServerConfig{Config: *testConfig()}, logs.Logger())
	var mu sync.Mutex
	addr := net.IPv4(10, 0, 0, 1).To4()
	clock := time.Now()
	s.ifaces.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	s.ifaces.Lookup = func() ([]net.Interface, error) {
		return []net.Interface{{Index: 2, Name: "eth0", Flags: net.FlagUp}}, nil
	}
	s.ifaces.AddrsOf = func(*net.Interface) ([]net.Addr, error) {
		mu.Lock()
		defer mu.Unlock()
		return []net.Addr{&net.IPNet{IP: addr, Mask: net.CIDRMask(24, 32)}}, nil
	}
	kw := &kernelWriter{local: addr}
	req := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes()
	src := &net.UDPAddr{IP: net.IPv4zero, Port: 68}
	var dec Decoder
	send := func() {
		buf := append([]byte(nil), req...)
		s.handle(context.Background(), kw, nil, PortDHCP, buf, src, net.IPv4bcast, 2, &dec, nil)
	}
	send()

	// Renumbered: 10.0.0.1 is gone, 10.0.0.2 is ours, 2 s later (the
	// table is refreshed every 10 s).
	mu.Lock()
	addr = net.IPv4(10, 0, 0, 2).To4()
	clock = clock.Add(2 * time.Second)
	mu.Unlock()
	kw.mu.Lock()
	kw.local = addr
	kw.mu.Unlock()
	send()

	kw.mu.Lock()
	defer kw.mu.Unlock()
	if len(kw.sent) != 2 {
		t.Fatalf("%d replies sent, want 2 (one before and one after the change); log:\n%s", len(kw.sent), logs)
	}
	last := kw.sent[1]
	rep, err := dhcpv4.FromBytes(last.b)
	if err != nil {
		t.Fatal(err)
	}
	if !last.src.Equal(addr) || !rep.ServerIdentifier().Equal(addr) || !rep.ServerIPAddr.Equal(addr) {
		t.Fatalf("reply after the change from %s with option 54 %s, siaddr %s; want %s", last.src, rep.ServerIdentifier(), rep.ServerIPAddr, addr)
	}
	if strings.Contains(logs.String(), "send failed") {
		t.Fatalf("the retried reply was logged as failed:\n%s", logs)
	}
}

// TestReplySourceIsOurs: a unicast request whose destination is not one
// of our addresses (a raw frame to 8.8.8.8) is answered from our address,
// never from the address the frame named.
func TestReplySourceIsOurs(t *testing.T) {
	s := testLoop(t, ServerConfig{Config: *testConfig()}, slog.LevelWarn)
	kw := &kernelWriter{local: net.IPv4(10, 0, 0, 1)}
	var dec Decoder
	for _, to := range []net.IP{net.IPv4(8, 8, 8, 8), net.IPv4(10, 0, 0, 255), net.IPv4(224, 0, 0, 1), net.IPv4(10, 0, 0, 1)} {
		req := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withGiaddr("10.1.0.1")).ToBytes()
		s.handle(context.Background(), kw, nil, PortDHCP, req, &net.UDPAddr{IP: net.IPv4(10, 1, 0, 1), Port: 67}, to, 2, &dec, nil)
	}
	kw.mu.Lock()
	defer kw.mu.Unlock()
	if len(kw.sent) != 4 {
		t.Fatalf("%d replies, want 4", len(kw.sent))
	}
	for i, w := range kw.sent {
		if !w.src.Equal(net.IPv4(10, 0, 0, 1)) || w.dst != "10.1.0.1:67" {
			t.Errorf("reply %d from %s to %s, want from 10.0.0.1 to 10.1.0.1:67", i, w.src, w.dst)
		}
	}
}

// TestGiaddrOnOtherInterface: a giaddr that is our address on another
// served interface names no relay agent (Reply sees only the ingress
// interface's addresses): no reply goes back to this host.
func TestGiaddrOnOtherInterface(t *testing.T) {
	var ignored []string
	s := testLoop(t, ServerConfig{Config: *testConfig(), OnIgnore: func(_ int, r string) { ignored = append(ignored, r) }}, slog.LevelWarn)
	s.ifaces.Lookup = func() ([]net.Interface, error) {
		return []net.Interface{{Index: 2, Name: "eth0", Flags: net.FlagUp}, {Index: 3, Name: "eth1", Flags: net.FlagUp}}, nil
	}
	s.ifaces.AddrsOf = func(i *net.Interface) ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.IPv4(10, byte(i.Index), 0, 1), Mask: net.CIDRMask(24, 32)}}, nil
	}
	kw := &kernelWriter{local: net.IPv4(10, 2, 0, 1)}
	var dec Decoder
	for _, c := range []struct {
		giaddr string
		sent   int
	}{{"10.3.0.1", 0}, {"10.3.0.7", 1}} {
		req := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withGiaddr(c.giaddr)).ToBytes()
		s.handle(context.Background(), kw, nil, PortDHCP, req, &net.UDPAddr{IP: net.ParseIP(c.giaddr), Port: 67}, net.IPv4(10, 2, 0, 1), 2, &dec, nil)
		kw.mu.Lock()
		n := len(kw.sent)
		kw.mu.Unlock()
		if n != c.sent {
			t.Fatalf("giaddr %s: %d replies sent in all, want %d (ignored: %v)", c.giaddr, n, c.sent, ignored)
		}
	}
	if len(ignored) != 1 || ignored[0] != ErrBadGiaddr.Error() {
		t.Errorf("ignored %v, want one bad-giaddr", ignored)
	}
}

// TestPerPacketLinesLimited floods the loop with requests of every kind
// it logs per packet (answered, refused, ignored for each reason, and the
// 4011 request from source port 0 that used to make a Warn each) through
// the process's log limiter: every per-packet line names its client (mac,
// peer or src), so the limiter holds each client and reason to a few
// lines; none of them is a Warn.
func TestPerPacketLinesLimited(t *testing.T) {
	logs := &testlog.Buffer{}
	h := logfmt.NewLimiter(logfmt.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}), logfmt.LimitConfig{Period: time.Hour})
	cfg := *testConfig()
	cfg.Deny = []macprefix.Prefix{{0x52, 0x54, 0x00, 0xde}}
	s := New(ServerConfig{Config: cfg}, slog.New(h))
	s.ifaces.Lookup = func() ([]net.Interface, error) {
		return []net.Interface{{Index: 2, Name: "eth0", Flags: net.FlagUp}}, nil
	}
	s.ifaces.AddrsOf = func(*net.Interface) ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.IPv4(10, 0, 0, 1), Mask: net.CIDRMask(24, 32)}}, nil
	}
	kw := &kernelWriter{local: net.IPv4(10, 0, 0, 1)}
	bcast := &net.UDPAddr{IP: net.IPv4zero, Port: 68}
	client := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 57), Port: 4011}
	denied := func(p *dhcpv4.DHCPv4) { p.ClientHWAddr = net.HardwareAddr{0x52, 0x54, 0x00, 0xde, 0, 1} }
	kinds := []struct {
		port    int
		b       []byte
		src     *net.UDPAddr
		ifIndex int
	}{
		{PortDHCP, pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes(), bcast, 2},                           // answered
		{PortDHCP, pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, denied).ToBytes(), bcast, 2},                   // refused (Info)
		{PortDHCP, pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withGiaddr("10.0.0.255")).ToBytes(), bcast, 2}, // bad-giaddr
		{PortDHCP, pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withHLen(0)).ToBytes(), bcast, 2},              // bad-hwaddr
		{PortDHCP, pkt(dhcpv4.MessageTypeDiscover, "MSFT 5.0", nil).ToBytes(), bcast, 2},                                   // not-pxe
		{PortDHCP, []byte{1, 2, 3}, bcast, 2},                                                                        // malformed
		{PortDHCP, pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes(), bcast, 0},                     // no-pktinfo
		{PortDHCP, pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes(), bcast, 7},                     // interface-not-served
		{PortPXE, pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}).ToBytes(), &net.UDPAddr{IP: client.IP}, 2}, // source port 0
		{PortPXE, pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}, withCiaddr("8.8.8.8")).ToBytes(), &net.UDPAddr{IP: net.IPv4(8, 8, 8, 8), Port: 53}, 2},
		{PortPXE, pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}).ToBytes(), client, 2}, // answered
	}
	const flood = 200
	var dec Decoder
	for range flood {
		for _, k := range kinds {
			buf := append([]byte(nil), k.b...)
			s.handle(context.Background(), kw, nil, k.port, buf, k.src, net.IPv4bcast, k.ifIndex, &dec, nil)
		}
	}
	out := logs.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// The limiter's default: 5 lines per client, message and reason.
	if max := 5 * len(kinds); len(lines) > max {
		t.Errorf("%d log lines for %d kinds of packet, want at most %d", len(lines), len(kinds), max)
	}
	var anonymous, warns []string
	for _, l := range lines {
		if !strings.Contains(l, " mac=") && !strings.Contains(l, " peer=") && !strings.Contains(l, " src=") {
			anonymous = append(anonymous, l)
		}
		if strings.Contains(l, "level=WARN") {
			warns = append(warns, l)
		}
	}
	if len(anonymous) > 0 {
		t.Errorf("%d per-packet lines name no client, so no limit applies to them; the first: %s", len(anonymous), anonymous[0])
	}
	if len(warns) > 0 {
		t.Errorf("packets from the LAN made %d Warn lines; the first: %s", len(warns), warns[0])
	}
	for _, want := range []string{"reason=bad-giaddr", "reason=bad-hwaddr", "reason=bad-source", "reason=mac-denied", "reason=no-pktinfo", `msg="pxe reply"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no line with %s:\n%s", want, out)
		}
	}
}
