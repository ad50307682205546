//go:build linux

package dhcpsock_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pxeproxy/pxeproxy/dhcpsock"
)

// TestListen6: the socket is IPv6 only, has the receive buffer asked for,
// and has IPV6_RECVPKTINFO on from its first datagram.
func TestListen6(t *testing.T) {
	const asked = 1 << 20
	conn, granted, err := dhcpsock.Listen6(context.Background(), "[::1]:0", asked)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if granted < asked {
		t.Errorf("granted %d bytes, asked %d (the test runs as root, so SO_RCVBUFFORCE applies)", granted, asked)
	}
	rc, err := conn.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var pktinfo, v6only int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		pktinfo, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO)
		if gerr == nil {
			v6only, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		}
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if pktinfo != 1 || v6only != 1 {
		t.Errorf("IPV6_RECVPKTINFO %d, IPV6_V6ONLY %d; want both 1", pktinfo, v6only)
	}
	if _, _, err := dhcpsock.Listen6(context.Background(), conn.LocalAddr().String(), 0); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second Listen6 on the same port: %v, want address in use", err)
	}
}
