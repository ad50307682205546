package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxeproxy/pxeproxy/bootfs"
	"github.com/pxeproxy/pxeproxy/httpd"
	"github.com/pxeproxy/pxeproxy/metrics"
)

func TestSetupHTTPOff(t *testing.T) {
	run, err := setupHTTP(&Config{}, nil, nil, nil, slog.New(slog.DiscardHandler))
	if run != nil || err != nil {
		t.Fatalf("PXE_HTTP_ADDR empty: run %v, err %v; want nil, nil", run != nil, err)
	}
}

func TestSetupHTTPPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	run, err := setupHTTP(&Config{HTTPAddr: ln.Addr().String()}, nil, nil, nil, slog.New(slog.DiscardHandler))
	if run != nil || err == nil {
		t.Fatal("setupHTTP on a taken port succeeded")
	}
	for _, want := range []string{"PXE_HTTP_ADDR=", ln.Addr().String(), "taken"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestSetupHTTPServes wires root, metrics and health like serve does and
// fetches a boot file, /healthz and /metrics from the listener it opened.
func TestSetupHTTPServes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "boot.ipxe"), []byte("#!ipxe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := bootfs.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := &httpd.Health{}
	h.Set("tftp", true)
	run, err := setupHTTP(&Config{HTTPAddr: "127.0.0.1:0", HTTPURL: "http://10.0.0.1/"}, root, metrics.New(), h, log)
	if err != nil || run == nil {
		t.Fatalf("setupHTTP: run %v, err %v", run != nil, err)
	}
	var start struct{ Msg, Addr string }
	if err := json.Unmarshal(bytes.SplitN(logs.Bytes(), []byte("\n"), 2)[0], &start); err != nil || start.Msg != "http listening" {
		t.Fatalf("start line %q: %v", logs.String(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + start.Addr + path)
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
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "pxeproxy_http_bytes_total 7\n") {
		t.Errorf("/metrics: %d, want pxeproxy_http_bytes_total 7 in:\n%s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
