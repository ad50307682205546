package proxy6

import (
	"context"
	"net"

	"github.com/pxeproxy/pxeproxy/dhcpsock"
)

// Listen is dhcpsock.Listen6, kept while the command still calls it here.
//
// Deprecated: use dhcpsock.Listen6.
func Listen(ctx context.Context, addr string, rcvbuf int) (net.PacketConn, int, error) {
	return dhcpsock.Listen6(ctx, addr, rcvbuf)
}
