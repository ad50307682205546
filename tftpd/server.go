package tftpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/pxeproxy/pxeproxy/bootfs"
)

// Config configures a Server. The zero value of every field but Root means
// its documented default.
type Config struct {
	// Root is where files are looked up. Required.
	Root *bootfs.Root
	// WindowSizeMax caps the RFC 7440 windowsize a client may negotiate,
	// and the window it may ask for through msftwindow's ACKs. Default and
	// hard cap 64.
	WindowSizeMax int
	// MaxTransfers is how many transfers may run at once; requests beyond it
	// get a "server busy" error straight away. Default 256.
	MaxTransfers int
	// MaxPerClient is how many of them one client address may run at once,
	// so that one host cannot take every slot. A PXE client fetches one
	// file at a time (EDK2's tsize probe ends before its download starts).
	// Default 8.
	MaxPerClient int
	// ProgressWindow and MinProgress end a transfer whose client
	// acknowledges fewer than MinProgress new blocks in any ProgressWindow,
	// so that a client answering just before each retransmit timeout
	// cannot hold a slot for hours. Defaults 10s and 20 blocks: lock-step
	// firmware passes with up to half a second per round trip.
	ProgressWindow time.Duration
	MinProgress    int
	// RetransmitTimeout is how long to wait for an ACK before resending,
	// unless the client negotiated RFC 2349 timeout. Default 1s (firmware
	// retries fast; RFC 1350 servers often wait 5s).
	RetransmitTimeout time.Duration
	// Retries is how many timeouts in a row abandon a transfer. Default 5.
	Retries int
	// ShutdownGrace is how long in-flight transfers may continue after the
	// context given to Serve ends. Default 10s.
	ShutdownGrace time.Duration
	// OnDone, when set, is called once per finished or failed transfer
	// (including refused requests), from the transfer's goroutine.
	OnDone func(Stats)
	// OnStart, when set, is called for each read request once its file is
	// open and its options negotiated, or when it is refused because the
	// file is missing or the server busy (Size 0); the Watch it returns
	// (nil: none) follows the transfer to its end.
	OnStart func(Start) Watch
}

// Stats describes one finished or failed transfer.
type Stats struct {
	// Peer is the client's address.
	Peer net.Addr
	// File is the name as the client asked for it.
	File string
	// Bytes is how many payload bytes the client acknowledged.
	Bytes int64
	// Dur is the time from request to the last ACK or the failure.
	Dur time.Duration
	// BlockSize and WindowSize are the negotiated values.
	BlockSize, WindowSize int
	// Retransmits counts DATA and OACK packets sent more than once.
	Retransmits int
	// Probe is true for an EDK2-style tsize probe: the client read the OACK
	// and ended the transfer with ERROR 8. Err is nil then.
	Probe bool
	// Err is why the transfer failed; nil on success.
	Err error
}

// Server serves read-only TFTP.
type Server struct {
	cfg       Config
	log       *slog.Logger
	active    atomic.Int64
	mtus      mtuCache
	readAhead *sync.Pool // octetSource buffers

	mu        sync.Mutex
	inflight  map[string]*pending // by peer ip:port
	perClient map[netip.Addr]int  // running transfers by peer address
}

// pending is a running transfer as the listening socket sees it.
type pending struct {
	raw string // the request packet, to recognise it when resent
	// asked is set when the client resends its request: until the client
	// has answered, the transfer resends its first packet only then.
	asked atomic.Bool
	// answered is set once a packet of the client reached the transfer:
	// its address is not forged. Until then the transfer may be evicted.
	answered atomic.Bool
	evicted  atomic.Bool // its slot went to a newer request

	key    string     // s.inflight's key
	ip     netip.Addr // s.perClient's key
	start  time.Time
	cancel context.CancelFunc
}

// ErrBusy is why a request was refused with "server busy": MaxTransfers
// transfers run, or MaxPerClient from the same address.
var ErrBusy = errors.New("server busy")

// New checks cfg, fills in defaults and returns a Server.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if cfg.Root == nil {
		return nil, errors.New("new tftp server: no root")
	}
	if cfg.WindowSizeMax < 0 || cfg.MaxTransfers < 0 || cfg.MaxPerClient < 0 || cfg.RetransmitTimeout < 0 || cfg.Retries < 0 ||
		cfg.ShutdownGrace < 0 || cfg.ProgressWindow < 0 || cfg.MinProgress < 0 {
		return nil, errors.New("new tftp server: negative limit")
	}
	if cfg.WindowSizeMax == 0 || cfg.WindowSizeMax > maxWindowCap {
		cfg.WindowSizeMax = maxWindowCap
	}
	if cfg.MaxTransfers == 0 {
		cfg.MaxTransfers = 256
	}
	if cfg.MaxPerClient == 0 {
		cfg.MaxPerClient = 8
	}
	if cfg.ProgressWindow == 0 {
		cfg.ProgressWindow = 10 * time.Second
	}
	if cfg.MinProgress == 0 {
		cfg.MinProgress = 20
	}
	if cfg.RetransmitTimeout == 0 {
		cfg.RetransmitTimeout = time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 5
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log.With("svc", "tftp"), readAhead: newReadAheadPool(),
		inflight: map[string]*pending{}, perClient: map[netip.Addr]int{}}, nil
}

// ingress is where a request arrived.
type ingress struct {
	dst     net.IP // destination address of the request, nil if unknown
	ifindex int    // 0 if unknown
	v6      bool   // over IPv6: 20 more header bytes per datagram than IPv4
}

// listener is the :69 socket with the control messages of its family
// (IP_PKTINFO or IPV6_PKTINFO): each request's destination address and
// ingress interface. Without them (not a UDP socket) requests are answered
// from the socket's own address.
type listener struct {
	conn  net.PacketConn
	p4    *ipv4.PacketConn
	p6    *ipv6.PacketConn
	local net.IP // the socket's own address; nil when a wildcard
	v6    bool
}

func (s *Server) newListener(conn net.PacketConn) *listener {
	l := &listener{conn: conn}
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		// A udp6 socket reports [::] or an IPv6 address; a udp4 one
		// 0.0.0.0 or an IPv4 address, both 4-in-6 in net.IP.
		l.v6 = ua.IP.To4() == nil && ua.IP.To16() != nil
		if !ua.IP.IsUnspecified() {
			l.local = ua.IP
		}
	}
	if _, ok := conn.(*net.UDPConn); !ok {
		return l
	}
	var err error
	if l.v6 {
		l.p6 = ipv6.NewPacketConn(conn)
		if err = l.p6.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
			l.p6 = nil
		}
	} else {
		l.p4 = ipv4.NewPacketConn(conn)
		if err = l.p4.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
			l.p4 = nil
		}
	}
	if err != nil {
		s.log.Warn("tftp: no packet info, answering from the listening address", "err", err)
	}
	return l
}

// read reads one datagram and where it arrived.
func (l *listener) read(b []byte) (int, ingress, net.Addr, error) {
	in := ingress{dst: l.local, v6: l.v6}
	switch {
	case l.p4 != nil:
		n, cm, peer, err := l.p4.ReadFrom(b)
		if cm != nil {
			in.dst, in.ifindex = cm.Dst, cm.IfIndex
		}
		return n, in, peer, err
	case l.p6 != nil:
		n, cm, peer, err := l.p6.ReadFrom(b)
		if cm != nil {
			in.dst, in.ifindex = cm.Dst, cm.IfIndex
		}
		return n, in, peer, err
	}
	n, peer, err := l.conn.ReadFrom(b)
	return n, in, peer, err
}

// writeFrom sends b to peer from the address the request came to.
func (l *listener) writeFrom(b []byte, in ingress, peer net.Addr) {
	switch {
	case l.p4 != nil:
		l.p4.WriteTo(b, &ipv4.ControlMessage{Src: in.dst}, peer)
	case l.p6 != nil && in.dst != nil && !in.dst.IsMulticast():
		l.p6.WriteTo(b, &ipv6.ControlMessage{Src: in.dst, IfIndex: in.ifindex}, peer)
	default:
		l.conn.WriteTo(b, peer)
	}
}

// Serve reads requests from conn (a :69 socket that main opens, udp4 or
// udp6) until ctx ends, then waits up to ShutdownGrace for in-flight
// transfers. It enables IP_PKTINFO or IPV6_RECVPKTINFO on conn to learn
// each request's destination address and ingress interface; without it
// transfers are answered from the socket's own address. A conn closed
// because ctx ended is a clean exit (nil).
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	l := s.newListener(conn)

	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	// Transfers outlive ctx by ShutdownGrace; xctx ends them after that.
	xctx, xcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer xcancel()
	var wg sync.WaitGroup

	buf := make([]byte, 4096)
	var err error
	for {
		var n int
		var peer net.Addr
		var in ingress
		n, in, peer, err = l.read(buf)
		if err != nil {
			if ctx.Err() != nil {
				err = nil
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			} else {
				err = fmt.Errorf("tftp serve: %w", err)
			}
			break
		}
		s.handle(xctx, &wg, l, in, peer, buf[:n])
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.ShutdownGrace):
		xcancel()
		<-done
	}
	return err
}

// handle starts a transfer for one request packet, or answers it with an
// error straight away.
func (s *Server) handle(ctx context.Context, wg *sync.WaitGroup, l *listener, in ingress, peer net.Addr, pkt []byte) {
	req, err := parseRequest(pkt)
	if err != nil {
		s.log.Debug("tftp: ignored packet", peerAttr(peer), "err", err)
		return
	}
	key, raw, ip := peer.String(), string(pkt), peerIP(peer) // pkt is the read buffer: copy
	s.mu.Lock()
	if p, ok := s.inflight[key]; ok && p.raw == raw {
		// The client resent its request: our first answer may be lost.
		p.asked.Store(true)
		s.mu.Unlock()
		s.log.Debug("tftp: duplicate request", peerAttr(peer), "file", logName(req.file))
		return
	}
	if !s.room(ip) {
		s.mu.Unlock()
		l.writeFrom(appendError(nil, errCodeUndefined, "server busy"), in, peer)
		st := Stats{Peer: peer, File: req.file, Err: ErrBusy}
		if w := s.watch(peer, req.file, 0, 0, 0); w != nil {
			w.End(outcome(st))
		}
		s.finish(st)
		return
	}
	s.active.Add(1)
	s.perClient[ip]++
	tctx, cancel := context.WithCancel(ctx)
	p := &pending{raw: raw, key: key, ip: ip, start: time.Now(), cancel: cancel}
	s.inflight[key] = p
	s.mu.Unlock()

	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		st := s.transfer(tctx, in, peer, req, p)
		s.mu.Lock()
		if !p.evicted.Load() { // an eviction released the slot already
			s.release(p)
		}
		s.mu.Unlock()
		s.finish(st)
	}()
}

// room reports whether a transfer from ip may start; callers hold s.mu.
// At MaxTransfers it makes room by evicting the oldest transfer whose
// client never answered. A request's source can be forged: without this,
// RRQs from a few dozen made-up addresses held every slot for the retries
// of their first packet (issue #15). A client answers its first packet
// within a round trip and is then never evicted; one evicted unanswered
// sees silence, as after a lost packet, and resends its request. At
// MaxPerClient nothing is evicted: the address's own requests would then
// each bring back a first packet, where "server busy" is smaller.
func (s *Server) room(ip netip.Addr) bool {
	if s.perClient[ip] >= s.cfg.MaxPerClient {
		return false
	}
	if s.active.Load() < int64(s.cfg.MaxTransfers) {
		return true
	}
	var victim *pending
	for _, p := range s.inflight {
		if !p.answered.Load() && (victim == nil || p.start.Before(victim.start)) {
			victim = p
		}
	}
	if victim == nil {
		return false
	}
	victim.evicted.Store(true)
	s.release(victim)
	victim.cancel()
	return true
}

// release frees p's slot; callers hold s.mu.
func (s *Server) release(p *pending) {
	if s.inflight[p.key] == p {
		delete(s.inflight, p.key)
	}
	if s.perClient[p.ip]--; s.perClient[p.ip] <= 0 {
		delete(s.perClient, p.ip)
	}
	s.active.Add(-1)
}

// peerIP is the client's address without the port (IPv4-mapped addresses
// unmapped), the key of the per-client limit.
func peerIP(a net.Addr) netip.Addr {
	if ua, ok := a.(*net.UDPAddr); ok {
		ip, _ := netip.AddrFromSlice(ua.IP)
		return ip.Unmap()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap()
}

// finish logs one transfer and calls OnDone.
func (s *Server) finish(st Stats) {
	switch {
	case st.Probe:
		// EDK2 asks for tsize, reads the OACK and aborts with ERROR 8 before
		// the real download (docs/pxe-notes.md §7): normal, not a failure.
		s.log.Debug("tftp tsize probe", peerAttr(st.Peer), "file", logName(st.File))
	case st.Err != nil:
		s.log.Warn("tftp transfer failed", peerAttr(st.Peer), "file", logName(st.File), "bytes", st.Bytes,
			"dur", st.Dur, "reason", logReason(st.Err), "err", st.Err.Error(), "retransmits", st.Retransmits)
	default:
		mbs := 0.0
		if st.Dur > 0 {
			mbs = float64(st.Bytes) / st.Dur.Seconds() / 1e6
		}
		s.log.Info("tftp transfer", peerAttr(st.Peer), "file", logName(st.File), "bytes", st.Bytes, "dur", st.Dur,
			"mb_per_s", float64(int(mbs*10))/10, "blksize", st.BlockSize, "windowsize", st.WindowSize,
			"retransmits", st.Retransmits)
	}
	if s.cfg.OnDone != nil {
		s.cfg.OnDone(st)
	}
}

// logReason is the closed word a failure line is counted under by the log
// limiter (internal/logfmt keeps a budget per client, message and reason).
// The error's text may carry the client's words (its ERROR message, an
// opcode, a mode): as the reason, each new text was a new budget, and one
// host ending transfers with made-up messages took every line the log allows
// (issue #15). The text goes in err.
func logReason(err error) string {
	var te *tftpError
	switch {
	case errors.Is(err, ErrNotFound):
		return FailNotFound
	case errors.Is(err, ErrAccess):
		return FailAccess
	case errors.Is(err, ErrBusy):
		return FailBusy
	case errors.Is(err, errTimeout), errors.Is(err, errEvicted):
		return "timeout"
	case errors.Is(err, errTooSlow):
		return "too-slow"
	case errors.Is(err, errShutdown):
		return "shutdown"
	case errors.As(err, &te):
		return "client-error"
	}
	return "error"
}

// maxLogName is how much of a requested name a log line shows: the name
// comes from the network, up to a datagram long.
const maxLogName = 100

// logName cuts name for a log line, saying how long it was.
func logName(name string) string {
	if len(name) <= maxLogName {
		return name
	}
	return name[:maxLogName] + "... (" + strconv.Itoa(len(name)) + " bytes)"
}

// peerAttr logs an address as "ip:port" like the proxy's lines; a
// *net.UDPAddr given to slog as is becomes {"IP":..,"Port":..} in JSON.
func peerAttr(a net.Addr) slog.Attr {
	if a == nil {
		return slog.String("peer", "")
	}
	return slog.String("peer", a.String())
}

// mtuCache remembers interface MTUs: net.InterfaceByIndex dumps all links
// over netlink, too slow to do per request.
type mtuCache struct {
	mu sync.Mutex
	m  map[int]mtuEntry
}

type mtuEntry struct {
	mtu int
	at  time.Time
}

// maxBlksize returns the largest block that fits the interface MTU without
// IP fragmentation: MTU - 20 (IPv4) or 40 (IPv6) - 8 (UDP) - 4 (TFTP), 1468
// or 1448 on Ethernet (RFC 2348 §1 warns about fragmentation). Unknown
// interface: an MTU of 1500.
func (c *mtuCache) maxBlksize(ifindex int, v6 bool) int {
	mtu := 1500
	if ifindex > 0 {
		c.mu.Lock()
		e, ok := c.m[ifindex]
		c.mu.Unlock()
		if !ok || time.Since(e.at) > time.Minute {
			e = mtuEntry{mtu: 1500, at: time.Now()}
			if ifi, err := net.InterfaceByIndex(ifindex); err == nil && ifi.MTU > 0 {
				e.mtu = ifi.MTU
			}
			c.mu.Lock()
			if c.m == nil {
				c.m = map[int]mtuEntry{}
			}
			c.m[ifindex] = e
			c.mu.Unlock()
		}
		mtu = e.mtu
	}
	hdr := 32
	if v6 {
		hdr = 52
	}
	return max(minBlksize, min(mtu-hdr, maxBlksize))
}
