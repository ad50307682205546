package tftpd

import (
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// spinPair is a transfer socket connected to a plain UDP socket on loopback.
func spinPair(t *testing.T, spin time.Duration, active int64) (*sock, net.PacketConn) {
	t.Helper()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	s, err := dialSock(net.IPv4(127, 0, 0, 1), peer.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	var a atomic.Int64
	a.Store(active)
	s.spin, s.active = spin, &a
	// Let the peer learn the socket's address: it answers whoever wrote.
	if err := s.write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	if _, _, err := peer.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	return s, peer
}

func sendTo(t *testing.T, peer net.PacketConn, s *sock, msg string) {
	t.Helper()
	sa, err := unixSockname(s.fd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.WriteTo([]byte(msg), sa); err != nil {
		t.Fatal(err)
	}
}

// TestSpinPolicy checks when a read polls: only with a spin budget, while
// the transfer is alone (fewer than GOMAXPROCS), and while the last wait
// was within the budget; a slow answer turns polling off until an answer
// comes quickly again.
func TestSpinPolicy(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("polling needs GOMAXPROCS >= 2")
	}
	b := make([]byte, 16)
	deadline := func() time.Time { return time.Now().Add(5 * time.Second) }

	s, peer := spinPair(t, 50*time.Millisecond, 1)
	sendTo(t, peer, s, "one")
	if n, err := s.read(b, deadline()); err != nil || string(b[:n]) != "one" || s.polled != 1 {
		t.Fatalf("queued datagram: %q %v, polled %d; want it read by polling", b[:n], err, s.polled)
	}
	// An answer slower than the budget: the poll gives up, the sleeping
	// read gets it, and the next read does not poll.
	time.AfterFunc(150*time.Millisecond, func() { sendTo(t, peer, s, "slow") })
	if n, err := s.read(b, deadline()); err != nil || string(b[:n]) != "slow" || s.polled != 1 {
		t.Fatalf("slow answer: %q %v, polled %d; want 1", b[:n], err, s.polled)
	}
	sendTo(t, peer, s, "after-slow")
	if n, err := s.read(b, deadline()); err != nil || string(b[:n]) != "after-slow" || s.polled != 1 {
		t.Fatalf("after a slow answer: %q %v, polled %d; want no poll", b[:n], err, s.polled)
	}
	// That read was quick again: polling comes back.
	sendTo(t, peer, s, "quick")
	if n, err := s.read(b, deadline()); err != nil || string(b[:n]) != "quick" || s.polled != 2 {
		t.Fatalf("quick again: %q %v, polled %d; want 2", b[:n], err, s.polled)
	}

	// Not alone: never polls.
	busy, peer2 := spinPair(t, 50*time.Millisecond, int64(runtime.GOMAXPROCS(0)))
	sendTo(t, peer2, busy, "x")
	if _, err := busy.read(b, deadline()); err != nil || busy.polled != 0 {
		t.Fatalf("with GOMAXPROCS transfers: err %v, polled %d; want no poll", err, busy.polled)
	}
	// Alone again: it polls (nothing was timed meanwhile, and nothing said
	// the client is slow).
	busy.active.Store(1)
	sendTo(t, peer2, busy, "alone")
	if n, err := busy.read(b, deadline()); err != nil || string(b[:n]) != "alone" || busy.polled != 1 {
		t.Fatalf("alone again: %q %v, polled %d; want 1", b[:n], err, busy.polled)
	}
	// A timeout while not alone turns polling off for the next read alone.
	busy.active.Store(int64(runtime.GOMAXPROCS(0)))
	if _, err := busy.read(b, time.Now().Add(20*time.Millisecond)); err != errRecvTimeout {
		t.Fatalf("nothing sent: err %v; want errRecvTimeout", err)
	}
	busy.active.Store(1)
	sendTo(t, peer2, busy, "after-timeout")
	if n, err := busy.read(b, deadline()); err != nil || string(b[:n]) != "after-timeout" || busy.polled != 1 {
		t.Fatalf("after a timeout: %q %v, polled %d; want no poll", b[:n], err, busy.polled)
	}

	// No budget: never polls.
	off, peer3 := spinPair(t, 0, 1)
	sendTo(t, peer3, off, "x")
	if _, err := off.read(b, deadline()); err != nil || off.polled != 0 {
		t.Fatalf("spin 0: err %v, polled %d; want no poll", err, off.polled)
	}
}

// TestSpinShutdown: a shutdown while a transfer polls ends its read.
func TestSpinShutdown(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("polling needs GOMAXPROCS >= 2")
	}
	s, _ := spinPair(t, 5*time.Millisecond, 1)
	time.AfterFunc(50*time.Millisecond, s.shutdown)
	// Without the shutdown the read would end at its deadline with
	// errRecvTimeout instead.
	if _, err := s.read(make([]byte, 16), time.Now().Add(10*time.Second)); err != errShutdown {
		t.Fatalf("read after shutdown: %v, want errShutdown", err)
	}
}

func unixSockname(fd int) (net.Addr, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	in4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		return nil, fmt.Errorf("not an IPv4 socket: %T", sa)
	}
	return &net.UDPAddr{IP: net.IP(in4.Addr[:]), Port: in4.Port}, nil
}

// TestPollRead: the netpoller read (many transfers at once) gets a queued
// datagram, one that comes while it waits, ends at its deadline and on a
// shutdown.
func TestPollRead(t *testing.T) {
	s, peer := spinPair(t, 0, 1)
	b := make([]byte, 16)
	deadline := time.Now().Add(5 * time.Second)
	sendTo(t, peer, s, "queued")
	time.Sleep(20 * time.Millisecond)
	if n, err := s.pollRead(b, deadline); err != nil || string(b[:n]) != "queued" {
		t.Fatalf("pollRead with a queued datagram: %q %v", b[:n], err)
	}
	time.AfterFunc(30*time.Millisecond, func() { sendTo(t, peer, s, "later") })
	if n, err := s.pollRead(b, deadline); err != nil || string(b[:n]) != "later" {
		t.Fatalf("pollRead, datagram while waiting: %q %v", b[:n], err)
	}
	if _, err := s.pollRead(b, time.Now().Add(50*time.Millisecond)); err != errRecvTimeout {
		t.Fatalf("pollRead with nothing to read: %v, want errRecvTimeout", err)
	}
	time.AfterFunc(30*time.Millisecond, s.shutdown)
	if n, err := s.pollRead(b, time.Now().Add(10*time.Second)); err != nil || n != 0 {
		t.Fatalf("pollRead after shutdown: %d bytes, %v; want 0 bytes (end of file)", n, err)
	}
}

// TestPollReadCoarseDeadline: the netpoller's timer is left where it was
// when the deadline moves on by less than coarseDeadline; when it then
// fires before the deadline, the read goes on waiting until the real one.
func TestPollReadCoarseDeadline(t *testing.T) {
	old := coarseDeadline
	coarseDeadline = 10 * time.Second
	defer func() { coarseDeadline = old }()
	s, peer := spinPair(t, 0, 1)
	b := make([]byte, 16)
	a := time.Now().Add(200 * time.Millisecond)
	sendTo(t, peer, s, "one")
	if n, err := s.pollRead(b, a); err != nil || string(b[:n]) != "one" {
		t.Fatalf("first pollRead: %q %v", b[:n], err)
	}
	// The timer stays at a; the datagram comes after a, well before the
	// deadline.
	time.AfterFunc(time.Until(a)+500*time.Millisecond, func() { sendTo(t, peer, s, "two") })
	if n, err := s.pollRead(b, a.Add(5*time.Second)); err != nil || string(b[:n]) != "two" {
		t.Fatalf("pollRead past the coarse timer: %q %v; want two", b[:n], err)
	}
	if !s.deadline.Equal(a.Add(5 * time.Second)) {
		t.Fatalf("timer at %v after firing early, want the exact deadline", s.deadline)
	}
}
