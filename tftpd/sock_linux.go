package tftpd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batch sends a window's datagrams with few system calls: one UDP GSO send
// per batch, or one sendmmsg when GSO is off or refused. With a write per
// block, a windowsize-16 transfer made 16 system calls per window, and a
// client on the same CPU was woken by, and ran after, each block.
type batch struct {
	rc      syscall.RawConn
	segment int    // UDP GSO segment size (0: off)
	gsoOOB  []byte // the UDP_SEGMENT control message for segment
	msgs    []unix.Mmsghdr
	iovs    []unix.Iovec
	batches int // sendmmsg calls that sent something (tests)
}

func (b *batch) init(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("transfer socket: %w", err)
	}
	b.rc = rc
	return nil
}

// setSegment makes writeBatch hand a batch to the kernel as one send that
// it splits into datagrams of size bytes (UDP GSO, Linux 4.18; a NIC with
// UDP segmentation offload splits it itself). Size 0 turns it off. False
// when the kernel does not have it.
//
// The segment size goes with each batch as a control message, not as a
// socket option: with the option set, every other send longer than size
// was split too (an OACK or ERROR of a blksize-8 transfer left as 12-byte
// pieces).
func (s *sock) setSegment(size int) bool {
	if size == 0 {
		s.segment, s.gsoOOB = 0, nil
		return true
	}
	var err error
	if cerr := s.rc.Control(func(fd uintptr) {
		// Kernels without UDP GSO do not know the option: they would
		// ignore the control message and send one oversized datagram.
		_, err = unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
	}); cerr != nil || err != nil || size > 0xffff {
		return false
	}
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(size))
	s.segment, s.gsoOOB = size, oob
	return true
}

// sendSegmented sends whole as one GSO send of s.segment-sized datagrams.
func (s *sock) sendSegmented(whole []byte) error {
	return s.rawWrite(func(fd uintptr) (bool, error) {
		for {
			_, err := unix.SendmsgN(int(fd), whole, s.gsoOOB, nil, unix.MSG_DONTWAIT)
			if err != unix.EINTR {
				return err == unix.EAGAIN, err
			}
		}
	})
}

// rawWrite calls send with the socket's descriptor until send no longer
// asks to wait for the socket to be writable (the netpoller waits then),
// and returns the error of the last call.
func (s *sock) rawWrite(send func(fd uintptr) (wait bool, err error)) error {
	var werr error
	err := s.rc.Write(func(fd uintptr) bool {
		var wait bool
		wait, werr = send(fd)
		return !wait
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// writeBatch sends the datagrams in pkts in order. With GSO on (setSegment)
// and pkts back to back in one buffer, every one segment-sized but the
// last, that is one send; otherwise as many as it can per sendmmsg.
//
// A GSO send refused (EIO: the device cannot segment; EINVAL, EMSGSIZE: a
// datagram above the route's MTU) turns GSO off for the transfer, and the
// batch goes by sendmmsg.
func (s *sock) writeBatch(pkts [][]byte) error {
	if whole, ok := s.segmented(pkts); ok {
		err := s.sendSegmented(whole)
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
	return s.rawWrite(func(fd uintptr) (bool, error) {
		for len(msgs) > 0 {
			n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case 0:
				msgs = msgs[n:]
				s.batches++
			case unix.EINTR:
			case unix.EAGAIN:
				return true, nil
			default:
				return false, e
			}
		}
		return false, nil
	})
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

// queued returns the length of a datagram already waiting on the socket,
// read into b without waiting for one; 0 when there is none.
func (s *sock) queued(b []byte) int {
	n := 0
	s.batch.rc.Read(func(fd uintptr) bool {
		if m, _, err := unix.Recvfrom(int(fd), b, unix.MSG_DONTWAIT); err == nil {
			n = m
		}
		return true // one try: never wait in the netpoller
	})
	return n
}
