//go:build linux

package dhcpsock_test

import (
	"context"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxeproxy/pxeproxy/dhcpsock"
	"github.com/pxeproxy/pxeproxy/internal/netnstest"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
	"github.com/pxeproxy/pxeproxy/probe"
	"github.com/pxeproxy/pxeproxy/proxy"
)

// The tests of this file's package open DHCP sockets: each runs in a
// network namespace of its own (netnstest.Private). They import proxy,
// conflict and probe to drive the sockets as pxeproxy does; the package
// itself imports none of them.

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer = testlog.Buffer

// serveProxy runs the proxy on port 67 through Listen67 for ifaces until
// the test ends and returns the listening mode.
func serveProxy(t *testing.T, log *slog.Logger, ifaces ...string) string {
	t.Helper()
	tr, mode, err := dhcpsock.Listen67(context.Background(), 1<<20, log)
	if err != nil {
		t.Fatalf("Listen67: %v", err)
	}
	startServer(t, tr, proxy.PortDHCP, ifaces, log)
	return mode
}

// probeFrom sends req as a client at the far end of peer does, and returns
// the replies that came within wait.
func probeFrom(t *testing.T, peer *netnstest.Peer, req *dhcpv4.DHCPv4, wait time.Duration) []probe.Reply {
	t.Helper()
	var replies []probe.Reply
	if err := peer.Do(func() error {
		var err error
		replies, err = probe.Run(context.Background(), peer.PeerIf, req, wait)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return replies
}

// listenBcast opens a UDP socket bound to addr and to interface dev, able
// to broadcast.
func listenBcast(addr, dev string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			if serr == nil {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return lc.ListenPacket(context.Background(), "udp4", addr)
}
