package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/pxeproxy/pxeproxy/dhcpsock"
	"github.com/pxeproxy/pxeproxy/internal/dhcptest"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
	"github.com/pxeproxy/pxeproxy/proxy"
)

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer = testlog.Buffer

// serveProxy runs the proxy on port 67 for ifaces until the test ends.
func serveProxy(t *testing.T, log *slog.Logger, ifaces ...string) {
	t.Helper()
	tr, _, err := dhcpsock.Listen67(context.Background(), 1<<20, log)
	if err != nil {
		t.Fatalf("listen on port 67: %v", err)
	}
	srv := proxy.New(proxy.ServerConfig{Config: proxy.Config{BootFiles: map[uint16]string{0: "undionly.kpxe", 7: "snponly.efi", 9: "snponly.efi"}}, Interfaces: ifaces}, log)
	dhcptest.Serve(t, func(ctx context.Context) error { return srv.Serve(ctx, tr, proxy.PortDHCP) })
}
