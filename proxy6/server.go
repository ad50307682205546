package proxy6

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"golang.org/x/net/ipv6"

	"github.com/pxeproxy/pxeproxy/internal/dhcpserve"
)

// allDHCP is All_DHCP_Relay_Agents_and_Servers (RFC 8415 7.1): clients
// send SOLICIT and INFORMATION-REQUEST there.
var allDHCP = net.ParseIP("ff02::1:2")

// Server is the socket loop around Reply: read, decode, decide, write. One
// goroutine per socket (the caller's Serve), plus one on the 4011 socket
// that sends the REPLYs held back for BootReplyDelay; none per packet.
// Everything a packet can make is bounded: the learnt-MAC cache by
// macCacheSize entries, the held-back REPLYs by maxDelayed, the interface
// table by the host's interfaces (reloaded at most once a second on a
// miss), "refused" Info lines by refusedPerSecond.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ifaces  *ifaceTable
	macs    *macCache
	refused *budget
}

// Bounds on what LAN packets make.
const (
	macCacheSize     = 4096 // DUIDs whose MAC we learnt; a SOLICIT is some 100 bytes of key
	refusedPerSecond = 10   // Info lines for allow/deny refusals; the rest go to Debug
	maxDatagram      = 65535
)

// New returns a Server answering as cfg says on cfg.Interfaces. The Server
// is safe for Serve on several sockets at once (547 and 4011): they share
// the interface table and the MACs learnt from SOLICITs, which EDK2's 4011
// REQUEST needs.
func New(cfg Config, log *slog.Logger) *Server {
	return &Server{
		cfg:     cfg,
		log:     log,
		ifaces:  newIfaceTable(cfg.Interfaces),
		macs:    newMACCache(macCacheSize),
		refused: &budget{max: refusedPerSecond, now: time.Now},
	}
}

// Interfaces returns the interfaces served right now with their IPv6
// addresses (link-local first), for the start line.
func (s *Server) Interfaces() map[string][]string {
	out := map[string][]string{}
	for _, i := range s.ifaces.Snapshot() {
		if i.linkLocal != nil {
			out[i.name] = append(out[i.name], i.linkLocal.String())
		}
		for _, a := range i.addrs {
			out[i.name] = append(out[i.name], a.IP.String())
		}
	}
	return out
}

// Serve answers requests arriving on conn, a *net.UDPConn bound to [::]:547
// or [::]:4011, until ctx ends. It joins ff02::1:2 on the served interfaces
// (again every dhcpserve.RefreshEvery, for interfaces that come up later) and reads
// the ingress interface and destination address of each datagram
// (IPV6_RECVPKTINFO). A conn closed because ctx ended is a clean exit.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	la, ok := conn.LocalAddr().(*net.UDPAddr)
	if _, isUDP := conn.(*net.UDPConn); !ok || !isUDP {
		return fmt.Errorf("proxy6 serve: %T on %v is not a UDP socket", conn, conn.LocalAddr())
	}
	port := la.Port
	if port != PortDHCP && port != PortPXE {
		return fmt.Errorf("proxy6 serve: port %d is neither %d nor %d", port, PortDHCP, PortPXE)
	}
	p := ipv6.NewPacketConn(conn)
	if err := p.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
		return fmt.Errorf("port %d: ask for IPV6_PKTINFO: %w", port, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var dq *delayQueue
	if port == PortPXE {
		dq = newDelayQueue(maxDelayed, BootReplyDelay)
		stopDelayed := dq.Start(ctx, func(ctx context.Context, r delayedReply) { s.send(ctx, p, r) })
		defer stopDelayed()
	}

	joined := map[int]bool{} // by interface index: bounded by the host's interfaces
	s.join(ctx, p, port, joined)
	buf := make([]byte, maxDatagram)
	_ = conn.SetReadDeadline(time.Now().Add(dhcpserve.RefreshEvery))
	for {
		n, cm, src, err := p.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.join(ctx, p, port, joined)
				_ = conn.SetReadDeadline(time.Now().Add(dhcpserve.RefreshEvery))
				continue
			}
			return fmt.Errorf("read on port %d: %w", port, err)
		}
		var ifIndex int
		var dst net.IP
		if cm != nil {
			ifIndex, dst = cm.IfIndex, cm.Dst
		}
		usrc, _ := src.(*net.UDPAddr)
		s.handle(ctx, p, dq, port, buf[:n], ifIndex, dst, usrc)
	}
}

// join makes sure the socket is in ff02::1:2 on every served interface, and
// forgets interfaces that went away.
func (s *Server) join(ctx context.Context, p *ipv6.PacketConn, port int, joined map[int]bool) {
	served := map[int]bool{}
	for _, i := range s.ifaces.Snapshot() {
		served[i.index] = true
		if joined[i.index] || i.linkLocal == nil {
			continue
		}
		err := p.JoinGroup(&net.Interface{Index: i.index, Name: i.name}, &net.UDPAddr{IP: allDHCP})
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "cannot join ff02::1:2", slog.String("svc", svcName(port)),
				slog.String("iface", i.name), slog.String("err", err.Error()))
			continue
		}
		joined[i.index] = true
		s.log.LogAttrs(ctx, slog.LevelDebug, "joined ff02::1:2", slog.String("svc", svcName(port)), slog.String("iface", i.name))
	}
	for idx := range joined {
		if !served[idx] {
			delete(joined, idx)
		}
	}
}

// writer is the sending half of *ipv6.PacketConn.
type writer interface {
	WriteTo(b []byte, cm *ipv6.ControlMessage, dst net.Addr) (int, error)
}

// handle processes one datagram that came in on ifIndex to dst from src.
// It never panics on bad input: the codec returns errors, and quickCheck
// keeps from it what would make it work hard (over maxMessage bytes).
// With dq, the reply waits there for its time instead of leaving at once.
func (s *Server) handle(ctx context.Context, w writer, dq *delayQueue, port int, pkt []byte, ifIndex int, dst net.IP, src *net.UDPAddr) {
	if ifIndex == 0 || src == nil {
		// The line names its client, so the log limiter holds it to a few
		// a second (as proxy's does).
		s.ignore(ctx, port, "no-pktinfo", nil, func() []slog.Attr {
			if src == nil {
				return []slog.Attr{slog.String("src", "unknown")}
			}
			return []slog.Attr{slog.String("peer", src.String())}
		})
		return
	}
	info := s.ifaces.Get(ifIndex)
	if info == nil {
		s.ignore(ctx, port, "interface-not-served", nil, func() []slog.Attr {
			return []slog.Attr{slog.Int("ifindex", ifIndex), slog.String("peer", src.String())}
		})
		return
	}
	where := func() []slog.Attr {
		return []slog.Attr{slog.String("iface", info.name), slog.String("peer", src.String()), slog.Int("bytes", len(pkt))}
	}
	if err := quickCheck(pkt); err != nil {
		s.ignore(ctx, port, Reason(err), err, where)
		return
	}
	req, err := dhcpv6.FromBytes(pkt)
	if err != nil {
		s.ignore(ctx, port, ErrMalformed.Error(), err, where)
		return
	}
	if src.IP.IsLinkLocalUnicast() && src.Zone == "" {
		src = &net.UDPAddr{IP: src.IP, Port: src.Port, Zone: info.name}
	}
	in := Ingress{Port: port, IfIndex: ifIndex, IfName: info.name, HWAddr: info.mac, Src: src}
	relays, m, err := unwrap(req)
	if err != nil {
		s.ignore(ctx, port, Reason(err), err, where)
		return
	}
	var link net.IP
	if len(relays) > 0 {
		link = relays[len(relays)-1].LinkAddr
	}
	in.Addr = info.addrFor(link, src.IP)
	clientID := rawOption(m, dhcpv6.OptionClientID)
	in.MAC = s.macs.get(clientID)

	ans, err := Reply(req, in, &s.cfg)
	if err != nil {
		s.lease(m, relays, in)
		s.refuse(ctx, port, err, m, info.name, src)
		return
	}
	if ans.MACFrom != MACFromTransport && ans.MAC != nil {
		// EDK2's 4011 REQUEST comes from its leased address, with a
		// DUID-UUID: what identifies it is this, learnt from its SOLICIT.
		s.macs.put(clientID, ans.MAC)
	}
	to := Destination(req, in)
	from, outIf := source(dst, to, info, in)
	r := delayedReply{b: ans.Packet.ToBytes(), ans: ans, in: in, xid: m.TransactionID, iface: info.name,
		from: from, outIf: outIf, to: to}
	if dq == nil {
		s.send(ctx, w, r)
		return
	}
	// The codec may leave the MAC pointing into the read buffer, which the
	// next read reuses.
	ans.MAC = bytes.Clone(ans.MAC)
	if !dq.Push(time.Now().Add(dq.delay), r) {
		s.ignore(ctx, port, ReasonDelayFull, nil, where)
	}
}

// svcName is the svc key of the lines about port.
func svcName(port int) string {
	if port == PortPXE {
		return "pxe6-4011"
	}
	return "dhcp6"
}

// send writes one encoded reply and reports it.
func (s *Server) send(ctx context.Context, w writer, r delayedReply) {
	ans, port := r.ans, r.in.Port
	if _, err := w.WriteTo(r.b, &ipv6.ControlMessage{Src: r.from, IfIndex: r.outIf}, r.to); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "send failed", slog.String("svc", svcName(port)), slog.String("mac", ans.MAC.String()),
			slog.String("xid", xidString(r.xid)), slog.String("iface", r.iface), slog.String("peer", r.to.String()),
			slog.String("err", err.Error()))
		return
	}
	if s.cfg.OnAnswer != nil {
		s.cfg.OnAnswer(ans, r.in)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "pxe reply", slog.String("svc", svcName(port)), slog.String("mac", ans.MAC.String()),
		slog.String("mac_from", string(ans.MACFrom)), slog.String("xid", xidString(r.xid)),
		slog.String("type", ans.Reply.MessageType.String()), slog.Int("arch", int(ans.Arch)), slog.String("class", string(ans.Class)),
		slog.String("iface", r.iface), slog.Int("relays", ans.Relays), slog.String("file", ans.File),
		slog.String("from", r.from.String()), slog.String("peer", r.to.String()))
}

// source picks the reply's source address and, for link-local and multicast
// destinations, the interface it must leave by. A request sent to one of our
// addresses is answered from it: EDK2 sent its 4011 REQUEST to the address
// in our option 59, and older EDK2 reads the answer only from there
// (PxeBcDhcp6Discover). A multicast request is answered from our
// link-local address on the ingress interface when the client is on the
// link, else from our global address there.
func source(reqDst net.IP, to *net.UDPAddr, info *ifaceInfo, in Ingress) (net.IP, int) {
	outIf := 0
	if to.IP.IsLinkLocalUnicast() || to.IP.IsMulticast() {
		outIf = in.IfIndex
	}
	if reqDst != nil && !reqDst.IsMulticast() && !reqDst.IsUnspecified() {
		return reqDst, outIf
	}
	if to.IP.IsLinkLocalUnicast() && info.linkLocal != nil {
		return info.linkLocal, outIf
	}
	if in.Addr != nil {
		return in.Addr, outIf
	}
	return info.linkLocal, outIf
}

// lease reports the addresses a PXE client asks the site's server for in
// its REQUEST (RFC 8415 18.2.2: the IA_NA of the ADVERTISE it chose) to
// Config.OnLease. Only PXE firmware's REQUEST counts: EDK2's own IPv6 stack
// leases another address, which it sends the 4011 REQUEST from, but the
// download comes from the PXE lease. iPXE's does not either: it leases both
// families at once and fetches over either (IPv4 in the e2e relay6 run),
// and the journal keeps one address per client.
func (s *Server) lease(m *dhcpv6.Message, relays []*dhcpv6.RelayMessage, in Ingress) {
	if s.cfg.OnLease == nil || m.MessageType != dhcpv6.MessageTypeRequest || in.Port != PortDHCP ||
		!bytes.HasPrefix(pxeVendorClass(m), []byte(vendorPXE)) || isIPXE(m) {
		return
	}
	var addrs []net.IP
	for _, ia := range m.Options.IANA() {
		for _, a := range ia.Options.Addresses() {
			addrs = append(addrs, a.IPv6Addr)
		}
	}
	mac, _ := ClientMAC(m, relays, in)
	if len(addrs) > 0 && mac != nil {
		s.cfg.OnLease(bytes.Clone(mac), addrs)
	}
}

// refuse counts and logs a request Reply would not answer: at Debug, but
// allow/deny refusals at Info (an admin who set up access control wants to
// see it work) within refusedPerSecond.
func (s *Server) refuse(ctx context.Context, port int, err error, m *dhcpv6.Message, iface string, src *net.UDPAddr) {
	reason := Reason(err)
	if s.cfg.OnIgnore != nil {
		s.cfg.OnIgnore(port, reason)
	}
	level, msg := slog.LevelDebug, "ignored"
	if (errors.Is(err, ErrDenied) || errors.Is(err, ErrNotAllowed)) && s.refused.take() {
		level, msg = slog.LevelInfo, "refused"
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	s.log.LogAttrs(ctx, level, msg, slog.String("svc", svcName(port)), slog.String("reason", reason),
		slog.String("iface", iface), slog.String("peer", src.String()), slog.String("xid", xidString(m.TransactionID)),
		slog.String("type", m.MessageType.String()), slog.String("err", err.Error()))
}

// ignore counts a packet not answered and logs it at Debug.
func (s *Server) ignore(ctx context.Context, port int, reason string, err error, attrs func() []slog.Attr) {
	dhcpserve.Ignored(ctx, s.log, s.cfg.OnIgnore, port, svcName(port), reason, err, attrs)
}

func xidString(x dhcpv6.TransactionID) string {
	const hex = "0123456789abcdef"
	b := [8]byte{'0', 'x'}
	for i, c := range x {
		b[2+2*i], b[3+2*i] = hex[c>>4], hex[c&15]
	}
	return string(b[:])
}

// macCache remembers the MAC found for a DUID, for EDK2's 4011 REQUEST,
// which comes from a leased address and carries a DUID-UUID. At most max
// entries; the oldest goes first.
type macCache struct {
	mu   sync.Mutex
	max  int
	m    map[string]net.HardwareAddr
	ring []string // keys in insertion order, a ring once full
	next int      // oldest entry once the ring is full
}

// maxDUID is the longest DUID kept: 128 bytes of identifier and its type
// (RFC 8415 11.1).
const maxDUID = 130

func newMACCache(max int) *macCache {
	return &macCache{max: max, m: make(map[string]net.HardwareAddr)}
}

func (c *macCache) put(duid []byte, mac net.HardwareAddr) {
	if len(duid) == 0 || len(duid) > maxDUID || len(mac) == 0 {
		return
	}
	k := string(duid)
	mac = bytes.Clone(mac)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		c.m[k] = mac
		return
	}
	if len(c.ring) < c.max {
		c.ring = append(c.ring, k)
	} else {
		delete(c.m, c.ring[c.next])
		c.ring[c.next] = k
		c.next = (c.next + 1) % c.max
	}
	c.m[k] = mac
}

func (c *macCache) get(duid []byte) net.HardwareAddr {
	if len(duid) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[string(duid)]
}

func (c *macCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// budget allows max events per wall-clock second.
type budget struct {
	mu     sync.Mutex
	max    int
	now    func() time.Time
	second int64
	used   int
}

func (b *budget) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if sec := b.now().Unix(); sec != b.second {
		b.second, b.used = sec, 0
	}
	if b.used >= b.max {
		return false
	}
	b.used++
	return true
}
