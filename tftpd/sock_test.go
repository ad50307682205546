package tftpd

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// sockPair is a transfer socket connected to a plain UDP socket on loopback.
func sockPair(t *testing.T) (*sock, net.PacketConn) {
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
	return s, peer
}

// TestSockRead: a read returns the next non-empty datagram, errRecvTimeout
// at its deadline, and errShutdown once shutdown is called, also for a
// read already waiting; writes still work after shutdown.
func TestSockRead(t *testing.T) {
	s, peer := sockPair(t)
	to := s.c.LocalAddr()
	b := make([]byte, 16)
	peer.WriteTo(nil, to)
	peer.WriteTo([]byte("one"), to)
	if n, err := s.read(b, time.Now().Add(5*time.Second)); err != nil || string(b[:n]) != "one" {
		t.Fatalf("read: %q %v; want one (the empty datagram skipped)", b[:n], err)
	}
	start := time.Now()
	if _, err := s.read(b, start.Add(50*time.Millisecond)); err != errRecvTimeout {
		t.Fatalf("read with nothing to read: %v, want errRecvTimeout", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("timed out after %v, before the deadline", d)
	}
	time.AfterFunc(30*time.Millisecond, s.shutdown)
	if _, err := s.read(b, time.Now().Add(10*time.Second)); !errors.Is(err, errShutdown) {
		t.Fatalf("read during shutdown: %v, want errShutdown", err)
	}
	peer.WriteTo([]byte("late"), to)
	if _, err := s.read(b, time.Now().Add(10*time.Second)); !errors.Is(err, errShutdown) {
		t.Fatalf("read after shutdown: %v, want errShutdown", err)
	}
	if err := s.write([]byte("bye")); err != nil {
		t.Fatalf("write after shutdown: %v", err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := peer.ReadFrom(b); err != nil || string(b[:n]) != "bye" {
		t.Fatalf("peer got %q %v; want bye", b[:n], err)
	}
}

// TestSockReadRefusedKeepsQueuedAck: a client sends its last ACK and closes
// its port while a resent block is on its way; the ICMP error that block
// brings back must not hide the ACK queued before it. With nothing queued
// the refusal is the read's error.
func TestSockReadRefusedKeepsQueuedAck(t *testing.T) {
	s, peer := sockPair(t)
	b := make([]byte, 16)
	peer.WriteTo([]byte("ack"), s.c.LocalAddr())
	peer.Close()
	if err := s.write([]byte("resent block")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.read(b, time.Now().Add(5*time.Second)); err != nil || string(b[:n]) != "ack" {
		t.Fatalf("read: %q %v; want the queued ack", b[:n], err)
	}
	if err := s.write([]byte("resent block")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.read(b, time.Now().Add(5*time.Second)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("read with nothing queued: %v, want ECONNREFUSED", err)
	}
}
