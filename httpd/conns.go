package httpd

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"
)

// sendChunk is how much of a file one sendfile call is given, so that the
// write deadline is renewed as the download goes on.
const sendChunk = 256 << 10

// minProgress is how much a client must take per SendTimeout for a write
// that hit its deadline to go on: reading a byte a minute does not hold a
// connection.
const minProgress = 32 << 10

// Reasons a new connection is refused: every connection at the cap has a
// request in progress.
const (
	refusedPeer  = "client-connection-limit"
	refusedTotal = "connection-limit"
)

// connLimiter counts the open connections, in total and per client address.
// At a cap, the oldest connection with no request in progress (new or idle
// keep-alive) makes room, so that idle connections held by one host never
// lock out a client that has a request to send.
type connLimiter struct {
	max, perPeer int
	send         time.Duration

	mu    sync.Mutex
	peers map[netip.Addr]int
	conns map[*trackedConn]struct{}
}

func newConnLimiter(max, perPeer int, send time.Duration) *connLimiter {
	return &connLimiter{max: max, perPeer: perPeer, send: send,
		peers: map[netip.Addr]int{}, conns: map[*trackedConn]struct{}{}}
}

// admit counts c, closing an idle connection first when a cap is reached,
// or says why c is refused: every connection at the cap has a request in
// progress.
func (l *connLimiter) admit(c net.Conn) (*trackedConn, string) {
	peer := peerAddr(c.RemoteAddr())
	for {
		l.mu.Lock()
		var victim *trackedConn
		switch {
		case l.peers[peer] >= l.perPeer:
			if victim = l.oldestIdle(peer, true); victim == nil {
				l.mu.Unlock()
				return nil, refusedPeer
			}
		case len(l.conns) >= l.max:
			if victim = l.oldestIdle(peer, false); victim == nil {
				l.mu.Unlock()
				return nil, refusedTotal
			}
		default:
			tc := &trackedConn{Conn: c, lim: l, peer: peer, idle: true, since: time.Now()}
			l.conns[tc] = struct{}{}
			l.peers[peer]++
			l.mu.Unlock()
			return tc, ""
		}
		victim.idle = false // no other admit picks it
		l.mu.Unlock()
		// Close releases the victim's slot before the next round, which
		// then admits c (each round frees one slot or returns).
		victim.Close()
	}
}

// oldestIdle returns the connection idle the longest, of peer only when
// samePeer. It scans at most max connections, only when a cap is reached.
func (l *connLimiter) oldestIdle(peer netip.Addr, samePeer bool) *trackedConn {
	var old *trackedConn
	for tc := range l.conns {
		if !tc.idle || (samePeer && tc.peer != peer) {
			continue
		}
		if old == nil || tc.since.Before(old.since) {
			old = tc
		}
	}
	return old
}

func (l *connLimiter) release(tc *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, tc)
	if l.peers[tc.peer]--; l.peers[tc.peer] <= 0 {
		delete(l.peers, tc.peer)
	}
}

// connState is http.Server.ConnState: it tracks which connections have no
// request in progress.
func (l *connLimiter) connState(c net.Conn, st http.ConnState) {
	tc, ok := c.(*trackedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	tc.idle = st == http.StateNew || st == http.StateIdle
	if tc.idle {
		tc.since = time.Now()
	}
}

// open reports the connections counted, in total and for peer (tests).
func (l *connLimiter) open(peer netip.Addr) (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns), l.peers[peer]
}

// peerAddr is the client address a connection is counted under; IPv4
// clients on a dual-stack socket count as IPv4.
func peerAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// limitListener hands http.Server only connections the limiter admits.
type limitListener struct {
	net.Listener
	lim       *connLimiter
	log       *slog.Logger
	onRefused func()
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc, reason := l.lim.admit(c)
		if tc != nil {
			return tc, nil
		}
		if l.onRefused != nil {
			l.onRefused()
		}
		// peer puts the line under the process's per-client log limiter.
		l.log.Warn("http connection refused", "peer", c.RemoteAddr().String(), "reason", reason)
		c.Close()
	}
}

// trackedConn is a counted connection. Every write gets a fresh deadline
// of SendTimeout; one that passes ends the write unless the client took at
// least minProgress meanwhile, so a client that stops reading is cut while
// a slow but moving download of any size goes on.
type trackedConn struct {
	net.Conn
	lim   *connLimiter
	peer  netip.Addr
	once  sync.Once
	acked uint64 // last ackedBytes; only the serving goroutine writes

	// Under lim.mu.
	idle  bool      // no request in progress: may be closed to make room
	since time.Time // when it became idle
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.lim.release(c) })
	return err
}

func (c *trackedConn) Write(b []byte) (int, error) {
	done := 0
	for {
		c.Conn.SetWriteDeadline(time.Now().Add(c.lim.send))
		n, err := c.Conn.Write(b[done:])
		done += n
		if err == nil || !c.moving(err, int64(n)) {
			return done, err
		}
	}
}

// moving reports whether a write that failed with err only hit its
// deadline while the client was still taking data; then it goes on. The
// kernel's count of acknowledged bytes is the measure where there is one:
// while a large socket buffer drains, a write can wait a long time for room
// although the client reads steadily. Elsewhere the n bytes the write got
// into the socket are.
func (c *trackedConn) moving(err error, n int64) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	a, ok := ackedBytes(c.Conn)
	if !ok {
		return n >= minProgress
	}
	moved := a-c.acked >= minProgress
	c.acked = a
	return moved
}

// ReadFrom keeps the kernel's sendfile path of *net.TCPConn (which
// net/http uses for file bodies) while renewing the write deadline every
// sendChunk bytes. It must unwrap an *io.LimitedReader itself: sendfile
// sees through one, not two.
func (c *trackedConn) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{c}, r)
	}
	src, left := r, int64(-1) // -1: until the source ends
	if lr, ok := r.(*io.LimitedReader); ok {
		src, left = lr.R, lr.N
		defer func() { lr.N = left }()
	}
	var total int64
	for left != 0 {
		size := int64(sendChunk)
		if left > 0 {
			size = min(size, left)
		}
		c.Conn.SetWriteDeadline(time.Now().Add(c.lim.send))
		n, err := rf.ReadFrom(&io.LimitedReader{R: src, N: size})
		total += n
		if left > 0 {
			left -= n
		}
		switch {
		case err != nil && c.moving(err, n):
			// The file offset is past what was sent: go on from there.
		case err != nil || n < size:
			return total, err
		}
	}
	return total, nil
}

// CloseWrite lets net/http half-close after an error response, as it does
// on a bare *net.TCPConn.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
