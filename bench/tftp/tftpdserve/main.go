// Command tftpdserve runs pxeproxy's tftpd engine alone on one address, for
// the benchmark in bench/tftp (pxeproxy itself also opens DHCP sockets).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/pxeproxy/pxeproxy/bootfs"
	"github.com/pxeproxy/pxeproxy/tftpd"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tftpdserve:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:69", "UDP listen address")
	root := flag.String("root", ".", "directory to serve")
	level := flag.String("log", "warn", "log level: debug, info, warn, error")
	// Every benchmark client comes from the same address, which the
	// per-client limit (default 8) would refuse past 8 transfers.
	perClient := flag.Int("max-per-client", 256, "tftpd.Config.MaxPerClient")
	flag.Parse()

	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log %q: %w", *level, err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	r, err := bootfs.OpenRoot(*root)
	if err != nil {
		return err
	}
	defer r.Close()
	srv, err := tftpd.New(tftpd.Config{Root: r, MaxPerClient: *perClient}, log)
	if err != nil {
		return err
	}
	conn, err := net.ListenPacket("udp4", *addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	defer conn.Close()
	return srv.Serve(ctx, conn)
}
