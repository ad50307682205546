package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/pxeproxy/pxeproxy/internal/dhcpserve"
)

// Transport is a socket that says where each datagram came in: the
// portable ConnTransport here, or the Linux sockets of package dhcpsock
// (recvmmsg, raw AF_PACKET).
//
// The methods use standard types only, not a metadata struct of this
// package: a socket package then satisfies the interface without
// importing the decision, and no adapter sits in between.
type Transport interface {
	// ReadPacket reads one datagram into b and returns its length, its
	// source, the address it was sent to and the interface it came in on
	// (0 if unknown). dst may be reused by the next call. A datagram longer
	// than b is cut to len(b) bytes, as recvfrom does.
	ReadPacket(b []byte) (n int, src *net.UDPAddr, dst net.IP, ifIndex int, err error)
	// WritePacket sends b to dst from src; a non-zero ifIndex makes it leave
	// through that interface (broadcasts). Safe for concurrent use.
	WritePacket(b []byte, src net.IP, ifIndex int, dst *net.UDPAddr) error
	// Close ends the transport and any ReadPacket blocked on it.
	Close() error
}

// ServerConfig is what a Server needs: the decision's rules and the loop's
// own settings. Zero values mean the documented defaults.
type ServerConfig struct {
	// Config is the decision's configuration, passed to Reply.
	Config
	// Interfaces names the interfaces to answer on; empty: every up,
	// non-loopback interface with an IPv4 address.
	Interfaces []string
	// ReplyDelay holds every reply back this long: a quirk knob for ROMs
	// that miss an instant answer (dnsmasq's dhcp-reply-delay). Zero: none.
	ReplyDelay time.Duration
	// OnAnswer, when set, is called after each reply is sent (metrics).
	OnAnswer func(a *Answer, in Ingress)
	// OnIgnore, when set, is called for each packet not answered, with the
	// short reason label (metrics).
	OnIgnore func(port int, reason string)
	// OnRequest, when set, is called for each PXE request handled (a
	// DHCP message with option 60 PXEClient or HTTPClient), answered or
	// not, with what the client said and the outcome: the boot journal.
	// That includes the client's DHCPREQUEST to the site's server on port
	// 67, still not answered (its option 50 names the client's address).
	// It runs on the read loop: it must be quick and must not block.
	OnRequest func(Seen)
}

// Seen is a PXE request the server handled and its outcome, in plain
// values. MAC, Vendor and UUID alias the request's buffer: they are valid
// during the OnRequest call only, so reporting costs no allocation.
type Seen struct {
	MAC     net.HardwareAddr
	Port    int                // PortDHCP or PortPXE
	Type    dhcpv4.MessageType // DISCOVER, REQUEST (4011, or the lease request on 67), INFORM
	Arch    uint16             // option 93: the value answered for (the first known one)
	HasArch bool               // option 93 was present
	Vendor  []byte             // option 60
	UUID    []byte             // option 97: a type byte (0) and the 16-byte machine GUID
	IPXE    bool               // sent by a running iPXE

	ClientIP  netip.Addr // ciaddr; invalid when 0.0.0.0
	Relay     netip.Addr // giaddr of a relayed request; invalid when 0.0.0.0
	Requested netip.Addr // option 50 (a REQUEST's chosen lease address)
	Iface     string     // ingress interface

	// File and Server are the boot file (or URL) and boot server sent.
	File   string
	Server netip.Addr
	// Reason is empty when the reply is sent (reported just before the
	// write) or queued by ReplyDelay, else why not: a Reason label or
	// ReasonDelayFull.
	Reason string
}

// Server is the socket loop around Reply: read, decode, decide, pick the
// destination, write. One goroutine per socket, no goroutine per packet.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	ifaces *ifaceTable
}

// New returns a loop that answers on the interfaces of cfg.
func New(cfg ServerConfig, log *slog.Logger) *Server {
	return &Server{cfg: cfg, log: log, ifaces: newIfaceTable(cfg.Interfaces)}
}

// Interfaces returns the interfaces served right now with their IPv4
// addresses, for the start line.
func (s *Server) Interfaces() map[string][]string {
	out := map[string][]string{}
	for _, i := range s.ifaces.Snapshot() {
		for _, a := range i.addrs {
			out[i.name] = append(out[i.name], a.IP.String())
		}
	}
	return out
}

// maxDatagram bounds a DHCP message: 576 is the minimum every host must
// take, real ones stay under the Ethernet MTU; larger ones are refused.
const maxDatagram = 4096

// ReasonDelayFull is the ignore reason of a reply dropped because
// maxDelayed replies already wait for ReplyDelay.
const ReasonDelayFull = "delay-queue-full"

// Serve answers requests arriving on t, which listens on port (PortDHCP
// or PortPXE), until ctx ends. A transport closed because ctx ended is a
// clean exit. Replies still held back by ReplyDelay when Serve returns are
// dropped: no goroutine or timer of Serve outlives it.
func (s *Server) Serve(ctx context.Context, t Transport, port int) error {
	stop := context.AfterFunc(ctx, func() { t.Close() })
	defer stop()

	var dq *delayQueue
	if s.cfg.ReplyDelay > 0 {
		dq = newDelayQueue(maxDelayed)
		stopDelayed := dq.Start(ctx, s.sendDelayed(t))
		defer stopDelayed()
	}

	// One byte over maxDatagram: a datagram that fills buf is too long.
	buf := make([]byte, maxDatagram+1)
	out := make([]byte, 0, 1024) // reply encoding buffer, reused by this loop only
	var dec Decoder              // request decoding, reused by this loop only
	for {
		n, src, dst, ifIndex, err := t.ReadPacket(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("read on port %d: %w", port, err)
		}
		out = s.handle(ctx, t, dq, port, buf[:n], src, dst, ifIndex, &dec, out)
	}
}

// handle processes one datagram and returns the encoding buffer for reuse.
// It never panics on bad input: the codec returns errors for truncated
// packets and bad option lengths.
func (s *Server) handle(ctx context.Context, t Transport, dq *delayQueue, port int, pkt []byte, usrc *net.UDPAddr, rdst net.IP, ifIndex int, dec *Decoder, out []byte) []byte {
	if ifIndex == 0 || usrc == nil {
		s.ignore(ctx, port, "no-pktinfo", nil, func() []slog.Attr {
			if usrc == nil {
				return []slog.Attr{slog.String("src", "unknown")}
			}
			return []slog.Attr{slog.String("peer", usrc.String())}
		})
		return out
	}
	info := s.ifaces.Get(ifIndex)
	if info == nil {
		s.ignore(ctx, port, "interface-not-served", nil, func() []slog.Attr {
			return []slog.Attr{slog.Int("ifindex", ifIndex), slog.String("peer", usrc.String())}
		})
		return out
	}
	where := func() []slog.Attr {
		return []slog.Attr{slog.String("iface", info.name), slog.String("peer", usrc.String()), slog.Int("bytes", len(pkt))}
	}
	if len(pkt) > maxDatagram {
		s.ignore(ctx, port, ErrMalformed.Error(), errors.New("oversize datagram"), where)
		return out
	}
	// Most DHCP traffic on a LAN is not PXE: refuse it without decoding.
	if err := quickCheck(pkt); err != nil {
		s.ignore(ctx, port, Reason(err), err, where)
		return out
	}
	// req aliases pkt: everything below uses it before the next read.
	req, err := dec.Decode(pkt)
	if err != nil {
		s.ignore(ctx, port, ErrMalformed.Error(), err, where)
		return out
	}
	r, ok := s.decide(ctx, port, req, info, usrc, rdst, ifIndex)
	if !ok {
		return out
	}
	out = AppendPacket(out[:0], r.ans.Packet)
	if dq == nil {
		// Reported before the write: what the client does next (its 4011
		// request, another server's reply) then always comes after it.
		s.seen(req, r.in, r.ans, "")
		err := t.WritePacket(out, r.from, r.outIf, r.ans.Dst)
		if err != nil && staleAddr(err) && s.ifaces.Refresh(sameIface) {
			// Our address on the interface changed since the table was
			// loaded (a new lease, a renumbering): the reply carries the
			// old one in option 54 and as its source, and the kernel
			// refuses it. Decide again with the new table, once.
			if info = s.ifaces.Get(ifIndex); info == nil {
				s.report(ctx, r, err)
				return out
			}
			if r, ok = s.decide(ctx, port, req, info, usrc, rdst, ifIndex); !ok {
				return out
			}
			out = AppendPacket(out[:0], r.ans.Packet)
			err = t.WritePacket(out, r.from, r.outIf, r.ans.Dst)
		}
		s.report(ctx, r, err)
		return out
	}
	// Held back in a queue, not in the loop: the next request must not wait
	// for this one's delay. The request buffer and the transport's
	// destination address are reused by the next read, so the queue gets
	// copies of what aliases them.
	p := r.ans.Packet
	p.ClientHWAddr = bytes.Clone(p.ClientHWAddr)
	p.ClientIPAddr, p.GatewayIPAddr = cloneIP(p.ClientIPAddr), cloneIP(p.GatewayIPAddr)
	r.ans.Dst = &net.UDPAddr{IP: cloneIP(r.ans.Dst.IP), Port: r.ans.Dst.Port}
	r.from = cloneIP(r.from)
	reason := ""
	if !dq.Push(time.Now().Add(s.cfg.ReplyDelay), delayedReply{b: bytes.Clone(out), reply: r}) {
		s.ignore(ctx, port, ReasonDelayFull, nil, where)
		reason = ReasonDelayFull
	}
	s.seen(req, r.in, r.ans, reason)
	return out
}

// reply is a decided answer and how it leaves.
type reply struct {
	ans   *Answer
	in    Ingress
	from  net.IP // source address
	outIf int    // outgoing interface of a broadcast, else 0
}

// decide runs Reply on a decoded request and picks the reply's source; a
// request not answered is counted and logged here.
func (s *Server) decide(ctx context.Context, port int, req *dhcpv4.DHCPv4, info *ifaceInfo, usrc *net.UDPAddr, rdst net.IP, ifIndex int) (reply, bool) {
	in := Ingress{
		Port:    port,
		IfIndex: ifIndex,
		IfName:  info.name,
		Addr:    info.addrFor(req.GatewayIPAddr, usrc.IP),
		Src:     usrc,
		Nets:    info.addrs,
	}
	ans, err := Reply(req, in, &s.cfg.Config)
	if err == nil {
		err = s.relayNotOurs(req.GatewayIPAddr)
	}
	if err != nil {
		s.seen(req, in, nil, Reason(err))
		level := slog.LevelDebug
		if errors.Is(err, ErrDenied) || errors.Is(err, ErrNotAllowed) {
			// An admin who set up access control wants to see it work.
			level = slog.LevelInfo
		}
		if s.cfg.OnIgnore != nil {
			s.cfg.OnIgnore(port, Reason(err))
		}
		if s.log.Enabled(ctx, level) {
			msg := "ignored"
			if level == slog.LevelInfo {
				msg = "refused"
			}
			s.log.LogAttrs(ctx, level, msg,
				slog.String("svc", svcName(port)), slog.String("reason", Reason(err)), slog.String("iface", info.name),
				slog.String("mac", req.ClientHWAddr.String()), slog.String("peer", usrc.String()),
				slog.String("xid", req.TransactionID.String()), slog.String("err", err.Error()))
		}
		return reply{}, false
	}
	r := reply{ans: ans, in: in, from: in.Addr}
	if ans.Broadcast {
		// Out of the interface the request came in on, not wherever the
		// routing table sends 255.255.255.255.
		r.outIf = in.IfIndex
	} else if d := rdst.To4(); d != nil && (info.isOurs(d) || s.ifaces.Any(func(i *ifaceInfo) bool { return i.isOurs(d) })) {
		// Unicast request: answer from the address it was sent to, when
		// that is ours (never a broadcast, nor whatever a raw frame named).
		r.from = d
	}
	return r, true
}

// relayNotOurs refuses a giaddr that is our address on another served
// interface: Reply knows the ingress interface's addresses only, and a
// reply to such a giaddr would come back to this host (issue #15: only a
// non-local giaddr is a relay agent).
func (s *Server) relayNotOurs(giaddr net.IP) error {
	gi := giaddr.To4()
	if gi == nil || gi.IsUnspecified() || !s.ifaces.Any(func(i *ifaceInfo) bool { return i.isOurs(gi) }) {
		return nil
	}
	return fmt.Errorf("%w: %s is our address on another interface", ErrBadGiaddr, gi)
}

// staleAddr reports whether a send failed because the source address is
// no longer ours: Linux says ENETUNREACH for an IP_PKTINFO source that
// left the interface; the raw transport says EADDRNOTAVAIL.
func staleAddr(err error) bool {
	return errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EADDRNOTAVAIL)
}

// seen reports a handled PXE request to OnRequest. Requests that are not
// PXE (not-pxe, not-bootrequest) are not a client's boot and are left out.
func (s *Server) seen(req *dhcpv4.DHCPv4, in Ingress, ans *Answer, reason string) {
	if s.cfg.OnRequest == nil || reason == ErrNotPXE.Error() || reason == ErrNotRequest.Error() {
		return
	}
	v := Seen{
		MAC: req.ClientHWAddr, Port: in.Port,
		Vendor: req.Options.Get(dhcpv4.OptionClassIdentifier), UUID: req.Options.Get(dhcpv4.OptionClientMachineIdentifier),
		IPXE: isIPXE(req), ClientIP: addr4(req.ClientIPAddr), Relay: addr4(req.GatewayIPAddr),
		Requested: addr4(req.Options.Get(dhcpv4.OptionRequestedIPAddress)), Iface: in.IfName, Reason: reason,
	}
	v.Arch, v.HasArch = firstArch(req.Options.Get(dhcpv4.OptionClientSystemArchitectureType))
	// Not req.MessageType(): its decoder allocates.
	if mt := req.Options.Get(dhcpv4.OptionDHCPMessageType); len(mt) == 1 {
		v.Type = dhcpv4.MessageType(mt[0])
	}
	if ans != nil && reason == "" {
		v.File, v.Server = ans.File, addr4(ans.Server)
	}
	s.cfg.OnRequest(v)
}

// addr4 converts an IPv4 address of a packet; 0.0.0.0 and anything that is
// not 4 bytes (or 16, mapped) give the invalid Addr.
func addr4(ip []byte) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if a = a.Unmap(); !ok || !a.Is4() || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

func cloneIP(ip net.IP) net.IP { return bytes.Clone(ip) }

// svcName is the svc key of the lines about port.
func svcName(port int) string {
	if port == PortPXE {
		return "pxe4011"
	}
	return "dhcp"
}

// report logs and counts the outcome of one reply's send.
func (s *Server) report(ctx context.Context, r reply, err error) {
	ans, in, dst := r.ans, r.in, r.ans.Dst
	mac, xid := macString(ans.Packet.ClientHWAddr), xidString(ans.Packet.TransactionID)
	if err != nil {
		s.log.Warn("send failed", "svc", svcName(in.Port), "mac", mac, "xid", xid, "iface", in.IfName, "peer", dst.String(), "err", err)
		return
	}
	if s.cfg.OnAnswer != nil {
		s.cfg.OnAnswer(ans, in)
	}
	h := s.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	// The one line per answer goes straight to the handler: Logger.LogAttrs
	// would also walk the stack for a source position nobody logs
	// (runtime.Callers, a fifth of the line's cost in bench/dhcp).
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "pxe reply", 0)
	rec.AddAttrs(
		slog.String("svc", svcName(in.Port)), slog.String("mac", mac), slog.String("xid", xid),
		slog.Int("arch", int(ans.Arch)), slog.String("class", string(ans.Class)), slog.String("iface", in.IfName),
		slog.Int("port", in.Port), slog.String("file", ans.File), slog.String("server", ans.Server.String()),
		slog.String("peer", dst.String()))
	_ = h.Handle(ctx, rec)
}

const hexDigits = "0123456789abcdef"

// macString is net.HardwareAddr.String for the log line, without fmt.
func macString(a net.HardwareAddr) string {
	if len(a) == 0 {
		return ""
	}
	var buf [3 * 20]byte
	b := buf[:0]
	for i, c := range a {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return string(b)
}

// xidString is dhcpv4.TransactionID.String ("0x" and 8 hex digits)
// without fmt.
func xidString(x dhcpv4.TransactionID) string {
	b := [10]byte{'0', 'x'}
	for i, c := range x {
		b[2+2*i], b[3+2*i] = hexDigits[c>>4], hexDigits[c&0xf]
	}
	return string(b[:])
}

// ignore counts a packet not answered and logs it at Debug.
func (s *Server) ignore(ctx context.Context, port int, reason string, err error, attrs func() []slog.Attr) {
	dhcpserve.Ignored(ctx, s.log, s.cfg.OnIgnore, port, svcName(port), reason, err, attrs)
}
