package proxy6

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Listen opens a UDP socket on addr ("[::]:547" or "[::]:4011") for Serve,
// IPv6 only, with a receive buffer of rcvbuf bytes: machines powered on
// together send thousands of SOLICITs at once, and the kernel's default
// buffer (208 KiB) drops most of them (bench/dhcp/run6.sh). It returns the
// size the kernel granted; rcvbuf 0 keeps the default.
func Listen(ctx context.Context, addr string, rcvbuf int) (net.PacketConn, int, error) {
	var granted int
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			s := int(fd)
			// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN;
			// without it fall back to SO_RCVBUF, capped by rmem_max.
			if rcvbuf > 0 && unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
				_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
			}
			if v, err := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
				granted = v / 2 // the kernel reports twice the usable size
			}
			// From the first datagram on: one queued before Serve asks for
			// IPV6_RECVPKTINFO would carry no ingress interface.
			serr = unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(ctx, "udp6", addr)
	if err != nil {
		return nil, 0, fmt.Errorf("listen on udp6 %s: %w", addr, err)
	}
	return conn, granted, nil
}
