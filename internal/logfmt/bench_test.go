package logfmt

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// replyAttrs is pxeproxy's per-reply Info line (proxy.Server.send).
var replyAttrs = []slog.Attr{
	slog.String("svc", "proxydhcp"), slog.String("mac", "52:54:00:12:34:56"), slog.String("xid", "0x1a2b3c4d"),
	slog.Int("arch", 7), slog.String("class", "PXEClient"), slog.String("iface", "eth0"), slog.Int("port", 67),
	slog.String("file", "ipxe.efi"), slog.String("server", "192.168.1.10"), slog.String("peer", "255.255.255.255:68"),
}

func benchHandler(b *testing.B, h slog.Handler) {
	ctx := context.Background()
	// Logger: what pxeproxy runs, including the Logger's runtime.Callers
	// and the Record's allocation for attrs beyond its inline five.
	b.Run("LogAttrs", func(b *testing.B) {
		l := slog.New(h)
		b.ReportAllocs()
		for b.Loop() {
			l.LogAttrs(ctx, slog.LevelInfo, "pxe reply", replyAttrs...)
		}
	})
	// Handle: a fresh Record per line, without runtime.Callers.
	b.Run("Handle", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := slog.NewRecord(time.Now(), slog.LevelInfo, "pxe reply", 0)
			r.AddAttrs(replyAttrs...)
			_ = h.Handle(ctx, r)
		}
	})
	// HandleOnly: the handler's own cost; one Record, a new time per line.
	b.Run("HandleOnly", func(b *testing.B) {
		r := slog.NewRecord(time.Now(), slog.LevelInfo, "pxe reply", 0)
		r.AddAttrs(replyAttrs...)
		b.ReportAllocs()
		for b.Loop() {
			r.Time = time.Now()
			_ = h.Handle(ctx, r)
		}
	})
}

func BenchmarkSlogText(b *testing.B) { benchHandler(b, slog.NewTextHandler(io.Discard, nil)) }

func BenchmarkLogfmt(b *testing.B) { benchHandler(b, NewTextHandler(io.Discard, nil)) }
