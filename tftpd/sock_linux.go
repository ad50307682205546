package tftpd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sock is a transfer's UDP socket in blocking mode, used with plain
// read/write system calls instead of Go's netpoller. A lock-step transfer
// is one round trip per block, and a blocking recv that the kernel wakes
// directly costs fewer system calls and thread hand-offs than
// EAGAIN + epoll + wake-up (measured in bench/tftp). A transfer in heldRead
// holds an OS thread while it waits, at most GOMAXPROCS-1 of them.
//
// While fewer transfers wait than there are Ps (GOMAXPROCS), a
// waiting transfer keeps its P too (see heldRead). With more waiters the
// transfer parks in Go's netpoller instead (see pollRead), so that many
// transfers share a few threads without a P hand-off per packet.
type sock struct {
	fd      int
	timeout time.Duration // SO_RCVTIMEO currently set on fd
	down    atomic.Bool   // shutdown was called

	// f registers fd with the netpoller once pollRead is first used; it
	// then owns fd (closing f closes it).
	f        *os.File
	rc       syscall.RawConn
	deadline time.Time // read deadline currently set on f

	mu     sync.Mutex // orders shutdown (from another goroutine) and close
	closed bool

	// Spinning (see read): at most spin, only while *active (transfers
	// running) is below the runtime's own GOMAXPROCS (procs.cpus, not the
	// raised value) and the last wait took at most spin.
	spin     time.Duration
	active   *atomic.Int64
	lastWait time.Duration
	polled   int // reads served by polling (tests)

	// pollRead's state for readFn, made once per socket: a closure per
	// read was an allocation per block.
	readFn func(fd uintptr) bool
	rb     []byte
	rn     uintptr
	re     syscall.Errno

	// writeBatch: the GSO segment size (0: off) and the sendmmsg
	// headers, reused.
	segment int
	msgs    []unix.Mmsghdr
	iovs    []unix.Iovec
	batches int // sendmmsg calls that sent something (tests)
}

var errRecvTimeout = errors.New("receive timeout")

// dialSock opens a blocking UDP socket bound to laddr (nil: any) port 0 and
// connected to peer, so the kernel drops datagrams from other ports.
func dialSock(laddr net.IP, peer *net.UDPAddr) (*sock, error) {
	family, rsa, err := sockaddr(peer.IP, peer.Port)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	s := &sock{fd: fd}
	if laddr != nil {
		lf, lsa, err := sockaddr(laddr, 0)
		if err == nil && lf == family {
			if err := unix.Bind(fd, lsa); err != nil {
				s.close()
				return nil, fmt.Errorf("bind %s: %w", laddr, err)
			}
		}
	}
	if err := unix.Connect(fd, rsa); err != nil {
		s.close()
		return nil, fmt.Errorf("connect %s: %w", peer, err)
	}
	return s, nil
}

// register adds fd to the netpoller the first time pollRead needs it, not
// for every socket: a registered socket wakes the runtime's idle thread in
// epoll_wait on every ACK even while heldRead reads it (lock-step server
// CPU went from 2.3-2.5 s to 3.7-4.3 s when every socket was registered).
// os.NewFile only registers a descriptor that is non-blocking at that
// moment; the registration (edge-triggered epoll) stays valid when
// O_NONBLOCK is cleared again afterwards. pollRead never blocks in recv
// (MSG_DONTWAIT), while heldRead and write rely on a blocking fd with
// SO_RCVTIMEO, so neither path needs an extra system call per packet.
func (s *sock) register() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errShutdown
	}
	if err := unix.SetNonblock(s.fd, true); err != nil {
		return fmt.Errorf("set non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(s.fd), "tftp")
	s.f = f // owns fd from here on, also on failure
	rc, err := f.SyscallConn()
	if err == nil {
		err = unix.SetNonblock(s.fd, false)
	}
	if err != nil {
		return fmt.Errorf("register socket: %w", err)
	}
	s.rc = rc
	s.readFn = s.recvNow
	return nil
}

// sockaddr converts ip and port; IPv4-mapped addresses become AF_INET.
func sockaddr(ip net.IP, port int) (int, unix.Sockaddr, error) {
	if ip4 := ip.To4(); ip4 != nil {
		return unix.AF_INET, &unix.SockaddrInet4{Port: port, Addr: [4]byte(ip4)}, nil
	}
	if ip16 := ip.To16(); ip16 != nil {
		return unix.AF_INET6, &unix.SockaddrInet6{Port: port, Addr: [16]byte(ip16)}, nil
	}
	return 0, nil, fmt.Errorf("bad address %v", ip)
}

// write sends one datagram. It first tries a non-blocking send outside the
// scheduler's system call bookkeeping (it cannot block, so there is nothing
// for the runtime to hand off) and falls back to a blocking write when the
// socket buffer is full.
func (s *sock) write(b []byte) error {
	if len(b) > 0 {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			return nil
		case unix.EAGAIN, unix.EINTR:
		default:
			// For instance ECONNREFUSED from an earlier ICMP port
			// unreachable: reported once, so return it here.
			return fmt.Errorf("write: %w", e)
		}
	}
	for {
		_, err := unix.Write(s.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
}

// setSegment asks the kernel to split every send longer than size into
// datagrams of size bytes (UDP GSO, Linux 4.18), so that writeBatch sends a
// batch down the stack once and a NIC with UDP segmentation offload splits
// it itself; size 0 turns it off. False when the kernel does not have it.
func (s *sock) setSegment(size int) bool {
	if unix.SetsockoptInt(s.fd, unix.SOL_UDP, unix.UDP_SEGMENT, size) != nil {
		return false
	}
	s.segment = size
	return true
}

// writeBatch sends the datagrams in pkts in order. With GSO on (setSegment)
// and pkts back to back in one buffer, every one segment-sized but the
// last, that is one send; otherwise as many as it can per sendmmsg.
//
// Both save system calls (a windowsize-16 transfer made 16 per window), and
// the whole batch is queued before the client runs: with a write per
// block, a client on the same machine was woken by, and ran after, each
// block of the window. bench/tftp, same run: against a write per block
// (5 rounds), sendmmsg took one atftp at windowsize 16 from 126.3 to 159.3
// MB/s and 32 atftp at windowsize 4 from 90.5 to 99.6, server CPU 30.8 ->
// 26.4 s; against sendmmsg (3 rounds), GSO took the 32 clients from 96.8 to
// 122.4 MB/s (atftpd 92.5), server CPU 11.5 -> 7.6 s.
//
// A GSO send refused (EIO: the device cannot segment; EINVAL, EMSGSIZE: a
// datagram above the route's MTU) turns GSO off for the socket, since the
// kernel applies its checks to every send while it is on, and the batch
// goes by sendmmsg. A full socket buffer falls back to write for the next
// datagram (it blocks until there is room).
func (s *sock) writeBatch(pkts [][]byte) error {
	if whole, ok := s.segmented(pkts); ok {
		err := s.write(whole)
		if !errors.Is(err, unix.EIO) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EMSGSIZE) {
			return err
		}
		s.setSegment(0)
	}
	if cap(s.msgs) < len(pkts) {
		s.msgs = make([]unix.Mmsghdr, len(pkts))
		s.iovs = make([]unix.Iovec, len(pkts))
	}
	msgs, iovs := s.msgs[:len(pkts)], s.iovs[:len(pkts)]
	for i, p := range pkts {
		if len(p) == 0 {
			return errors.New("write: empty datagram")
		}
		iovs[i].Base = &p[0]
		iovs[i].SetLen(len(p))
		msgs[i] = unix.Mmsghdr{}
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.SetIovlen(1)
	}
	defer clear(iovs) // keep no pointers into the packet buffers
	for len(msgs) > 0 {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			if n > 0 {
				msgs = msgs[n:]
				s.batches++
				continue
			}
		case unix.EAGAIN, unix.EINTR:
		default:
			return fmt.Errorf("write: %w", e)
		}
		// Nothing went: wait for room with a blocking write of the next one.
		i := len(pkts) - len(msgs)
		if err := s.write(pkts[i]); err != nil {
			return err
		}
		msgs = msgs[1:]
	}
	return nil
}

// segmented returns pkts as the one buffer a GSO send takes: true when GSO
// is on and pkts lie back to back in memory, all s.segment bytes long but
// the last, which may be shorter.
func (s *sock) segmented(pkts [][]byte) ([]byte, bool) {
	if s.segment == 0 || len(pkts) < 2 {
		return nil, false
	}
	last := pkts[len(pkts)-1]
	total := (len(pkts)-1)*s.segment + len(last)
	if len(last) == 0 || len(last) > s.segment || cap(pkts[0]) < total {
		return nil, false
	}
	whole := pkts[0][:total]
	for i, p := range pkts {
		if (i < len(pkts)-1 && len(p) != s.segment) || &p[0] != &whole[i*s.segment] {
			return nil, false
		}
	}
	return whole, true
}

// read waits for one datagram until deadline; it returns errRecvTimeout
// when the deadline passes.
//
// A transfer that is alone (fewer transfers than the runtime's own
// GOMAXPROCS, procs.cpus, so a CPU stays free for the client's side and
// everything else) and whose last ACK came within
// s.spin first polls the socket for up to s.spin without sleeping. A
// lock-step round trip that ends in a sleeping thread pays for its
// wake-up (on a VM, a halted virtual CPU woken by an interrupt): a C
// server that only answers each ACK from memory made 37.9 MB/s sleeping
// and 50.4 MB/s polling (bench/tftp floor). The rule keeps the cost
// bounded and adaptive: a client whose ACKs take longer than s.spin (a
// real LAN with firmware behind it, or a machine too busy to run it
// promptly) turns polling off after one miss, and it comes back only when
// an ACK again arrives within s.spin of the send; with several transfers
// at once, nobody polls.
func (s *sock) read(b []byte, deadline time.Time) (int, error) {
	if s.spin <= 0 || s.active == nil || s.active.Load() >= int64(procs.cpus.Load()) {
		// Nobody polls: the wait is not timed either (two clock reads per
		// block for nothing, ~2.5 % of the server's CPU with 32 transfers).
		// lastWait keeps what it said when the transfer was last alone; a
		// timeout still turns polling off.
		n, err := s.wait(b, deadline)
		if err != nil {
			s.lastWait = time.Hour
		}
		return n, err
	}
	start := time.Now()
	if s.lastWait <= s.spin {
		if n, ok := s.poll(b, start.Add(s.spin)); ok {
			s.lastWait = time.Since(start)
			s.polled++
			return n, nil
		}
	}
	n, err := s.wait(b, deadline)
	if err == nil {
		s.lastWait = time.Since(start)
	} else {
		s.lastWait = time.Hour
	}
	return n, err
}

// poll reads without sleeping until a datagram comes (true) or until
// passes, the socket is shut down, or the read fails (false; the blocking
// read then waits, or reports the failure).
func (s *sock) poll(b []byte, until time.Time) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for !s.down.Load() {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			if n > 0 {
				return int(n), true
			}
		case unix.EAGAIN, unix.EINTR:
		default:
			return 0, false
		}
		if time.Now().After(until) {
			return 0, false
		}
	}
	return 0, false
}

// wait is the sleeping read: until a datagram comes or deadline passes.
func (s *sock) wait(b []byte, deadline time.Time) (int, error) {
	for {
		n, err := s.recv(b, deadline)
		switch err {
		case nil:
			// A socket shut down for server shutdown reads 0 bytes; an
			// empty datagram is not TFTP either.
			if n == 0 {
				if s.down.Load() {
					return 0, errShutdown
				}
				continue
			}
			return n, nil
		case unix.EAGAIN, unix.EINTR:
			// Timeout, or a signal (Go's preemption) cut the wait short:
			// the loop compares the deadline again.
			continue
		case errRecvTimeout:
			return 0, err
		default:
			return 0, fmt.Errorf("read: %w", err)
		}
	}
}

// waiting counts transfers blocked in recv.
var waiting atomic.Int32

// recv is one blocking read of the socket until deadline: in heldRecv
// while fewer than GOMAXPROCS transfers wait (one P always stays free for
// everything else), otherwise parked in the netpoller so that many
// transfers share the Ps. While a few transfers run, procs raises
// GOMAXPROCS so that each of them is held (procs.go).
func (s *sock) recv(b []byte, deadline time.Time) (int, error) {
	w := waiting.Add(1)
	defer waiting.Add(-1)
	if w <= procs.held.Load() {
		return s.heldRecv(b, deadline)
	}
	return s.pollRead(b, deadline)
}

// heldRecv is heldRead with SO_RCVTIMEO set to what is left until
// deadline; errRecvTimeout once it has passed.
func (s *sock) heldRecv(b []byte, deadline time.Time) (int, error) {
	left := time.Until(deadline)
	if left <= 0 {
		return 0, errRecvTimeout
	}
	// Set SO_RCVTIMEO only when it differs by more than a few ms from what
	// is left: each round starts with the full timeout, so in the steady
	// state there is no extra system call per packet.
	if d := s.timeout - left; d > 5*time.Millisecond || d < -5*time.Millisecond {
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return 0, fmt.Errorf("set receive timeout: %w", err)
		}
		s.timeout = left
	}
	return heldRead(s.fd, b)
}

// pollRead tries a non-blocking recv and, while there is nothing to read,
// parks the goroutine in the netpoller until the socket is readable or the
// deadline passes. Through a blocking read(2) each of 32 transfers on 2 Ps
// held a thread, and every ACK meant a P hand-off and a futex wake-up.
func (s *sock) pollRead(b []byte, deadline time.Time) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if s.rc == nil {
		if err := s.register(); err != nil {
			return 0, err
		}
	}
	s.rb = b
	defer func() { s.rb = nil }()
	for {
		// Every block moves the deadline on by a block's time: resetting
		// the netpoller's timer each time cost ~2 % of the server's CPU
		// with 32 transfers. The timer may run up to coarseDeadline ahead
		// of the deadline; when it fires early, it is set exactly.
		if s.deadline.IsZero() || deadline.Before(s.deadline) || deadline.Sub(s.deadline) > coarseDeadline {
			if err := s.f.SetReadDeadline(deadline); err != nil {
				return 0, fmt.Errorf("set read deadline: %w", err)
			}
			s.deadline = deadline
		}
		err := s.rc.Read(s.readFn)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if time.Now().Before(deadline) {
				s.deadline = time.Time{} // early: set it exactly
				continue
			}
			return 0, errRecvTimeout
		case err != nil:
			return 0, fmt.Errorf("poll: %w", err)
		case s.re == unix.EAGAIN:
			return 0, nil // shut down: read's caller sees 0 bytes and s.down
		case s.re != 0:
			return 0, s.re
		}
		return int(s.rn), nil
	}
}

// coarseDeadline: see pollRead (a variable for tests).
var coarseDeadline = 50 * time.Millisecond

// recvNow is pollRead's non-blocking recv into s.rb.
func (s *sock) recvNow(fd uintptr) bool {
	s.rn, _, s.re = unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&s.rb[0])), uintptr(len(s.rb)), unix.MSG_DONTWAIT, 0, 0)
	// A UDP socket that was shut down still says EAGAIN to a non-blocking
	// recv (the end of file is only reported to a blocking one), but its
	// wake-up does reach the netpoller.
	return s.re != unix.EAGAIN || s.down.Load()
}

// heldRead blocks in read(2) without telling the scheduler, so the thread
// keeps its P. Through a normal system call a transfer that waits ~40 us
// for each ACK has its P taken by sysmon and handed off every 10 ms, sysmon
// itself wakes every 20 us after each hand-off, and every return from the
// read has to find a P again: lock-step at blksize 1468 went from 28.6-29.0
// to 32.3-33.0 MB/s with this (bench/tftp, same run). It is bounded so that
// one P always stays free for everything else. The wait is bounded too:
// SO_RCVTIMEO is always set (at most the retransmit timeout), and the
// runtime's preemption signal ends the read with EINTR (a socket with a
// receive timeout is not restarted, signal(7)), so the goroutine can be
// preempted and a stop-the-world is not held up.
func heldRead(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// shutdown wakes a blocked read; safe to call from another goroutine.
func (s *sock) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down.Store(true)
	if !s.closed { // the fd number may already belong to another socket
		unix.Shutdown(s.fd, unix.SHUT_RDWR)
	}
}

func (s *sock) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		if s.f != nil {
			s.f.Close()
		} else {
			unix.Close(s.fd)
		}
	}
}
