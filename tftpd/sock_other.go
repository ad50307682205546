//go:build !linux

package tftpd

import "net"

// batch: without sendmmsg and UDP GSO, a window is a write per block.
type batch struct{}

func (*batch) init(*net.UDPConn) error { return nil }

func (s *sock) setSegment(int) bool { return false }

func (s *sock) writeBatch(pkts [][]byte) error {
	for _, p := range pkts {
		if err := s.write(p); err != nil {
			return err
		}
	}
	return nil
}

// queued: without a non-blocking receive here, a refused read ends the
// transfer even when a datagram is queued behind the error.
func (s *sock) queued([]byte) int { return 0 }
