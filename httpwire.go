package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/pxeproxy/pxeproxy/bootfs"
	"github.com/pxeproxy/pxeproxy/httpd"
	"github.com/pxeproxy/pxeproxy/metrics"
)

// setupHTTP opens the PXE_HTTP_ADDR listener (/healthz, /metrics and the boot
// files of root over HTTP) and returns the function that serves it until its
// context ends. It listens before returning, so a taken port stops the start
// with one line like the other sockets. run is nil when PXE_HTTP_ADDR is
// empty. root may be nil (PXE_TFTP=off): then only health and metrics are
// served.
func setupHTTP(cfg *Config, root *bootfs.Root, m *metrics.Metrics, h *httpd.Health, log *slog.Logger) (run func(context.Context) error, err error) {
	if cfg.HTTPAddr == "" {
		return nil, nil
	}
	srv, err := httpd.New(httpd.Config{
		Addr:          cfg.HTTPAddr,
		Root:          root,
		Metrics:       m,
		Health:        h,
		ShutdownGrace: time.Duration(cfg.ShutdownGrace),
	}, log)
	if err != nil {
		return nil, fmt.Errorf("PXE_HTTP_ADDR=%q: %w", cfg.HTTPAddr, err)
	}
	ln, err := srv.Listen(context.Background())
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("PXE_HTTP_ADDR=%q: the port is taken by another program; choose a free port or stop that program: %w", cfg.HTTPAddr, err)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("PXE_HTTP_ADDR=%q: a port below 1024 needs root or CAP_NET_BIND_SERVICE: %w", cfg.HTTPAddr, err)
	case err != nil:
		return nil, fmt.Errorf("PXE_HTTP_ADDR=%q: %w", cfg.HTTPAddr, err)
	}
	if host, _, _ := net.SplitHostPort(cfg.HTTPAddr); net.ParseIP(host).IsLoopback() && cfg.HTTPURL == "" {
		// HTTP boot clients get http://<ingress address>:<port>/..., which
		// a loopback-only listener never answers.
		log.Warn("http listener is on loopback only: UEFI HTTP boot clients will not reach it (listen on :PORT or set PXE_HTTP_URL)",
			"svc", "http", "addr", cfg.HTTPAddr)
	}
	log.Info("http listening", "svc", "http", "addr", ln.Addr().String(), "files", root != nil, "metrics", m != nil)
	return func(ctx context.Context) error { return srv.Serve(ctx, ln) }, nil
}
