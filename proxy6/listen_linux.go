package proxy6

import (
	"context"
	"net"

	"github.com/pxeproxy/pxeproxy/dhcpsock"
)

// Listen opens a socket for Serve on addr ("[::]:547" or "[::]:4011")
// with a receive buffer of rcvbuf bytes and returns the size granted: the
// socket of dhcpsock.Listen6, named here for the callers of this package.
func Listen(ctx context.Context, addr string, rcvbuf int) (net.PacketConn, int, error) {
	return dhcpsock.Listen6(ctx, addr, rcvbuf)
}
