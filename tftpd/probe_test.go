package tftpd

import (
	"bytes"
	"encoding/binary"
	"net"
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
	p := binary.BigEndian.AppendUint16(nil, opDATA)
	p = binary.BigEndian.AppendUint16(p, 1)
	return append(p, payload...)
}

func oack(opts ...string) []byte {
	p := binary.BigEndian.AppendUint16(nil, opOACK)
	for _, o := range opts {
		p = append(append(p, o...), 0)
	}
	return p
}

func TestProbe(t *testing.T) {
	tests := map[string]struct {
		reply     []byte
		wantKind  string // "" : an error
		wantAbort []byte // nil: the client must not answer
	}{
		"data is aborted with error 0": {
			reply: data1("#!ipxe\n"), wantKind: "DATA", wantAbort: appendError(nil, 0, "healthcheck done"),
		},
		"oack is aborted with error 8": {
			reply: oack("tsize", "42"), wantKind: "OACK", wantAbort: appendError(nil, 8, "healthcheck size probe"),
		},
		"file not found still proves the loop": {
			reply: appendError(nil, 1, "file not found"), wantKind: `ERROR 1 "file not found"`,
		},
		"ack is not a reply to a read request": {reply: []byte{0, 4, 0, 1}},
		"data block 2 is malformed":            {reply: []byte{0, 3, 0, 2, 'x'}},
		"short packet":                         {reply: []byte{0, 3}},
		"unterminated error":                   {reply: []byte{0, 5, 0, 1, 'x'}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFakeTFTP(t, tc.reply)
			kind, err := Probe(f.addr, "menu.ipxe", 2*time.Second)
			if (err != nil) != (tc.wantKind == "") || kind != tc.wantKind {
				t.Fatalf("Probe = %q, %v; want %q", kind, err, tc.wantKind)
			}
			wantReq := []byte("\x00\x01menu.ipxe\x00octet\x00tsize\x000\x00")
			if got := <-f.request; !bytes.Equal(got, wantReq) {
				t.Errorf("request = %q, want %q", got, wantReq)
			}
			// The request must be one our own server parses back.
			if r, err := parseRequest(wantReq); err != nil || r.file != "menu.ipxe" || len(r.opts) != 1 {
				t.Errorf("parseRequest of the probe = %+v, %v", r, err)
			}
			if got := f.abort(t); !bytes.Equal(got, tc.wantAbort) {
				t.Errorf("client answered %q, want %q", got, tc.wantAbort)
			}
		})
	}
}

func TestProbeSilentServer(t *testing.T) {
	f := newFakeTFTP(t, nil)
	if kind, err := Probe(f.addr, "boot.ipxe", 100*time.Millisecond); err == nil {
		t.Fatalf("probe of a silent server succeeded with %s", kind)
	}
	<-f.request
}
