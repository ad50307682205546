package httpd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

func TestListenPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv, err := New(Config{Addr: ln.Addr().String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln2, err := srv.Listen(context.Background())
	if err == nil {
		ln2.Close()
		t.Fatal("Listen on a taken port succeeded")
	}
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "taken by another program") || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("error %q: want EADDRINUSE, the hint and the address", err)
	}
}

// logLines decodes JSON log lines into their messages and attributes.
func logLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		m := map[string]any{}
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestListenServes opens the listener as the command does, logs where it
// listens, and serves a boot file, /healthz and /metrics on it until the
// context ends.
func TestListenServes(t *testing.T) {
	root := bootRoot(t, t.TempDir(), map[string][]byte{"boot.ipxe": []byte("#!ipxe\n")})
	var logs bytes.Buffer
	h := &Health{}
	h.Set("tftp", true)
	srv, err := New(Config{Addr: "127.0.0.1:0", URL: "http://10.0.0.1/", Root: root, Metrics: metricsPage, Health: h},
		slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := srv.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lines := logLines(t, logs.Bytes())
	if len(lines) != 1 || lines[0]["msg"] != "http listening" || lines[0]["svc"] != "http" || lines[0]["addr"] != ln.Addr().String() ||
		lines[0]["files"] != true || lines[0]["metrics"] != true {
		t.Fatalf("start lines %v", lines)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/boot.ipxe"); code != 200 || body != "#!ipxe\n" {
		t.Errorf("/boot.ipxe: %d %q", code, body)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	h.Set("tftp", false)
	if code, _ := get("/healthz"); code != 503 {
		t.Errorf("/healthz with tftp down: %d, want 503", code)
	}
	if code, body := get("/metrics"); code != 200 || body != "metrics\n" {
		t.Errorf("/metrics: %d %q", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// TestListenLoopbackWarning: a loopback listener with no URL to send
// clients to is unreachable for them, and says so.
func TestListenLoopbackWarning(t *testing.T) {
	for name, c := range map[string]struct {
		cfg  Config
		warn bool
	}{
		"loopback":          {Config{Addr: "127.0.0.1:0"}, true},
		"loopback with url": {Config{Addr: "127.0.0.1:0", URL: "http://10.0.0.1:8080/"}, false},
		"any address":       {Config{Addr: ":0"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			srv, err := New(c.cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			ln, err := srv.Listen(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ln.Close()
			warned := false
			for _, l := range logLines(t, logs.Bytes()) {
				if l["level"] == "WARN" && strings.Contains(l["msg"].(string), "loopback only") && l["addr"] == c.cfg.Addr {
					warned = true
				}
			}
			if warned != c.warn {
				t.Errorf("warned %v, want %v; log:\n%s", warned, c.warn, logs.String())
			}
		})
	}
}
