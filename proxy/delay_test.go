package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// memTransport is an in-memory Transport. Like the recvmmsg transport, it
// hands out a destination address that the next read overwrites.
type memTransport struct {
	in     chan memDatagram
	fail   chan error // a read error to return
	writes chan memWrite
	done   chan struct{}
	once   sync.Once
	dst    net.IP // reused by every read
}

type memDatagram struct {
	b   []byte
	src *net.UDPAddr
	dst net.IP
}

type memWrite struct {
	b   []byte
	src net.IP
	dst string
}

func newMemTransport() *memTransport {
	return &memTransport{in: make(chan memDatagram), fail: make(chan error), writes: make(chan memWrite, 16), done: make(chan struct{}), dst: make(net.IP, 4)}
}

func (m *memTransport) ReadPacket(b []byte) (int, *net.UDPAddr, net.IP, int, error) {
	select {
	case d := <-m.in:
		copy(m.dst, d.dst.To4())
		return copy(b, d.b), d.src, m.dst, 2, nil
	case err := <-m.fail:
		return 0, nil, nil, 0, err
	case <-m.done:
		return 0, nil, nil, 0, net.ErrClosed
	}
}

func (m *memTransport) WritePacket(b []byte, src net.IP, _ int, dst *net.UDPAddr) error {
	select {
	case m.writes <- memWrite{b: append([]byte(nil), b...), src: append(net.IP(nil), src...), dst: dst.String()}:
	default:
	}
	return nil
}

func (m *memTransport) Close() error {
	m.once.Do(func() { close(m.done) })
	return nil
}

// testLoop returns a Server that serves interface 2 ("eth0",
// 10.0.0.1/24) without looking at the host's interfaces.
func testLoop(t testing.TB, cfg ServerConfig, level slog.Level) *Server {
	s := New(cfg, slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level})))
	s.ifaces.Lookup = func() ([]net.Interface, error) {
		return []net.Interface{{Index: 2, Name: "eth0", Flags: net.FlagUp}}, nil
	}
	s.ifaces.AddrsOf = func(*net.Interface) ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.IPv4(10, 0, 0, 1), Mask: net.CIDRMask(24, 32)}}, nil
	}
	return s
}

// serveMem runs s on a memTransport for port; stop ends it and waits,
// done gives Serve's result.
func serveMem(s *Server, port int) (m *memTransport, stop func() error, done <-chan error) {
	m = newMemTransport()
	ctx, cancel := context.WithCancel(context.Background())
	d := make(chan error, 1)
	go func() { d <- s.Serve(ctx, m, port) }()
	return m, func() error { cancel(); return <-d }, d
}

func delayedGoroutines() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "dhcpserve.(*Queue[...]).Run")
}

// TestReplyDelay: replies wait ReplyDelay and go where their own request
// said, though the request buffer and the destination address were reused
// by later reads; a reply still waiting when the context ends is never
// sent, and nothing of Serve outlives it.
func TestReplyDelay(t *testing.T) {
	const delay = 200 * time.Millisecond
	s := testLoop(t, ServerConfig{Config: *testConfig(), ReplyDelay: delay}, slog.LevelInfo)
	m, stop, _ := serveMem(s, PortDHCP)
	start := time.Now()
	relays := []string{"10.0.0.201", "10.0.0.202"}
	for i, relay := range relays {
		req := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withGiaddr(relay))
		req.TransactionID[3] = byte(i)
		m.in <- memDatagram{b: req.ToBytes(), src: &net.UDPAddr{IP: net.ParseIP(relay), Port: 67}, dst: net.IPv4(10, 0, 0, 1)}
	}
	for i, relay := range relays {
		want := relay + ":67"
		select {
		case w := <-m.writes:
			rep, err := dhcpv4.FromBytes(w.b)
			if err != nil {
				t.Fatal(err)
			}
			if w.dst != want || rep.TransactionID[3] != byte(i) || !rep.GatewayIPAddr.Equal(net.ParseIP(relay)) || !w.src.Equal(net.IPv4(10, 0, 0, 1)) {
				t.Errorf("reply %d: xid %s giaddr %s from %s to %s, want to %s", i, rep.TransactionID, rep.GatewayIPAddr, w.src, w.dst, want)
			}
			if d := time.Since(start); d < delay {
				t.Errorf("reply %d after %v, before the delay", i, d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("reply %d not sent", i)
		}
	}

	if n := delayedGoroutines(); n != 1 {
		t.Fatalf("%d delayed-reply goroutines while Serve runs, want 1", n)
	}
	// A reply pending when the context ends.
	m.in <- memDatagram{b: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes(), src: &net.UDPAddr{IP: net.IPv4zero, Port: 68}, dst: net.IPv4bcast}
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if n := delayedGoroutines(); n != 0 {
		t.Fatalf("%d delayed-reply goroutines outlive Serve", n)
	}
	select {
	case w := <-m.writes:
		t.Fatalf("a reply pending at shutdown was sent to %s", w.dst)
	case <-time.After(2 * delay):
	}
}

// TestReplyDelayReadError: when Serve stops on a read error (the context
// still alive), the delayed replies stop with it.
func TestReplyDelayReadError(t *testing.T) {
	s := testLoop(t, ServerConfig{Config: *testConfig(), ReplyDelay: time.Hour}, slog.LevelWarn)
	m, _, done := serveMem(s, PortDHCP)
	m.in <- memDatagram{b: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes(), src: &net.UDPAddr{IP: net.IPv4zero, Port: 68}, dst: net.IPv4bcast}
	m.fail <- errors.New("broken socket")
	if err := <-done; err == nil || !strings.Contains(err.Error(), "broken socket") {
		t.Fatalf("Serve returned %v, want the read error", err)
	}
	if n := delayedGoroutines(); n != 0 {
		t.Fatalf("%d delayed-reply goroutines outlive Serve", n)
	}
}

// TestReplyDelayFlood: a flood of answerable requests holds at most
// maxDelayed replies back; the rest are counted as ignored.
func TestReplyDelayFlood(t *testing.T) {
	var full atomic.Int64
	s := testLoop(t, ServerConfig{Config: *testConfig(), ReplyDelay: time.Hour, OnIgnore: func(_ int, reason string) {
		if reason == ReasonDelayFull {
			full.Add(1)
		}
	}}, slog.LevelWarn)
	m, stop, _ := serveMem(s, PortDHCP)
	defer stop()
	const n = maxDelayed + 500
	b := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes()
	src := &net.UDPAddr{IP: net.IPv4zero, Port: 68}
	for range n {
		m.in <- memDatagram{b: b, src: src, dst: net.IPv4bcast}
	}
	// The reads are synchronous; the last one may still be in handle.
	m.in <- memDatagram{b: []byte{1}, src: src, dst: net.IPv4bcast}
	// One reply may sit in the sender, out of the queue, waiting its hour.
	if got := full.Load(); got < n-maxDelayed-1 || got > n-maxDelayed {
		t.Fatalf("%d replies refused as delay-queue-full, want %d (one more may wait in the sender)", got, n-maxDelayed)
	}
}

// TestHandleAllocs guards the hot path's allocations per answered request
// (decode, decide, encode, log, write), with the answer line off and on.
func TestHandleAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	req := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes()
	src := &net.UDPAddr{IP: net.IPv4zero, Port: 68}
	for level, most := range map[slog.Level]float64{slog.LevelWarn: 16, slog.LevelInfo: 20} {
		s := testLoop(t, ServerConfig{Config: *testConfig()}, level)
		buf := make([]byte, maxDatagram+1)
		out := make([]byte, 0, 1024)
		var dec Decoder
		var wrote int
		n := testing.AllocsPerRun(500, func() {
			k := copy(buf, req)
			out = s.handle(context.Background(), nopWriter{&wrote}, nil, PortDHCP, buf[:k], src, net.IPv4bcast, 2, &dec, out)
		})
		if wrote == 0 {
			t.Fatalf("level %v: nothing sent", level)
		}
		t.Logf("level %v: %.1f allocations per answered request", level, n)
		if n > most {
			t.Errorf("level %v: %.1f allocations per answered request, want at most %.0f", level, n, most)
		}
	}
}

// nopWriter is a Transport that only counts writes.
type nopWriter struct{ n *int }

func (nopWriter) ReadPacket([]byte) (int, *net.UDPAddr, net.IP, int, error) {
	return 0, nil, nil, 0, net.ErrClosed
}
func (w nopWriter) WritePacket([]byte, net.IP, int, *net.UDPAddr) error { *w.n++; return nil }
func (nopWriter) Close() error                                          { return nil }
