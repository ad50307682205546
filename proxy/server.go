package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// Server is the socket loop around Reply: read, decode, decide, pick the
// destination, write. One goroutine per socket, no goroutine per packet.
type Server struct {
	cfg    *Config
	log    *slog.Logger
	ifaces *ifaceTable

	// OnAnswer, when set, is called after each reply is sent (metrics).
	OnAnswer func(a *Answer, in Ingress)
	// OnIgnore, when set, is called for each packet not answered, with the
	// short reason label (metrics).
	OnIgnore func(port int, reason string)
	// ReplyDelay holds every reply back this long: a quirk knob for ROMs
	// that miss an instant answer (dnsmasq's dhcp-reply-delay). Zero: none.
	ReplyDelay time.Duration
}

// NewServer returns a loop that answers on the interfaces named in ifaces
// (empty: every up, non-loopback interface with an IPv4 address).
func NewServer(cfg *Config, ifaces []string, log *slog.Logger) *Server {
	return &Server{cfg: cfg, log: log, ifaces: newIfaceTable(ifaces)}
}

// Interfaces returns the interfaces served right now with their IPv4
// addresses, for the start line.
func (s *Server) Interfaces() map[string][]string {
	out := map[string][]string{}
	for _, i := range s.ifaces.snapshot() {
		for _, a := range i.addrs {
			out[i.name] = append(out[i.name], a.IP.String())
		}
	}
	return out
}

// Listen opens the UDP socket for port on all addresses with a large receive
// buffer: a lab of machines powered on together sends thousands of
// DISCOVERs at once, and the kernel's default buffer (208 KiB) drops most of
// them. It returns the buffer size the kernel granted; rcvbuf 0 keeps the
// kernel's default.
func Listen(ctx context.Context, addr string, rcvbuf int) (net.PacketConn, int, error) {
	var granted int
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN;
			// without it fall back to SO_RCVBUF, capped by rmem_max.
			if rcvbuf > 0 && unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
			}
			if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
				granted = v / 2 // the kernel reports twice the usable size
			}
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			if serr == nil {
				// From the first packet on: a datagram queued before
				// IP_PKTINFO is enabled carries no ingress interface.
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(ctx, "udp4", addr)
	if err != nil {
		return nil, 0, fmt.Errorf("listen on udp %s: %w", addr, err)
	}
	return conn, granted, nil
}

// Transport is a socket that says where each datagram came in. UDPTransport
// is the ordinary one; a raw AF_PACKET listener (for hosts where another
// program holds port 67) is the other.
type Transport interface {
	// ReadPacket reads one datagram into b.
	ReadPacket(b []byte) (n int, in Received, err error)
	// WritePacket sends b to dst from src; a non-zero ifIndex makes it leave
	// through that interface (broadcasts). Safe for concurrent use: delayed
	// replies are sent from timers.
	WritePacket(b []byte, src net.IP, ifIndex int, dst *net.UDPAddr) error
	// Close ends the transport and any ReadPacket blocked on it.
	Close() error
}

// Received is what a transport knows about one datagram.
type Received struct {
	IfIndex  int          // ingress interface; 0 if unknown
	Dst      net.IP       // destination address of the datagram
	Src      *net.UDPAddr // source address and port
	Oversize bool         // the datagram was larger than the transport reads (truncated)
}

// Serve answers requests arriving on conn, which listens on port (PortDHCP
// or PortPXE), until ctx ends. A conn closed because ctx ended is a clean
// exit.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn, port int) error {
	t, err := NewUDPTransport(conn)
	if err != nil {
		return fmt.Errorf("port %d: %w", port, err)
	}
	return s.ServeTransport(ctx, t, port)
}

// ServeTransport is Serve on any Transport.
func (s *Server) ServeTransport(ctx context.Context, t Transport, port int) error {
	stop := context.AfterFunc(ctx, func() { t.Close() })
	defer stop()

	buf := make([]byte, maxDatagram)
	out := make([]byte, 0, 1024) // reply encoding buffer, reused by this loop only
	var dec Decoder              // request decoding, reused by this loop only
	for {
		n, rcv, err := t.ReadPacket(buf)
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
		out = s.handle(ctx, t, port, buf[:n], rcv, &dec, out)
	}
}

// handle processes one datagram and returns the encoding buffer for reuse.
// It never panics on bad input: the codec returns errors for truncated
// packets and bad option lengths.
func (s *Server) handle(ctx context.Context, t Transport, port int, pkt []byte, rcv Received, dec *Decoder, out []byte) []byte {
	usrc := rcv.Src
	if rcv.IfIndex == 0 || usrc == nil {
		s.ignore(ctx, port, "no-pktinfo", nil, nil)
		return out
	}
	info := s.ifaces.get(rcv.IfIndex)
	if info == nil {
		s.ignore(ctx, port, "interface-not-served", nil, func() []slog.Attr {
			return []slog.Attr{slog.Int("ifindex", rcv.IfIndex), slog.String("peer", usrc.String())}
		})
		return out
	}
	where := func() []slog.Attr {
		return []slog.Attr{slog.String("iface", info.name), slog.String("peer", usrc.String()), slog.Int("bytes", len(pkt))}
	}
	if rcv.Oversize {
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
	in := Ingress{
		Port:    port,
		IfIndex: rcv.IfIndex,
		IfName:  info.name,
		Addr:    info.addrFor(req.GatewayIPAddr, usrc.IP),
		Src:     usrc,
	}
	ans, err := Reply(req, in, s.cfg)
	if err != nil {
		level := slog.LevelDebug
		if errors.Is(err, ErrDenied) || errors.Is(err, ErrNotAllowed) {
			// An admin who set up access control wants to see it work.
			level = slog.LevelInfo
		}
		if s.OnIgnore != nil {
			s.OnIgnore(port, Reason(err))
		}
		if s.log.Enabled(ctx, level) {
			msg := "ignored"
			if level == slog.LevelInfo {
				msg = "refused"
			}
			s.log.LogAttrs(ctx, level, msg,
				slog.String("svc", svcName(port)), slog.String("reason", Reason(err)), slog.String("iface", info.name),
				slog.String("mac", req.ClientHWAddr.String()), slog.String("xid", req.TransactionID.String()), slog.String("err", err.Error()))
		}
		return out
	}
	dst, bcast := Destination(req, in)
	from, ifIndex := in.Addr, 0
	if bcast {
		// Out of the interface the request came in on, not wherever the
		// routing table sends 255.255.255.255.
		ifIndex = in.IfIndex
	} else if d := rcv.Dst.To4(); d != nil && !d.IsMulticast() && !d.Equal(net.IPv4bcast) && !isBroadcastOn(info, d) {
		// Unicast request: answer from the address it was sent to.
		from = d
	}
	out = AppendPacket(out[:0], ans.Packet)
	if s.ReplyDelay > 0 {
		// Delayed on a timer, not in the loop: the next request must not
		// wait for this one's delay. The request and the buffers are reused
		// by the next read, so the timer gets copies of what it needs.
		b, mac, xid := bytes.Clone(out), macString(req.ClientHWAddr), xidString(req.TransactionID)
		time.AfterFunc(s.ReplyDelay, func() { s.send(ctx, t, b, ans, in, mac, xid, from, ifIndex, dst) })
		return out
	}
	s.send(ctx, t, out, ans, in, "", "", from, ifIndex, dst)
	return out
}

// send writes one encoded reply and reports it. mac and xid are given
// for delayed replies, whose request is gone; otherwise they come from the
// reply, which echoes both.
func (s *Server) send(ctx context.Context, t Transport, b []byte, ans *Answer, in Ingress, mac, xid string, from net.IP, ifIndex int, dst *net.UDPAddr) {
	if mac == "" {
		mac, xid = macString(ans.Packet.ClientHWAddr), xidString(ans.Packet.TransactionID)
	}
	if err := t.WritePacket(b, from, ifIndex, dst); err != nil {
		s.log.Warn("send failed", "svc", svcName(in.Port), "mac", mac, "xid", xid, "iface", in.IfName, "peer", dst.String(), "err", err)
		return
	}
	if s.OnAnswer != nil {
		s.OnAnswer(ans, in)
	}
	h := s.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	// The one line per answer goes straight to the handler: Logger.LogAttrs
	// would also walk the stack for a source position nobody logs
	// (runtime.Callers, a fifth of the line's cost in bench/dhcp).
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "pxe reply", 0)
	r.AddAttrs(
		slog.String("svc", svcName(in.Port)), slog.String("mac", mac), slog.String("xid", xid),
		slog.Int("arch", int(ans.Arch)), slog.String("class", string(ans.Class)), slog.String("iface", in.IfName),
		slog.Int("port", in.Port), slog.String("file", ans.File), slog.String("server", ans.Server.String()),
		slog.String("peer", dst.String()))
	_ = h.Handle(ctx, r)
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

// ignore counts a packet not answered and logs it at Debug; attrs is only
// called when Debug is on, so a busy LAN's ordinary DHCP costs nothing here.
func (s *Server) ignore(ctx context.Context, port int, reason string, err error, attrs func() []slog.Attr) {
	if s.OnIgnore != nil {
		s.OnIgnore(port, reason)
	}
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	var a []slog.Attr
	if attrs != nil {
		a = attrs()
	}
	a = append(a, slog.String("svc", svcName(port)), slog.String("reason", reason))
	if err != nil {
		a = append(a, slog.String("err", err.Error()))
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "ignored", a...)
}

func isBroadcastOn(info *ifaceInfo, ip net.IP) bool {
	for _, a := range info.addrs {
		if !a.Contains(ip) {
			continue
		}
		b := make(net.IP, 4)
		for i := range b {
			b[i] = a.IP[i] | ^a.Mask[len(a.Mask)-4+i]
		}
		if b.Equal(ip) {
			return true
		}
	}
	return false
}

func svcName(port int) string {
	if port == PortPXE {
		return "pxe4011"
	}
	return "dhcp"
}
