package tftpd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// sock is a transfer's UDP socket, connected to the client so that the
// kernel drops datagrams from any other address or port (RFC 1350 TIDs).
// Reads wait in Go's netpoller with a deadline, like any net.Conn: holding a
// thread for the ACK, polling for it or raising GOMAXPROCS did not win with
// clients paced like firmware on a LAN (bench/tftp/README.md).
type sock struct {
	c    *net.UDPConn
	down atomic.Bool // shutdown was called
	batch
}

var errRecvTimeout = errors.New("receive timeout")

// dialSock opens a UDP socket bound to laddr (nil: any) port 0 and
// connected to peer.
func dialSock(laddr net.IP, peer *net.UDPAddr) (*sock, error) {
	network := "udp4"
	if peer.IP.To4() == nil {
		network = "udp6"
	}
	var la *net.UDPAddr
	if laddr != nil {
		la = &net.UDPAddr{IP: laddr}
		if laddr.IsLinkLocalUnicast() {
			// A link-local address binds only with its interface: the
			// client's, since it sent to it.
			la.Zone = peer.Zone
		}
	}
	c, err := net.DialUDP(network, la, peer)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", peer, err)
	}
	s := &sock{c: c}
	if err := s.batch.init(c); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// write sends one datagram.
func (s *sock) write(b []byte) error {
	if _, err := s.c.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// read waits for one datagram until deadline: errRecvTimeout once it
// passes, errShutdown after shutdown. Empty datagrams are skipped.
func (s *sock) read(b []byte, deadline time.Time) (int, error) {
	for {
		if s.down.Load() {
			return 0, errShutdown
		}
		if err := s.c.SetReadDeadline(deadline); err != nil {
			return 0, fmt.Errorf("set read deadline: %w", err)
		}
		// shutdown may have moved the deadline to the past just before
		// the line above put it back.
		if s.down.Load() {
			return 0, errShutdown
		}
		n, err := s.c.Read(b)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if s.down.Load() {
				return 0, errShutdown
			}
			return 0, errRecvTimeout
		case errors.Is(err, syscall.ECONNREFUSED):
			// The client's port is closed. Linux reports the ICMP error
			// ahead of the datagrams already queued: a client that sent
			// its last ACK and closed its port while a resent block was on
			// its way left that ACK behind the error.
			if n := s.queued(b); n > 0 {
				return n, nil
			}
			return 0, fmt.Errorf("read: %w", err)
		case err != nil:
			return 0, fmt.Errorf("read: %w", err)
		case n > 0:
			return n, nil
		}
	}
}

// shutdown ends a read in progress and every later one with errShutdown;
// writes still work, so the transfer can tell the client why it ends. Safe
// to call from another goroutine.
func (s *sock) shutdown() {
	s.down.Store(true)
	s.c.SetReadDeadline(time.Unix(1, 0))
}

func (s *sock) close() { s.c.Close() }
