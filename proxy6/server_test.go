package proxy6

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxeproxy/pxeproxy/internal/macprefix"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
	"golang.org/x/net/ipv6"
)

var testServerLL = net.ParseIP("fe80::5054:ff:feaa:bbcc")

// fakeWriter records what the Server sends.
type fakeWriter struct {
	mu   sync.Mutex
	sent []sent
}

type sent struct {
	b   []byte
	cm  ipv6.ControlMessage
	dst string
}

func (w *fakeWriter) WriteTo(b []byte, cm *ipv6.ControlMessage, dst net.Addr) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, sent{append([]byte(nil), b...), *cm, dst.String()})
	return len(b), nil
}

// testServerLoop is a Server whose interface table holds one interface,
// eth0 (index 2), with testServerLL and testServer, whatever the host has;
// lookups counts the table's reloads.
func testServerLoop(t *testing.T, cfg *Config, level slog.Level) (*Server, *testlog.Buffer, *int) {
	t.Helper()
	logs := &testlog.Buffer{}
	s := New(*cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})))
	lookups := new(int)
	s.ifaces.Lookup = func() ([]net.Interface, error) {
		*lookups++
		return []net.Interface{{Index: 2, Name: "eth0", Flags: net.FlagUp | net.FlagMulticast, HardwareAddr: testServerMAC}}, nil
	}
	s.ifaces.AddrsOf = func(*net.Interface) ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: testServerLL, Mask: net.CIDRMask(64, 128)},
			&net.IPNet{IP: testServer, Mask: net.CIDRMask(64, 128)},
		}, nil
	}
	return s, logs, lookups
}

var allDHCPDst = net.ParseIP("ff02::1:2")

// eui64 is the link-local address EDK2 makes of mac.
func eui64(mac net.HardwareAddr) net.IP {
	ip := net.ParseIP("fe80::")
	ip[8], ip[9], ip[10], ip[11], ip[12] = mac[0]^2, mac[1], mac[2], 0xff, 0xfe
	ip[13], ip[14], ip[15] = mac[3], mac[4], mac[5]
	return ip
}

// nthClient is the n-th distinct EDK2 client: its MAC, its DUID-UUID and
// its SOLICIT.
func nthClient(n int) (net.HardwareAddr, []byte, []byte) {
	mac := net.HardwareAddr{0x52, 0x54, 0x01, byte(n >> 16), byte(n >> 8), byte(n)}
	duid := append([]byte{0, 4}, make([]byte, 16)...)
	binary.BigEndian.PutUint32(duid[14:], uint32(n))
	return mac, duid, msgBytes(solicit, with(edk2x64, dhcpv6.OptionClientID, duid))
}

func TestHandleSolicitThen4011(t *testing.T) {
	cfg := testConfig()
	cfg.Allow = []macprefix.Prefix{macprefix.Prefix(testMAC)}
	cfg.MACBootFiles = []macprefix.BootFile{{Prefix: macprefix.Prefix(testMAC), File: "this-machine.efi"}}
	s, _, _ := testServerLoop(t, cfg, slog.LevelDebug)
	w := &fakeWriter{}
	ctx := context.Background()

	s.handle(ctx, w, nil, PortDHCP, msgBytes(solicit, edk2x64), 2, allDHCPDst, &net.UDPAddr{IP: testLinkLocal, Port: PortClient})
	s.handle(ctx, w, nil, PortPXE, msgBytes(request, edk2Request4011(7, testServerID)), 2, testServer, &net.UDPAddr{IP: testLease, Port: PortPXE})
	if len(w.sent) != 2 {
		t.Fatalf("%d replies, want 2", len(w.sent))
	}
	adv, rep := w.sent[0], w.sent[1]
	// The ADVERTISE goes to the client's link-local address, from ours, out
	// of the ingress interface.
	if adv.dst != "[fe80::5054:ff:fe12:3456%eth0]:546" || !adv.cm.Src.Equal(testServerLL) || adv.cm.IfIndex != 2 {
		t.Errorf("ADVERTISE to %s from %s if %d", adv.dst, adv.cm.Src, adv.cm.IfIndex)
	}
	// The 4011 REPLY comes from the address the REQUEST was sent to, routed.
	if rep.dst != "[2001:db8:1::1c3]:4011" || !rep.cm.Src.Equal(testServer) || rep.cm.IfIndex != 0 {
		t.Errorf("REPLY to %s from %s if %d", rep.dst, rep.cm.Src, rep.cm.IfIndex)
	}
	for _, x := range w.sent {
		m, err := dhcpv6.MessageFromBytes(x.b)
		if err != nil {
			t.Fatal(err)
		}
		// The allow list and the per-MAC file held for the 4011 REQUEST too,
		// though it came from a global address: the MAC was learnt.
		if u := m.Options.BootFileURL(); u != "tftp://[2001:db8:1::1]/this-machine.efi" {
			t.Errorf("%s: option 59 %q", m.MessageType, u)
		}
	}
}

func TestHandleRelayed(t *testing.T) {
	s, _, _ := testServerLoop(t, testConfig(), slog.LevelDebug)
	w := &fakeWriter{}
	req := relayFwd(msgBytes(solicit, edk2x64), 0, net.ParseIP("2001:db8:3::1"), testLinkLocal, interfaceX)
	s.handle(context.Background(), w, nil, PortDHCP, req, 2, testServer, &net.UDPAddr{IP: testRelayAddr, Port: PortDHCP})
	if len(w.sent) != 1 {
		t.Fatalf("%d replies, want 1", len(w.sent))
	}
	x := w.sent[0]
	if x.dst != "[2001:db8:2::fe]:547" || !x.cm.Src.Equal(testServer) || x.cm.IfIndex != 0 {
		t.Fatalf("RELAY-REPL to %s from %s if %d", x.dst, x.cm.Src, x.cm.IfIndex)
	}
	if x.b[0] != byte(dhcpv6.MessageTypeRelayReply) {
		t.Fatalf("sent message type %d", x.b[0])
	}
}

// TestHandleGarbage: nothing is sent for junk, ordinary DHCPv6 traffic,
// unknown interfaces or a missing IPV6_PKTINFO, and each has its reason.
func TestHandleGarbage(t *testing.T) {
	reasons := map[string]int{}
	cfg := testConfig()
	cfg.OnIgnore = func(_ int, r string) { reasons[r]++ }
	s, logs, _ := testServerLoop(t, cfg, slog.LevelDebug)
	w := &fakeWriter{}
	ctx := context.Background()
	src := &net.UDPAddr{IP: testLinkLocal, Port: PortClient}
	for _, junk := range [][]byte{{}, {1}, {1, 2, 3}, make([]byte, 3000), {12, 0}, nested(msgBytes(solicit, edk2x64), 40),
		msgBytes(dhcpv6.MessageTypeRenew, edk2x64), msgBytes(solicit, []opt{{dhcpv6.OptionClientID, duidLL}}),
		append(msgBytes(solicit, edk2x64), 0, 1, 0, 9), deepOption9()} {
		s.handle(ctx, w, nil, PortDHCP, junk, 2, allDHCPDst, src)
	}
	s.handle(ctx, w, nil, PortDHCP, msgBytes(solicit, edk2x64), 7, allDHCPDst, src)
	s.handle(ctx, w, nil, PortDHCP, msgBytes(solicit, edk2x64), 0, nil, src)
	if len(w.sent) != 0 {
		t.Fatalf("sent %d replies to junk", len(w.sent))
	}
	for _, r := range []string{"malformed", "message-type", "not-pxe", "relay-too-deep", "interface-not-served", "no-pktinfo"} {
		if reasons[r] == 0 {
			t.Errorf("no packet ignored for %q: %v", r, reasons)
		}
	}
	if strings.Contains(logs.String(), "level=INFO") {
		t.Errorf("junk logged at Info:\n%s", logs)
	}
	// A line that names no client escapes the log limiter's per-client
	// bound.
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(l, " peer=") && !strings.Contains(l, " src=") && !strings.Contains(l, " mac=") {
			t.Errorf("a per-packet line names no client: %s", l)
		}
	}
}

// TestMACCacheFlood: distinct clients beyond the bound keep the cache at its
// bound, the newest entries stay, the oldest go.
func TestMACCacheFlood(t *testing.T) {
	s, _, _ := testServerLoop(t, testConfig(), slog.LevelWarn)
	w := &fakeWriter{}
	ctx := context.Background()
	const n = 3*macCacheSize + 17
	for i := range n {
		mac, _, sol := nthClient(i)
		s.handle(ctx, w, nil, PortDHCP, sol, 2, allDHCPDst, &net.UDPAddr{IP: eui64(mac), Port: PortClient})
	}
	if len(w.sent) != n {
		t.Fatalf("%d replies to %d SOLICITs", len(w.sent), n)
	}
	if got := s.macs.len(); got != macCacheSize {
		t.Fatalf("cache holds %d DUIDs after %d clients, want the bound %d", got, n, macCacheSize)
	}
	mac, duid, _ := nthClient(n - 1)
	if got := s.macs.get(duid); got.String() != mac.String() {
		t.Errorf("newest client's MAC %s, want %s", got, mac)
	}
	if _, duid, _ := nthClient(0); s.macs.get(duid) != nil {
		t.Error("oldest client still cached")
	}
	// A client seen again keeps one entry.
	_, _, sol := nthClient(n - 1)
	s.handle(ctx, w, nil, PortDHCP, sol, 2, allDHCPDst, &net.UDPAddr{IP: eui64(mac), Port: PortClient})
	if got := s.macs.len(); got != macCacheSize {
		t.Fatalf("cache holds %d after a repeat", got)
	}
}

func TestMACCacheRefusesLongDUID(t *testing.T) {
	c := newMACCache(4)
	c.put(make([]byte, maxDUID+1), testMAC)
	c.put(nil, testMAC)
	if c.len() != 0 {
		t.Fatalf("cache kept %d unusable keys", c.len())
	}
}

// TestRefusedLogBounded: a flood of denied clients makes at most
// refusedPerSecond Info lines a second; the rest are Debug.
func TestRefusedLogBounded(t *testing.T) {
	cfg := testConfig()
	cfg.Deny = []macprefix.Prefix{{0x52, 0x54}}
	s, logs, _ := testServerLoop(t, cfg, slog.LevelInfo)
	now := time.Unix(1000, 0)
	s.refused.now = func() time.Time { return now }
	w := &fakeWriter{}
	for i := range 5000 {
		if i == 2500 {
			now = now.Add(time.Second)
		}
		mac, _, sol := nthClient(i)
		s.handle(context.Background(), w, nil, PortDHCP, sol, 2, allDHCPDst, &net.UDPAddr{IP: eui64(mac), Port: PortClient})
	}
	if len(w.sent) != 0 {
		t.Fatalf("answered %d denied clients", len(w.sent))
	}
	if got := strings.Count(logs.String(), "msg=refused"); got != 2*refusedPerSecond {
		t.Fatalf("%d refused lines over two seconds, want %d", got, 2*refusedPerSecond)
	}
}

// TestIfaceReloadBounded: packets on an interface we do not serve reload
// the table at most once a second.
func TestIfaceReloadBounded(t *testing.T) {
	s, _, lookups := testServerLoop(t, testConfig(), slog.LevelWarn)
	now := time.Unix(1000, 0)
	s.ifaces.Now = func() time.Time { return now }
	w := &fakeWriter{}
	for i := range 10000 {
		if i%1000 == 0 {
			now = now.Add(300 * time.Millisecond)
		}
		s.handle(context.Background(), w, nil, PortDHCP, msgBytes(solicit, edk2x64), 9, allDHCPDst, &net.UDPAddr{IP: testLinkLocal, Port: PortClient})
	}
	// 3 s of fake time: the first load and about one reload per second.
	if *lookups > 5 {
		t.Fatalf("%d interface reloads for 10000 packets over 3 s", *lookups)
	}
}

func TestSource(t *testing.T) {
	info := &ifaceInfo{index: 2, name: "eth0", linkLocal: testServerLL,
		addrs: []*net.IPNet{{IP: testServer, Mask: net.CIDRMask(64, 128)}}}
	in := Ingress{IfIndex: 2, Addr: testServer}
	cases := map[string]struct {
		reqDst net.IP
		to     string
		from   string
		outIf  int
	}{
		"multicast solicit: our link-local, ingress interface": {allDHCPDst, "[fe80::1%eth0]:546", "fe80::5054:ff:feaa:bbcc", 2},
		"unicast 4011: the address it was sent to, routed":     {net.ParseIP("2001:db8:1::2"), "[2001:db8:1::1c3]:4011", "2001:db8:1::2", 0},
		"multicast from a relay on the link: global":           {allDHCPDst, "[2001:db8:2::fe]:547", "2001:db8:1::1", 0},
		"unicast to our link-local":                            {testServerLL, "[fe80::1%eth0]:546", "fe80::5054:ff:feaa:bbcc", 2},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			to, err := net.ResolveUDPAddr("udp6", c.to)
			if err != nil {
				t.Fatal(err)
			}
			from, outIf := source(c.reqDst, to, info, in)
			if from.String() != c.from || outIf != c.outIf {
				t.Fatalf("source = %s if %d, want %s if %d", from, outIf, c.from, c.outIf)
			}
		})
	}
}

func TestAddrFor(t *testing.T) {
	info := &ifaceInfo{addrs: []*net.IPNet{
		{IP: net.ParseIP("2001:db8:1::1"), Mask: net.CIDRMask(64, 128)},
		{IP: net.ParseIP("fd00:5::1"), Mask: net.CIDRMask(64, 128)},
	}}
	for peer, want := range map[string]string{
		"fd00:5::99":   "fd00:5::1",
		"2001:db8:1::": "2001:db8:1::1",
		"2001:db8:9::": "2001:db8:1::1",
		"fe80::1":      "2001:db8:1::1",
	} {
		if got := info.addrFor(net.ParseIP(peer)).String(); got != want {
			t.Errorf("addrFor(%s) = %s, want %s", peer, got, want)
		}
	}
	if got := (&ifaceInfo{}).addrFor(testLease); got != nil {
		t.Errorf("addrFor without a global address = %s", got)
	}
}

// BenchmarkHandleSolicit is the user-space cost of one SOLICIT through the
// loop: quickCheck, decode, decide, encode (the socket calls are faked).
func BenchmarkHandleSolicit(b *testing.B) {
	s, _, _ := testServerLoop(&testing.T{}, testConfig(), slog.LevelWarn)
	w := &discardWriter{}
	src := &net.UDPAddr{IP: testLinkLocal, Port: PortClient, Zone: "eth0"}
	req := msgBytes(solicit, edk2x64)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s.handle(ctx, w, nil, PortDHCP, req, 2, allDHCPDst, src)
	}
	if w.n == 0 {
		b.Fatal("no reply")
	}
}

type discardWriter struct{ n int }

func (w *discardWriter) WriteTo(b []byte, _ *ipv6.ControlMessage, _ net.Addr) (int, error) {
	w.n++
	return len(b), nil
}

// deepOption9 is a PXE SOLICIT with an option 9 holding as many nested
// RELAY-FORWs as a datagram can (1,700): the codec would decode option 9
// there, recursively, copying at each level (some 100 ms of CPU).
func deepOption9() []byte {
	inner := msgBytes(solicit, nil)
	for len(inner)+38 < 65000 {
		inner = relayFwd(inner, 0, testServer, testLinkLocal)
	}
	return msgBytes(solicit, append(edk2x64, opt{dhcpv6.OptionRelayMsg, inner}))
}

// TestBootReplyDelayQueue: 4011 REPLYs wait in a bounded queue, so that
// EDK2 has its reading socket open when they come (BootReplyDelay), and
// the request after them is not held up. A flood of REQUESTs fills the
// queue and the rest are counted as delay-queue-full, never queued; what
// waits is sent in order, each to its own client, once the delay passes.
func TestBootReplyDelayQueue(t *testing.T) {
	cfg := testConfig()
	var mu sync.Mutex
	ignored := map[string]int{}
	cfg.OnIgnore = func(_ int, reason string) { mu.Lock(); ignored[reason]++; mu.Unlock() }
	s, _, _ := testServerLoop(t, cfg, slog.LevelInfo)
	w := &fakeWriter{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const size, flood = 8, 100
	dq := newDelayQueue(size, 200*time.Millisecond)
	start := time.Now()
	for i := range flood {
		req := msgBytes(request, edk2Request4011(7, testServerID))
		req[3] = byte(i) // its own transaction id
		lease := net.ParseIP("2001:db8:1::100")
		lease[15] = byte(i)
		s.handle(ctx, w, dq, PortPXE, req, 2, testServer, &net.UDPAddr{IP: lease, Port: PortPXE})
	}
	if len(w.sent) != 0 || dq.Len() != size || ignored[ReasonDelayFull] != flood-size {
		t.Fatalf("after the flood: %d sent, %d queued, %d dropped; want 0, %d, %d", len(w.sent), dq.Len(), ignored[ReasonDelayFull], size, flood-size)
	}
	done := make(chan struct{})
	go func() { dq.Run(ctx, func(ctx context.Context, r delayedReply) { s.send(ctx, w, r) }); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		w.mu.Lock()
		n := len(w.sent)
		w.mu.Unlock()
		if n == size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delayed replies sent", n, size)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Errorf("replies left before the delay")
	}
	for i, x := range w.sent {
		m, err := dhcpv6.MessageFromBytes(x.b)
		if err != nil || m.MessageType != dhcpv6.MessageTypeReply || m.TransactionID[2] != byte(i) ||
			x.dst != fmt.Sprintf("[2001:db8:1::%x]:4011", 0x100+i) {
			t.Fatalf("reply %d: %v to %s (%v)", i, m, x.dst, err)
		}
	}
	cancel()
	<-done
}

// TestHandleLease: a PXE client's REQUEST to the site's server reports its
// MAC and the address in its IA_NA to OnLease, directly and relayed; the
// same REQUEST without the PXE vendor class (EDK2's own IPv6 stack) or from
// iPXE, and a SOLICIT, report nothing.
func TestHandleLease(t *testing.T) {
	type lease struct{ mac, addr string }
	var got []lease
	cfg := testConfig()
	cfg.OnLease = func(mac net.HardwareAddr, addrs []net.IP) {
		for _, a := range addrs {
			got = append(got, lease{mac.String(), a.String()})
		}
	}
	s, _, _ := testServerLoop(t, cfg, slog.LevelDebug)
	w := &fakeWriter{}
	ctx := context.Background()
	// IA_NA: IAID, T1, T2, then an IAADDR with the address the site offered.
	iaaddr := append(append([]byte{0, byte(dhcpv6.OptionIAAddr), 0, 24}, testLease...), make([]byte, 8)...)
	ia := append([]byte{0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0, 0, 0, 0, 0}, iaaddr...)
	site := []byte{0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, 2}
	leaseReq := with(with(without(edk2Options(vendorPXE, 7), dhcpv6.OptionIANA), dhcpv6.OptionServerID, site), dhcpv6.OptionIANA, ia)
	client := &net.UDPAddr{IP: testLinkLocal, Port: PortClient}

	s.handle(ctx, w, nil, PortDHCP, msgBytes(solicit, edk2x64), 2, allDHCPDst, client)
	s.handle(ctx, w, nil, PortDHCP, msgBytes(request, leaseReq), 2, allDHCPDst, client)
	s.handle(ctx, w, nil, PortDHCP, msgBytes(request, without(leaseReq, dhcpv6.OptionVendorClass)), 2, allDHCPDst, client)
	s.handle(ctx, w, nil, PortDHCP, msgBytes(request, with(leaseReq, dhcpv6.OptionUserClass, userClass("iPXE"))), 2, allDHCPDst, client)
	relayed := relayFwd(msgBytes(request, leaseReq), 0, net.ParseIP("2001:db8:3::1"), testLinkLocal)
	s.handle(ctx, w, nil, PortDHCP, relayed, 2, testServer, &net.UDPAddr{IP: testRelayAddr, Port: PortDHCP})

	want := []lease{{testMAC.String(), testLease.String()}, {testMAC.String(), testLease.String()}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("leases %v, want %v", got, want)
	}
	if len(w.sent) != 1 {
		t.Errorf("%d packets sent, want 1 (the ADVERTISE): a REQUEST to another server is never answered", len(w.sent))
	}
}
