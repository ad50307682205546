package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeTFTP is a loopback UDP responder: it reads one request on its listen
// socket and answers it from a second socket (a fresh transfer ID, as a real
// server does) with reply.
type fakeTFTP struct {
	addr     string         // listen address, host:port
	request  chan []byte    // the request received
	transfer net.PacketConn // where the client's abort arrives
}

func newFakeTFTP(t *testing.T, reply []byte) *fakeTFTP {
	t.Helper()
	listen, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	transfer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listen.Close(); transfer.Close() })
	f := &fakeTFTP{addr: listen.LocalAddr().String(), request: make(chan []byte, 1), transfer: transfer}
	go func() {
		buf := make([]byte, 1500)
		n, peer, err := listen.ReadFrom(buf)
		if err != nil {
			return
		}
		f.request <- bytes.Clone(buf[:n])
		if reply == nil {
			return
		}
		_, _ = transfer.WriteTo(reply, peer)
	}()
	return f
}

// abort returns what the client sent to the transfer socket, nil if nothing.
// The client sends it before the probe returns and loopback delivery is
// synchronous, so a short wait suffices.
func (f *fakeTFTP) abort(t *testing.T) []byte {
	t.Helper()
	_ = f.transfer.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 1500)
	n, _, err := f.transfer.ReadFrom(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func data1(payload string) []byte {
	p := binary.BigEndian.AppendUint16(nil, tftpDATA)
	p = binary.BigEndian.AppendUint16(p, 1)
	return append(p, payload...)
}

func oack(opts ...string) []byte {
	p := binary.BigEndian.AppendUint16(nil, tftpOACK)
	for _, o := range opts {
		p = append(append(p, o...), 0)
	}
	return p
}

func setEnv(t *testing.T, kv map[string]string) {
	t.Helper()
	for _, k := range []string{"PXE_HTTP_ADDR", "PXE_TFTP", "PXE_TFTP_ADDR", "PXE_IPXE_SCRIPT"} {
		t.Setenv(k, kv[k])
	}
}

func TestHealthcheckTFTP(t *testing.T) {
	tests := map[string]struct {
		script    string
		reply     []byte
		wantCode  int
		wantFile  string
		wantAbort []byte // nil: the client must not answer
	}{
		"data is aborted with error 0": {
			script: "menu.ipxe", reply: data1("#!ipxe\n"), wantCode: 0, wantFile: "menu.ipxe",
			wantAbort: tftpError(0, "healthcheck done"),
		},
		"oack is aborted with error 8": {
			reply: oack("tsize", "42"), wantCode: 0, wantFile: "boot.ipxe",
			wantAbort: tftpError(8, "healthcheck size probe"),
		},
		"file not found still proves the loop": {
			reply: tftpError(1, "file not found"), wantCode: 0, wantFile: "boot.ipxe",
		},
		"url script probes the default name": {
			script: "http://10.0.0.1/boot.ipxe", reply: tftpError(1, "file not found"), wantCode: 0, wantFile: "boot.ipxe",
		},
		"ack is not a reply to a read request": {
			reply: []byte{0, 4, 0, 1}, wantCode: 1, wantFile: "boot.ipxe",
		},
		"data block 2 is malformed": {
			reply: []byte{0, 3, 0, 2, 'x'}, wantCode: 1, wantFile: "boot.ipxe",
		},
		"short packet": {
			reply: []byte{0, 3}, wantCode: 1, wantFile: "boot.ipxe",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFakeTFTP(t, tc.reply)
			setEnv(t, map[string]string{"PXE_TFTP_ADDR": f.addr, "PXE_IPXE_SCRIPT": tc.script})
			var out bytes.Buffer
			if got := healthcheck(nil, &out); got != tc.wantCode {
				t.Fatalf("exit code = %d, want %d; output %q", got, tc.wantCode, out.String())
			}
			wantReq := rrq(tc.wantFile)
			if got := <-f.request; !bytes.Equal(got, wantReq) {
				t.Errorf("request = %q, want %q", got, wantReq)
			}
			got := f.abort(t)
			if !bytes.Equal(got, tc.wantAbort) {
				t.Errorf("client answered %q, want %q", got, tc.wantAbort)
			}
		})
	}
}

func TestProbeTFTPSilentServer(t *testing.T) {
	f := newFakeTFTP(t, nil)
	if kind, err := probeTFTP(f.addr, "boot.ipxe", 100*time.Millisecond); err == nil {
		t.Fatalf("probe of a silent server succeeded with %s", kind)
	}
	<-f.request
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

func TestTFTPOff(t *testing.T) {
	for v, want := range map[string]bool{"": false, "on": false, "off": true, "OFF": true, "false": true, "0": true, "true": false} {
		if got := tftpOff(v); got != want {
			t.Errorf("tftpOff(%q) = %v, want %v", v, got, want)
		}
	}
}
