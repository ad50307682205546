// Command httpbootserve runs pxeproxy's HTTP boot server (package httpd) and
// its TFTP engine (package tftpd) on the same root, for the HTTP-vs-TFTP
// benchmark in bench/http. pxeproxy itself would also open DHCP sockets,
// which this benchmark does not need.
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
	"github.com/pxeproxy/pxeproxy/httpd"
	"github.com/pxeproxy/pxeproxy/metrics"
	"github.com/pxeproxy/pxeproxy/tftpd"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "httpbootserve:", err)
		os.Exit(1)
	}
}

func run() error {
	httpAddr := flag.String("http", "127.0.0.1:0", "HTTP listen address")
	tftpAddr := flag.String("tftp", "127.0.0.1:0", "TFTP (UDP) listen address")
	root := flag.String("root", ".", "directory to serve")
	ready := flag.String("ready", "", "file to write the bound addresses to once listening")
	level := flag.String("log", "info", "log level: debug, info, warn, error")
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
	m := metrics.New(metrics.Config{})
	// Counted as pxeproxy counts them, for the same per-transfer cost; the
	// reason of a failure does not matter here.
	onDone := func(st tftpd.Stats) {
		t := metrics.TFTPTransfer{Bytes: st.Bytes, Retransmits: st.Retransmits, Probe: st.Probe,
			Dur: st.Dur, BlockSize: st.BlockSize, WindowSize: st.WindowSize}
		if st.Err != nil {
			t.Failure = metrics.FailOther
		}
		m.TFTPDone(t)
	}
	tsrv, err := tftpd.New(tftpd.Config{Root: r, OnDone: onDone}, log)
	if err != nil {
		return err
	}
	hsrv, err := httpd.New(httpd.Config{Addr: *httpAddr, Root: r, Metrics: m.Handler(), OnFile: m.HTTPServed}, log)
	if err != nil {
		return err
	}
	uconn, err := net.ListenPacket("udp4", *tftpAddr)
	if err != nil {
		return fmt.Errorf("listen udp %s: %w", *tftpAddr, err)
	}
	defer uconn.Close()
	ln, err := hsrv.Listen(ctx)
	if err != nil {
		return err
	}
	if *ready != "" {
		addrs := fmt.Sprintf("http=%s\ntftp=%s\n", ln.Addr(), uconn.LocalAddr())
		if err := os.WriteFile(*ready, []byte(addrs), 0o644); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
	}
	errc := make(chan error, 2)
	go func() { errc <- tsrv.Serve(ctx, uconn) }()
	go func() { errc <- hsrv.Serve(ctx, ln) }()
	err = <-errc
	stop()
	if err2 := <-errc; err == nil {
		err = err2
	}
	return err
}
