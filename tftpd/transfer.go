package tftpd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/net/ipv4"
)

// maxBatchBytes bounds the packets one transfer keeps ready to send at once
// (one sendmmsg call): memory stays flat even at 64 x 65464.
const maxBatchBytes = 64 << 10

var (
	errTimeout  = errors.New("timed out waiting for ack")
	errShutdown = errors.New("server shutting down")
)

// xfer is one running transfer.
type xfer struct {
	conn    *net.UDPConn
	batch   *ipv4.PacketConn // nil: no sendmmsg, one write per packet
	src     source
	p       params
	timeout time.Duration
	retries int

	bufs [][]byte // packet buffers, 4-byte header + block
	msgs []ipv4.Message
	rbuf []byte

	base    int64 // last acknowledged block (0: OACK or nothing yet)
	sentMax int64 // highest block sent
	oack    bool  // waiting for ACK 0 of the OACK
	last    int64 // final block, known once read (0: not yet)
	lastLen int   // payload length of the final block
	st      Stats
}

// transfer runs one RRQ to the end and reports it.
func (s *Server) transfer(ctx context.Context, in ingress, peer net.Addr, req request) (st Stats) {
	start := time.Now()
	st = Stats{Peer: peer, File: req.file, BlockSize: defaultBlksize, WindowSize: 1}
	defer func() { st.Dur = time.Since(start) }()
	fail := func(err error) Stats {
		st.Err = err
		return st
	}

	conn, err := dialPeer(in.dst, peer)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	// Past the shutdown grace the socket is closed under the transfer.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	sendErr := func(code uint16, msg string) { conn.Write(appendError(nil, code, msg)) }
	if req.op == opWRQ {
		// Read-only server: nothing in the root is ever created or changed.
		sendErr(errCodeAccess, "access violation")
		return fail(fmt.Errorf("write request refused: %w", ErrAccess))
	}
	if req.mode != "octet" && req.mode != "netascii" {
		sendErr(errCodeIllegalOp, "unsupported mode")
		return fail(fmt.Errorf("unsupported mode %q", req.mode))
	}
	f, err := s.cfg.Root.Open(req.file)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			sendErr(errCodeNotFound, "file not found")
		} else {
			sendErr(errCodeAccess, "access violation")
		}
		return fail(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		sendErr(errCodeUndefined, "read error")
		return fail(fmt.Errorf("stat: %w", err))
	}

	lim := limits{blksize: s.mtus.maxBlksize(in.ifindex), window: s.cfg.WindowSizeMax, size: fi.Size()}
	if req.mode == "netascii" {
		lim.size = -1
	}
	p, oack := negotiate(req.opts, lim)
	st.BlockSize, st.WindowSize = p.blksize, p.window

	x := &xfer{conn: conn, p: p, timeout: s.cfg.RetransmitTimeout, retries: s.cfg.Retries, rbuf: make([]byte, 516)}
	// RFC 2349 timeout is echoed, but the server never waits longer than
	// its own RetransmitTimeout: curl asks for 5 s on every request, and
	// waiting that long after each lost packet makes a lossy link crawl.
	// Resending early only costs the client a duplicate it ignores.
	if p.timeout > 0 {
		x.timeout = min(p.timeout, x.timeout)
	}
	if req.mode == "netascii" {
		x.src = newNetasciiSource(f, p.blksize, p.window)
	} else {
		x.src = &octetSource{f: f, size: fi.Size()}
		x.last = fi.Size()/int64(p.blksize) + 1
		x.lastLen = int(fi.Size() % int64(p.blksize))
	}
	n := max(1, min(p.window, maxBatchBytes/(p.blksize+4)))
	slab := make([]byte, n*(p.blksize+4))
	for i := range n {
		x.bufs = append(x.bufs, slab[i*(p.blksize+4):(i+1)*(p.blksize+4)])
	}
	if n > 1 {
		x.batch = ipv4.NewPacketConn(conn)
		x.msgs = make([]ipv4.Message, n)
	}

	err = x.run(oack)
	st.Retransmits = x.st.Retransmits
	st.Bytes = x.acked()
	var te *tftpError
	if errors.As(err, &te) && te.code == errCodeOption && x.base == 0 && oack != nil {
		st.Probe = true
		return st
	}
	if err != nil {
		if ctx.Err() != nil {
			err = errShutdown
		}
		switch {
		case errors.Is(err, errFileChanged):
			sendErr(errCodeUndefined, "read error")
		case errors.Is(err, errShutdown):
			sendErr(errCodeUndefined, "server shutting down")
		}
		return fail(err)
	}
	return st
}

// dialPeer opens the transfer's own socket, bound to the address the
// request was sent to (a multi-homed host answers from the right address)
// and connected to the client, so the kernel drops packets from other
// ports. If that address cannot be bound (a broadcast RRQ), the kernel
// picks the source.
func dialPeer(dst net.IP, peer net.Addr) (*net.UDPConn, error) {
	ua, ok := peer.(*net.UDPAddr)
	if !ok {
		var err error
		if ua, err = net.ResolveUDPAddr("udp", peer.String()); err != nil {
			return nil, fmt.Errorf("transfer socket: %w", err)
		}
	}
	if dst != nil && !dst.IsUnspecified() {
		if c, err := net.DialUDP("udp", &net.UDPAddr{IP: dst}, ua); err == nil {
			return c, nil
		}
	}
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, fmt.Errorf("transfer socket: %w", err)
	}
	return c, nil
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
				x.st.Retransmits++
			}
			_, err := x.conn.Write(pkt)
			return err
		}); err != nil {
			return err
		}
	}
	for x.last == 0 || x.base < x.last {
		if err := x.await(x.sendWindow); err != nil {
			return err
		}
	}
	return nil
}

// await calls send, then reads until an ACK moves base forward, resending on
// timeouts.
func (x *xfer) await(send func(resend bool) error) error {
	if err := send(false); err != nil {
		return err
	}
	tries := 0
	deadline := time.Now().Add(x.timeout)
	x.conn.SetReadDeadline(deadline)
	for {
		n, err := x.conn.Read(x.rbuf)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return fmt.Errorf("read: %w", err)
			}
			tries++
			if tries > x.retries {
				return errTimeout
			}
			if err := send(true); err != nil {
				return err
			}
			deadline = time.Now().Add(x.timeout)
			x.conn.SetReadDeadline(deadline)
			continue
		}
		if n < 4 {
			continue
		}
		switch binary.BigEndian.Uint16(x.rbuf) {
		case opACK:
		case opERROR:
			return parseError(x.rbuf[2:n])
		default:
			x.conn.Write(appendError(nil, errCodeIllegalOp, "illegal operation"))
			return fmt.Errorf("unexpected opcode %d", binary.BigEndian.Uint16(x.rbuf))
		}
		k := binary.BigEndian.Uint16(x.rbuf[2:])
		if x.oack {
			if k == 0 {
				x.oack = false
				return nil
			}
			continue
		}
		if delta := int64(k - uint16(x.base)); delta > 0 && delta <= x.sentMax-x.base {
			x.base += delta
			return nil
		}
		// Old or duplicate ACK: keep waiting for the same deadline.
	}
}

// sendWindow sends blocks base+1 .. base+window (fewer at the end of the
// file), in batches of len(x.bufs) packets.
func (x *xfer) sendWindow(resend bool) error {
	first := x.base + 1
	end := x.base + int64(x.p.window)
	if x.last != 0 {
		end = min(end, x.last)
	}
	for b := first; b <= end; {
		k := 0
		for ; k < len(x.bufs) && b <= end; k++ {
			buf := x.bufs[k]
			n, err := x.src.block(b, buf[4:])
			if err != nil {
				return err
			}
			binary.BigEndian.PutUint16(buf, opDATA)
			binary.BigEndian.PutUint16(buf[2:], uint16(b))
			if x.batch != nil {
				x.msgs[k].Buffers = x.msgs[k].Buffers[:0]
				x.msgs[k].Buffers = append(x.msgs[k].Buffers, buf[:4+n])
			} else if _, err := x.conn.Write(buf[:4+n]); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			if b <= x.sentMax {
				x.st.Retransmits++
			}
			if n < x.p.blksize {
				x.last, x.lastLen = b, n
				end = b
			}
			b++
		}
		if x.batch != nil {
			for sent := 0; sent < k; {
				m, err := x.batch.WriteBatch(x.msgs[sent:k], 0)
				if err != nil {
					return fmt.Errorf("write: %w", err)
				}
				sent += m
			}
		}
		x.sentMax = max(x.sentMax, b-1)
	}
	return nil
}
