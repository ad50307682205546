package instance

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// on is a configuration with the server's defaults (PXE_TFTP=on).
func on(c Config) Config {
	c.TFTP = true
	if c.TFTPAddr == "" {
		c.TFTPAddr = ":69"
	}
	return c
}

// TestHealthcheckTFTP: without HTTP the healthcheck asks the TFTP listener
// for PXE_IPXE_SCRIPT (or boot.ipxe for a URL) and any reply is healthy;
// the probe's packets are tested in tftpd.
func TestHealthcheckTFTP(t *testing.T) {
	tests := map[string]struct {
		script   string
		silent   bool
		wantCode int
		wantFile string
	}{
		"named script":                  {script: "menu.ipxe", wantCode: 0, wantFile: "menu.ipxe"},
		"url script probes the default": {script: "http://10.0.0.1/boot.ipxe", wantCode: 0, wantFile: "boot.ipxe"},
		"silent server is unhealthy":    {silent: true, wantCode: 1, wantFile: "boot.ipxe"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			conn, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			got := make(chan string, 1)
			go func() {
				buf := make([]byte, 1500)
				n, peer, err := conn.ReadFrom(buf)
				if err != nil {
					return
				}
				got <- string(buf[:n])
				if !tc.silent {
					_, _ = conn.WriteTo([]byte("\x00\x05\x00\x01file not found\x00"), peer)
				}
			}()
			var out bytes.Buffer
			if code := Healthcheck(on(Config{TFTPAddr: conn.LocalAddr().String(), IPXEScript: tc.script}), &out); code != tc.wantCode {
				t.Fatalf("exit code = %d, want %d; output %q", code, tc.wantCode, out.String())
			}
			if req := <-got; !strings.Contains(req, "\x00\x01"+tc.wantFile+"\x00") {
				t.Errorf("request %q does not ask for %q", req, tc.wantFile)
			}
		})
	}
}

func TestHealthcheckHTTP(t *testing.T) {
	tests := map[string]struct {
		status   int
		wantCode int
	}{
		"200 is healthy":   {status: http.StatusOK, wantCode: 0},
		"503 is unhealthy": {status: http.StatusServiceUnavailable, wantCode: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path = r.URL.Path
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
			// TFTP points at a silent port: with HTTP configured it must not be probed.
			var out bytes.Buffer
			if got := Healthcheck(on(Config{HTTPAddr: ":" + port, TFTPAddr: "127.0.0.1:9"}), &out); got != tc.wantCode {
				t.Fatalf("exit code = %d, want %d; output %q", got, tc.wantCode, out.String())
			}
			if path != "/healthz" {
				t.Errorf("probed path %q, want /healthz", path)
			}
		})
	}
}

func TestHealthcheckHTTPDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	var out bytes.Buffer
	if got := Healthcheck(on(Config{HTTPAddr: addr}), &out); got != 1 {
		t.Fatalf("exit code = %d, want 1; output %q", got, out.String())
	}
}

func TestHealthcheckNothingToProbe(t *testing.T) {
	var out bytes.Buffer
	if got := Healthcheck(Config{TFTPAddr: ":69"}, &out); got != 0 {
		t.Fatalf("exit code = %d, want 0; output %q", got, out.String())
	}
	if !strings.Contains(out.String(), "nothing to probe") {
		t.Errorf("output %q does not say why", out.String())
	}
}
