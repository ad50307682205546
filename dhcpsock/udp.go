//go:build linux

package dhcpsock

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// UDP reads a UDP socket with IP_PKTINFO control messages by a blocking
// recvmmsg into reused buffers, and writes with a cached control message,
// so a burst costs no allocation per packet beyond the source address.
//
// The socket is kept out of Go's netpoller on purpose: a request that
// arrives at an idle server then wakes the one thread blocked in recvmmsg,
// as it wakes dnsmasq's poll, not the runtime's thread in epoll_wait and a
// goroutine after it; and no send completion (EPOLLOUT) wakes that thread
// either (bench/dhcp/FINDINGS.md, "Port 67 out of the netpoller"). The
// price is a thread per socket while it waits.
type UDP struct {
	mu      sync.Mutex // fd's lifetime; serialises writes (delayed replies come from another goroutine)
	fd      int
	closed  bool // Close was called
	reading bool // ReadPacket is in recvmmsg: it closes fd when it returns

	hs      []mmsghdr // one recvmmsg batch
	iovs    []unix.Iovec
	bufs    [][]byte // as long as the longest b given to ReadPacket (cut at len(b))
	names   []unix.RawSockaddrInet4
	oobs    [][]byte
	next, n int // next unread message, messages in the batch
	cm      ipv4.ControlMessage
	yielded time.Time // last runtime.Gosched (see recv)

	oobSrc   net.IP // the control message last marshalled, and for what
	oobIf    int
	oob      []byte
	oobValid bool
}

// mmsghdr is struct mmsghdr: Go pads it as C does (64 bytes on 64-bit).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

const (
	batchSize = 16
	// yieldEvery: see recv.
	yieldEvery = 8 * time.Millisecond
)

// NewUDP takes over conn, a *net.UDPConn from Listen: it keeps a duplicate
// of the socket in blocking mode, outside the netpoller, and closes conn
// (which also takes the socket out of the netpoller's epoll set).
// IP_PKTINFO is switched on here too, for a conn not opened by Listen.
func NewUDP(conn net.PacketConn) (*UDP, error) {
	uc, ok := conn.(*net.UDPConn)
	if !ok {
		return nil, fmt.Errorf("not a UDP socket: %T", conn)
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("raw socket: %w", err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		return nil, fmt.Errorf("duplicate socket: %w", errors.Join(err, derr))
	}
	// The duplicate shares the open file, O_NONBLOCK included.
	err = unix.SetNonblock(fd, false)
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("set up socket: %w", err)
	}
	uc.Close()
	u := &UDP{
		fd:    fd,
		hs:    make([]mmsghdr, batchSize),
		iovs:  make([]unix.Iovec, batchSize),
		bufs:  make([][]byte, batchSize),
		names: make([]unix.RawSockaddrInet4, batchSize),
		oobs:  make([][]byte, batchSize),
	}
	for i := range u.hs {
		u.oobs[i] = ipv4.NewControlMessage(ipv4.FlagInterface | ipv4.FlagDst)
	}
	return u, nil
}

// ReadPacket reads the next datagram into b and says where it came from,
// the address it was sent to (valid until the next call) and the
// interface it came in on (0 if unknown). A datagram longer than b is cut
// to len(b) bytes, as recvfrom does. It serves the datagrams of one
// recvmmsg batch in order and blocks only when none is left.
func (u *UDP) ReadPacket(b []byte) (n int, src *net.UDPAddr, dst net.IP, ifIndex int, err error) {
	for u.next >= u.n {
		if size := max(len(b), 1); len(u.bufs[0]) < size {
			// Cutting at len(b) needs batch buffers at least that long:
			// made on the first read, again only for a longer b.
			for i := range u.bufs {
				u.bufs[i] = make([]byte, size)
			}
		}
		k, err := u.recv()
		if err != nil {
			return 0, nil, nil, 0, err
		}
		u.next, u.n = 0, k
	}
	h := &u.hs[u.next]
	i := u.next
	u.next++
	if err := u.cm.Parse(u.oobs[i][:h.hdr.Controllen]); err == nil {
		ifIndex, dst = u.cm.IfIndex, u.cm.Dst
	}
	if h.hdr.Namelen >= unix.SizeofSockaddrInet4 && u.names[i].Family == unix.AF_INET {
		a := u.names[i].Addr
		p := (*[2]byte)(unsafe.Pointer(&u.names[i].Port))
		src = &net.UDPAddr{IP: net.IPv4(a[0], a[1], a[2], a[3]), Port: int(p[0])<<8 | int(p[1])}
	}
	return copy(b, u.bufs[i][:min(int(h.len), len(u.bufs[i]))]), src, dst, ifIndex, nil
}

// recv waits for one batch. The wait is an ordinary (blocking) system call,
// so the thread gives up its P to the scheduler when it lasts. A goroutine
// that never leaves its schedule slot for 10 ms, as this one would not
// while it only waits in system calls, makes sysmon take its P away every
// 10 ms and then tick every 20 us; a Gosched every 8 ms (under the 10)
// starts a new slot and lets sysmon back off.
func (u *UDP) recv() (int, error) {
	if now := time.Now(); now.Sub(u.yielded) > yieldEvery {
		u.yielded = now
		runtime.Gosched()
	}
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return 0, net.ErrClosed
	}
	u.reading = true
	u.mu.Unlock()
	for i := range u.hs {
		h := &u.hs[i]
		u.iovs[i] = unix.Iovec{Base: &u.bufs[i][0]}
		h.hdr = unix.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&u.names[i])),
			Namelen: unix.SizeofSockaddrInet4,
			Iov:     &u.iovs[i],
			Control: &u.oobs[i][0],
		}
		h.hdr.Iov.SetLen(len(u.bufs[i]))
		h.hdr.SetIovlen(1)
		h.hdr.SetControllen(len(u.oobs[i]))
		h.len = 0
	}
	var n uintptr
	var e unix.Errno
	for {
		// MSG_WAITFORONE: wait for the first datagram only, then take what
		// else is queued.
		n, _, e = unix.Syscall6(unix.SYS_RECVMMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&u.hs[0])), uintptr(len(u.hs)), unix.MSG_WAITFORONE, 0, 0)
		if e != unix.EINTR {
			break
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reading = false
	if u.closed {
		// Close shut the socket down (the batch is empty datagrams) and
		// left closing it to us.
		unix.Close(u.fd)
		return 0, net.ErrClosed
	}
	if e != 0 {
		return 0, fmt.Errorf("recvmmsg: %w", e)
	}
	return int(n), nil
}

// WritePacket sends b to dst from src; a non-zero ifIndex makes it leave
// through that interface (broadcasts). It is safe for concurrent use.
func (u *UDP) WritePacket(b []byte, src net.IP, ifIndex int, dst *net.UDPAddr) error {
	ip4 := dst.IP.To4()
	if ip4 == nil {
		return fmt.Errorf("not an IPv4 destination: %s", dst)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return net.ErrClosed
	}
	// Nearly every reply on a socket leaves with the same source and
	// interface: marshal that control message once.
	if !u.oobValid || u.oobIf != ifIndex || !u.oobSrc.Equal(src) {
		u.oob = (&ipv4.ControlMessage{Src: src, IfIndex: ifIndex}).Marshal()
		u.oobSrc, u.oobIf, u.oobValid = src, ifIndex, true
	}
	sa := unix.SockaddrInet4{Port: dst.Port, Addr: [4]byte(ip4)}
	for {
		_, err := unix.SendmsgN(u.fd, b, u.oob, &sa, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sendmsg: %w", err)
		}
		return nil
	}
}

// Close ends the transport and a ReadPacket blocked on it. Closing a descriptor does not end a
// recvmmsg blocked on it, so Close shuts the socket down, which does; the
// reader then closes it (closing it here could hand its number to a new
// socket before the reader's next call).
func (u *UDP) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	if u.reading {
		// An unbound-peer UDP socket says ENOTCONN, but is shut down and
		// its reader woken all the same (inet_shutdown).
		_ = unix.Shutdown(u.fd, unix.SHUT_RD)
		return nil
	}
	return unix.Close(u.fd)
}
