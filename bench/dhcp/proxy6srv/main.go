// Command proxy6srv runs the DHCPv6 ProxyDHCP (package proxy6) alone, on
// [::]:547 and [::]:4011 of the interfaces given (dhcpsock.Listen6: the same
// receive buffer as pxeproxy's ports 67 and 4011), for bench/dhcp/run6.sh
// until pxeproxy itself serves IPv6 (PXE_IPV6). It answers with pxeproxy's
// default boot files and logs as pxeproxy does (internal/logfmt).
//
// It opens DHCPv6 server sockets: run it only inside a network namespace
// made for the test (run6.sh does), never on a real network.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pxeproxy/pxeproxy/dhcpsock"
	"github.com/pxeproxy/pxeproxy/internal/logfmt"
	"github.com/pxeproxy/pxeproxy/internal/pxeboot"
	"github.com/pxeproxy/pxeproxy/proxy6"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "proxy6srv:", err)
		os.Exit(1)
	}
}

func run() error {
	ifaces := flag.String("interfaces", "", "comma-separated interfaces to serve (empty: all with IPv6)")
	level := flag.String("level", "warn", "log level: debug, info, warn, error")
	rcvbuf := flag.Int("rcvbuf", 16<<20, "receive buffer in bytes (pxeproxy's PXE_DHCP_RCVBUF default)")
	flag.Parse()
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("flag -level %q: %w", *level, err)
	}
	log := slog.New(logfmt.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	cfg := proxy6.Config{Settings: pxeboot.Settings{
		BootFiles:  map[uint16]string{0: "undionly.kpxe", 6: "ipxe-i386.efi", 7: "snponly.efi", 9: "snponly.efi", 11: "ipxe-arm64.efi"},
		IPXEScript: "boot.ipxe",
	}}
	if *ifaces != "" {
		cfg.Interfaces = strings.Split(*ifaces, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv := proxy6.New(cfg, log)
	errc := make(chan error, 2)
	for _, addr := range []string{"[::]:547", "[::]:4011"} {
		conn, _, err := dhcpsock.Listen6(ctx, addr, *rcvbuf)
		if err != nil {
			return err
		}
		go func() { errc <- srv.Serve(ctx, conn) }()
	}
	log.Info("proxy6srv ready", "interfaces", fmt.Sprint(srv.Interfaces()))
	for range 2 {
		if err := <-errc; err != nil {
			stop()
			return err
		}
	}
	return nil
}
