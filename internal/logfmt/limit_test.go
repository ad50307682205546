package logfmt

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/testclock"
)

func newLimited(cfg LimitConfig) (*slog.Logger, *bytes.Buffer, *testclock.Clock) {
	var out bytes.Buffer
	c := testclock.New(time.Unix(1_800_000_000, 0))
	cfg.Now = c.Now
	return slog.New(NewLimiter(NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}), cfg)), &out, c
}

func TestLimiterOneClientFlood(t *testing.T) {
	log, out, clk := newLimited(LimitConfig{})
	for i := range 10_000 {
		log.Info("pxe reply", "svc", "dhcp", "mac", "02:00:00:00:00:01", "xid", i)
		if i%1000 == 999 {
			clk.Add(100 * time.Millisecond)
		}
	}
	clk.Add(time.Second)
	log.Info("pxe reply", "svc", "dhcp", "mac", "02:00:00:00:00:01", "xid", -1)
	lines := strings.Count(out.String(), "msg=\"pxe reply\"")
	// One window of 1 s (5 lines) and the one after.
	if lines != 6 {
		t.Fatalf("%d reply lines for 10,000 from one client over 1 s, want 5 + 1:\n%s", lines, out)
	}
	if !strings.Contains(out.String(), `msg="suppressed similar lines" mac=02:00:00:00:00:01 line="pxe reply" suppressed=9995 over=2s`) {
		t.Fatalf("no summary of the 9,995 held-back lines:\n%s", out)
	}
}

func TestLimiterManyClientsFlood(t *testing.T) {
	log, out, clk := newLimited(LimitConfig{})
	for i := range 100_000 {
		log.Debug("ignored", "reason", "not-pxe", "mac", fmt.Sprintf("02:00:%02x:%02x:%02x:00", i>>16&0xff, i>>8&0xff, i&0xff))
		if i%10_000 == 9_999 {
			clk.Add(500 * time.Millisecond) // 20,000 new clients per second
		}
	}
	l := log.Handler().(*limitHandler).l
	if len(l.keys) > 4096 {
		t.Fatalf("%d keys remembered, bound 4096", len(l.keys))
	}
	lines := strings.Count(out.String(), "msg=ignored")
	// 5 s of flood at most 200 lines per second.
	if lines > 5*200+200 {
		t.Fatalf("%d lines for a 5 s flood of new clients, bound ~1,000", lines)
	}
	if !strings.Contains(out.String(), "too many clients logging at once") {
		t.Fatal("no line says lines were held back over all clients")
	}
	if out.Len() > 400<<10 {
		t.Fatalf("%d bytes of log for the flood", out.Len())
	}
}

// TestLimiterClients: which lines count as one client's. The source port
// is not part of a client, a line that names no client is never limited,
// and a client named by With counts like one named in the line.
func TestLimiterClients(t *testing.T) {
	for name, c := range map[string]struct {
		n     int
		line  func(log *slog.Logger, i int)
		count string
		want  int
	}{
		"peer ports are one client": {1000, func(log *slog.Logger, i int) {
			log.Warn("tftp transfer failed", "peer", fmt.Sprintf("10.0.0.9:%d", 1024+i), "reason", "file not found")
		}, "tftp transfer failed", 5},
		"lines without client pass": {50, func(log *slog.Logger, _ int) {
			log.Info("listening", "svc", "proxy")
		}, "listening", 50},
		"client named by With": {50, func(log *slog.Logger, _ int) {
			log.With("mac", "02:00:00:00:00:07").Info("refused", "reason", "mac-denied")
		}, "msg=refused", 5},
	} {
		t.Run(name, func(t *testing.T) {
			log, out, _ := newLimited(LimitConfig{})
			for i := range c.n {
				c.line(log, i)
			}
			if got := strings.Count(out.String(), c.count); got != c.want {
				t.Errorf("%d of %d lines written, want %d", got, c.n, c.want)
			}
		})
	}
}

func TestLimiterCutsLongValues(t *testing.T) {
	log, out, _ := newLimited(LimitConfig{})
	name := strings.Repeat("A", 3950)
	log.Warn("tftp transfer failed", "peer", "10.0.0.9:1000", "file", name)
	log.With("file", name).Info("x")
	if out.Len() > 1000 {
		t.Fatalf("%d bytes for two lines with a 3,950-byte name", out.Len())
	}
	if !strings.Contains(out.String(), "…(3950 bytes)") {
		t.Fatalf("cut value does not say its length: %s", out)
	}
}

// TestNewLogger: the level and the format are the ones asked for.
func TestNewLogger(t *testing.T) {
	var b strings.Builder
	log := NewLogger(&b, slog.LevelWarn, true)
	log.Info("hidden")
	log.Warn("shown", "svc", "main")
	if got := b.String(); strings.Contains(got, "hidden") || !strings.HasPrefix(got, `{"time":`) || !strings.Contains(got, `"msg":"shown"`) {
		t.Fatalf("json logger wrote %q", got)
	}
	b.Reset()
	NewLogger(&b, slog.LevelInfo, false).Info("shown", "svc", "main")
	if got := b.String(); !strings.HasPrefix(got, "time=") || !strings.Contains(got, "level=INFO msg=shown svc=main") {
		t.Fatalf("text logger wrote %q", got)
	}
}
