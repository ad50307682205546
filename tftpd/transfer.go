package tftpd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

var (
	errTimeout  = errors.New("timed out waiting for ack")
	errShutdown = errors.New("server shutting down")
	errTooSlow  = errors.New("too slow")
	errEvicted  = errors.New("no answer: its slot went to a newer request")
)

// xfer is one running transfer.
type xfer struct {
	conn    *sock
	src     source
	p       params
	timeout time.Duration
	retries int

	pkts [][]byte // DATA packet buffers (4-byte header + block) back to back, one per datagram of a batch
	out  [][]byte // the batch being sent, slices of pkts
	rbuf []byte

	// The client's address is proven once a packet of it reaches the
	// transfer's socket (its port is ours alone); until then the first
	// packet is resent only when the client resends its request (pend).
	proven bool
	pend   *pending

	// Progress: at least minProgress blocks acknowledged per progWindow,
	// counted from progAt and progBase.
	progWindow  time.Duration
	minProgress int64
	progAt      time.Time
	progBase    int64

	base    int64 // last acknowledged block (0: OACK or nothing yet)
	sentMax int64 // highest block sent
	oack    bool  // waiting for ACK 0 of the OACK
	last    int64 // final block, known once read (0: not yet)
	lastLen int   // payload length of the final block

	retransmits int
	watch       Watch // nil: nobody follows this transfer
}

// transfer runs one RRQ to the end and reports it.
func (s *Server) transfer(ctx context.Context, in ingress, peer net.Addr, req request, pend *pending) (st Stats) {
	start := time.Now()
	st = Stats{Peer: peer, File: req.file, BlockSize: defaultBlksize, WindowSize: 1}
	var w Watch
	defer func() {
		st.Dur = time.Since(start)
		if w != nil {
			w.End(outcome(st))
		}
	}()
	fail := func(err error) Stats {
		st.Err = err
		return st
	}

	conn, err := dialPeer(in.dst, peer)
	if err != nil {
		return fail(err)
	}
	defer conn.close()
	// Past the shutdown grace the transfer's reads end.
	stop := context.AfterFunc(ctx, conn.shutdown)
	defer stop()

	sendErr := func(code uint16, msg string) { conn.write(appendError(nil, code, msg)) }
	if req.op == opWRQ {
		// Read-only server: nothing in the root is ever created or changed.
		sendErr(errCodeAccess, "access violation")
		return fail(fmt.Errorf("write request refused: %w", ErrAccess))
	}
	if req.mode != "octet" && req.mode != "netascii" {
		sendErr(errCodeIllegalOp, "unsupported mode")
		return fail(fmt.Errorf("unsupported mode %q", logName(req.mode)))
	}
	f, err := s.cfg.Root.Open(req.file)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			w = s.watch(peer, req.file, 0, 0, 0)
			sendErr(errCodeNotFound, "file not found")
		} else {
			sendErr(errCodeAccess, "access violation")
		}
		// The name is logged beside the reason already, cut if long.
		return fail(withoutNames{err})
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		sendErr(errCodeUndefined, "read error")
		return fail(fmt.Errorf("stat: %w", err))
	}

	lim := limits{blksize: s.mtus.maxBlksize(in.ifindex, in.v6), window: s.cfg.WindowSizeMax, size: fi.Size()}
	if req.mode == "netascii" {
		lim.size = -1
	}
	p, oack := negotiate(req.opts, lim)
	st.BlockSize, st.WindowSize = p.blksize, p.window

	w = s.watch(peer, req.file, fi.Size(), p.blksize, p.window)
	x := &xfer{conn: conn, p: p, timeout: s.cfg.RetransmitTimeout, retries: s.cfg.Retries, rbuf: make([]byte, 516),
		pend: pend, progWindow: s.cfg.ProgressWindow, minProgress: int64(s.cfg.MinProgress), progAt: start, watch: w}
	// RFC 2349 timeout is echoed, but the server never waits longer than
	// its own RetransmitTimeout: curl asks for 5 s on every request, and
	// waiting that long after each lost packet makes a lossy link crawl.
	// Resending early only costs the client a duplicate it ignores.
	if p.timeout > 0 {
		x.timeout = min(p.timeout, x.timeout)
	}
	if req.mode == "netascii" {
		x.src = newNetasciiSource(f, p.blksize, p.maxWindow())
	} else {
		src := newOctetSource(f, fi.Size(), s.readAhead)
		defer src.release()
		x.src = src
		x.last = fi.Size()/int64(p.blksize) + 1
		x.lastLen = int(fi.Size() % int64(p.blksize))
	}
	x.allocPkts()
	if len(x.pkts) > 1 {
		x.conn.setSegment(4 + p.blksize) // without it, writeBatch uses sendmmsg
	}

	err = x.run(oack)
	st.Retransmits = x.retransmits
	st.Bytes = x.acked()
	var te *tftpError
	if errors.As(err, &te) && te.code == errCodeOption && x.base == 0 && oack != nil {
		st.Probe = true
		return st
	}
	if err != nil {
		switch {
		case pend != nil && pend.evicted.Load():
			// No ERROR: the client never answered, its address may be
			// forged.
			return fail(errEvicted)
		case ctx.Err() != nil:
			err = errShutdown
		}
		switch {
		case errors.Is(err, errFileChanged):
			sendErr(errCodeUndefined, "read error")
		case errors.Is(err, errShutdown):
			sendErr(errCodeUndefined, "server shutting down")
		case errors.Is(err, errTooSlow):
			sendErr(errCodeUndefined, "too slow")
		}
		return fail(err)
	}
	return st
}

// dialPeer opens the transfer's own socket, bound to the address the
// request was sent to (a multi-homed host answers from the right address)
// and connected to the client. If that address cannot be bound (a
// broadcast RRQ), the kernel picks the source.
func dialPeer(dst net.IP, peer net.Addr) (*sock, error) {
	ua, ok := peer.(*net.UDPAddr)
	if !ok {
		var err error
		if ua, err = net.ResolveUDPAddr("udp", peer.String()); err != nil {
			return nil, fmt.Errorf("transfer socket: %w", err)
		}
	}
	if dst != nil && !dst.IsUnspecified() && !dst.IsMulticast() && !dst.Equal(net.IPv4bcast) {
		if s, err := dialSock(dst, ua); err == nil {
			return s, nil
		}
	}
	s, err := dialSock(nil, ua)
	if err != nil {
		return nil, fmt.Errorf("transfer socket: %w", err)
	}
	return s, nil
}

// acked returns the payload bytes the client acknowledged.
func (x *xfer) acked() int64 {
	if x.base == 0 {
		return 0
	}
	full := x.base * int64(x.p.blksize)
	if x.last != 0 && x.base == x.last {
		return full - int64(x.p.blksize) + int64(x.lastLen)
	}
	return full
}

// run is the RFC 7440 sender: send the window after the last acknowledged
// block, then wait. An ACK for a block inside the window moves on from the
// block after it; a timeout resends from the last acknowledged block + 1.
// Old ACKs and duplicates of the last one are ignored (no Sorcerer's
// Apprentice, RFC 1123 §4.2.3.1). Duplicates are not taken as a loss signal
// either: atftp acknowledges the last in-order block once per out-of-order
// block it receives, so resending on duplicates multiplied the traffic
// twenty-fold under 2% loss. A receiver that lost the first block of a
// window waits for the retransmit timeout.
func (x *xfer) run(oack []option) error {
	if oack != nil {
		pkt := appendOACK(nil, oack)
		x.oack = true
		if err := x.await(func(resend bool) error {
			if resend {
				x.retransmits++
			}
			return x.conn.write(pkt)
		}); err != nil {
			return err
		}
	}
	for x.last == 0 || x.base < x.last {
		if err := x.await(x.sendWindow); err != nil {
			return err
		}
		if x.watch != nil {
			x.watch.Progress(x.acked(), x.retransmits)
		}
	}
	return nil
}

// await calls send, then reads until an ACK moves base forward, resending on
// timeouts.
//
// A request's source address can be forged, so until the client has
// answered (x.proven) a timeout resends the first packet (OACK or DATA 1)
// only if the client has resent its request since: a forged 16-byte RRQ
// then brings back one packet, not one per retry. Real clients resend
// their request when the first answer is lost (RFC 1350 §2; EDK2's Mtftp4,
// iPXE, U-Boot, curl, tftp-hpa and atftp do).
func (x *xfer) await(send func(resend bool) error) error {
	now := time.Now()
	if err := x.progress(now); err != nil {
		return err
	}
	if err := send(false); err != nil {
		return err
	}
	tries := 0
	deadline := now.Add(x.timeout)
	for {
		n, err := x.conn.read(x.rbuf, deadline)
		if err == errRecvTimeout {
			tries++
			if tries > x.retries {
				return errTimeout
			}
			now = time.Now()
			if err := x.progress(now); err != nil {
				return err
			}
			if x.proven || (x.pend != nil && x.pend.asked.Swap(false)) {
				if err := send(true); err != nil {
					return err
				}
			}
			deadline = now.Add(x.timeout)
			continue
		}
		if err != nil {
			return err
		}
		if !x.proven {
			x.proven = true
			if x.pend != nil {
				x.pend.answered.Store(true)
			}
		}
		if n < 4 {
			continue
		}
		switch binary.BigEndian.Uint16(x.rbuf) {
		case opACK:
		case opERROR:
			return parseError(x.rbuf[2:n])
		default:
			x.conn.write(appendError(nil, errCodeIllegalOp, "illegal operation"))
			return fmt.Errorf("unexpected opcode %d", binary.BigEndian.Uint16(x.rbuf))
		}
		k := binary.BigEndian.Uint16(x.rbuf[2:])
		if x.oack {
			if k == 0 {
				x.steer(n)
				x.oack = false
				return nil
			}
			continue
		}
		delta := int64(k - uint16(x.base))
		if delta > x.sentMax-x.base {
			continue // old ACK (or one for a block never sent): keep the deadline
		}
		// A duplicate of the last ACK still steers the window: a client
		// that saw a gap asks for a smaller one for the resend.
		x.steer(n)
		if delta > 0 {
			x.base += delta
			return nil
		}
	}
}

// steer applies the variable-window byte of an n-byte ACK in x.rbuf, when
// msftwindow was granted: the fifth byte is how many blocks the client wants
// before its next ACK (Wireshark's packet-tftp.c reads the byte after the
// block number and ignores anything past it). 0 and values above the cap
// are clamped to 1..varMax rather than refused: the byte only shapes the
// next burst, and the ACK's block number still counts.
func (x *xfer) steer(n int) {
	if x.p.varMax == 0 || n < 5 {
		return
	}
	x.p.window = min(max(int(x.rbuf[4]), 1), x.p.varMax)
}

// progress returns errTooSlow when the client acknowledged fewer than
// x.minProgress blocks in the x.progWindow since x.progAt; otherwise, once
// that window is over, it starts the next one.
func (x *xfer) progress(now time.Time) error {
	if x.progWindow <= 0 || now.Sub(x.progAt) < x.progWindow {
		return nil
	}
	if x.base-x.progBase < x.minProgress {
		return errTooSlow
	}
	x.progAt, x.progBase = now, x.base
	return nil
}

// sendWindow sends blocks base+1 .. base+window (fewer at the end of the
// file). A window goes out in batches of up to len(x.pkts) datagrams, one
// system call each (sock.writeBatch); lock-step, one write per block.
func (x *xfer) sendWindow(resend bool) error {
	end := x.base + int64(x.p.window)
	if x.last != 0 {
		end = min(end, x.last)
	}
	for b := x.base + 1; b <= end; {
		x.out = x.out[:0]
		for b <= end && len(x.out) < len(x.pkts) {
			pkt := x.pkts[len(x.out)]
			n, err := x.src.block(b, pkt[4:])
			if err != nil {
				return err
			}
			binary.BigEndian.PutUint16(pkt, opDATA)
			binary.BigEndian.PutUint16(pkt[2:], uint16(b))
			x.out = append(x.out, pkt[:4+n])
			if b <= x.sentMax {
				x.retransmits++
			}
			x.sentMax = max(x.sentMax, b)
			if n < x.p.blksize {
				x.last, x.lastLen = b, n
				end = b
			}
			b++
		}
		var err error
		if len(x.out) == 1 {
			err = x.conn.write(x.out[0])
		} else {
			err = x.conn.writeBatch(x.out)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// allocPkts makes the DATA packet buffers for x.p.
func (x *xfer) allocPkts() {
	n, size := batchLen(x.p), 4+x.p.blksize
	buf := make([]byte, n*size)
	x.pkts = make([][]byte, n)
	for i := range n {
		x.pkts[i] = buf[i*size : (i+1)*size]
	}
	x.out = make([][]byte, 0, n)
}

// batchMax and batchBytes bound a window's batch: a sendmmsg of 16
// datagrams already takes the system calls of a windowsize-16 transfer from
// 16 to 1, and the buffers stay small (16 x 1472 bytes at blksize 1468; a
// single datagram at the largest blksizes, where batching gains nothing).
const (
	batchMax   = 16
	batchBytes = 32 << 10
)

// batchLen is how many datagrams a transfer with p sends per system call.
func batchLen(p params) int {
	return max(1, min(p.maxWindow(), batchMax, batchBytes/(4+p.blksize)))
}

// withoutNames hides the names in an error's text (the lookup's errors quote
// the requested name with %q and may wrap an *os.PathError); errors.Is
// still sees the whole chain.
type withoutNames struct{ err error }

func (e withoutNames) Unwrap() error { return e.err }

func (e withoutNames) Error() string {
	s := e.err.Error()
	if pe := (*os.PathError)(nil); errors.As(e.err, &pe) && pe.Path != "" {
		s = strings.ReplaceAll(s, pe.Path, "file")
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		j := i + 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(s) { // no closing quote: keep the rest as it is
			s = s[i:]
			break
		}
		b.WriteString("file")
		s = s[j+1:]
	}
	b.WriteString(s)
	return b.String()
}
