package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func setEnv(t *testing.T, kv map[string]string) {
	t.Helper()
	clearEnv(t)
	for k, v := range kv {
		if v != "" {
			t.Setenv(k, v)
		}
	}
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
			setEnv(t, map[string]string{"PXE_TFTP_ADDR": conn.LocalAddr().String(), "PXE_IPXE_SCRIPT": tc.script})
			var out bytes.Buffer
			if code := healthcheck(nil, &out); code != tc.wantCode {
				t.Fatalf("exit code = %d, want %d; output %q", code, tc.wantCode, out.String())
			}
			if req := <-got; !strings.Contains(req, "\x00\x01"+tc.wantFile+"\x00") {
				t.Errorf("request %q does not ask for %q", req, tc.wantFile)
			}
		})
	}
}

func TestHealthcheckBadConfig(t *testing.T) {
	setEnv(t, map[string]string{"PXE_TFTP": "maybe"})
	var out bytes.Buffer
	if code := healthcheck(nil, &out); code != 1 || !strings.Contains(out.String(), "PXE_TFTP") {
		t.Fatalf("exit code %d, output %q: want 1 naming the variable", code, out.String())
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
			setEnv(t, map[string]string{"PXE_HTTP_ADDR": ":" + port, "PXE_TFTP_ADDR": "127.0.0.1:9"})
			var out bytes.Buffer
			if got := healthcheck(nil, &out); got != tc.wantCode {
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
	setEnv(t, map[string]string{"PXE_HTTP_ADDR": addr})
	var out bytes.Buffer
	if got := healthcheck(nil, &out); got != 1 {
		t.Fatalf("exit code = %d, want 1; output %q", got, out.String())
	}
}

func TestHealthcheckNothingToProbe(t *testing.T) {
	setEnv(t, map[string]string{"PXE_TFTP": "off"})
	var out bytes.Buffer
	if got := healthcheck(nil, &out); got != 0 {
		t.Fatalf("exit code = %d, want 0; output %q", got, out.String())
	}
	if !strings.Contains(out.String(), "nothing to probe") {
		t.Errorf("output %q does not say why", out.String())
	}
}

func TestHealthcheckUsage(t *testing.T) {
	var out bytes.Buffer
	if got := healthcheck([]string{"-x"}, &out); got != 2 {
		t.Fatalf("exit code = %d, want 2", got)
	}
}

func TestLoopbackTarget(t *testing.T) {
	tests := map[string]struct {
		listen, want string
		wantErr      bool
	}{
		"empty host":     {listen: ":69", want: "127.0.0.1:69"},
		"ipv4 wildcard":  {listen: "0.0.0.0:8080", want: "127.0.0.1:8080"},
		"ipv6 wildcard":  {listen: "[::]:69", want: "127.0.0.1:69"},
		"bound address":  {listen: "10.1.2.3:69", want: "10.1.2.3:69"},
		"no port":        {listen: "10.1.2.3", wantErr: true},
		"empty port":     {listen: "10.1.2.3:", wantErr: true},
		"loopback kept":  {listen: "127.0.0.2:6969", want: "127.0.0.2:6969"},
		"ipv6 loopback":  {listen: "[::1]:69", want: "[::1]:69"},
		"hostname kept":  {listen: "localhost:69", want: "localhost:69"},
		"garbage string": {listen: "::::", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := loopbackTarget(tc.listen)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("loopbackTarget(%q) = %q, %v; want %q, error %v", tc.listen, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
