package tftpd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/pxeproxy/pxeproxy/bootfs"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
)

// testServer is a Server on 127.0.0.1 with its finished transfers.
type testServer struct {
	addr  *net.UDPAddr
	stats chan Stats
}

// startServer serves dirs on a loopback port until the test ends.
func startServer(t testing.TB, cfg Config, dirs ...string) *testServer {
	t.Helper()
	return startServerOn(t, "127.0.0.1:0", cfg, dirs...)
}

// serveFile serves one file, "f" with content, on a loopback port until
// the test ends.
func serveFile(t testing.TB, cfg Config, content string) *testServer {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "f", content)
	return startServer(t, cfg, dir)
}

// startServerOn serves dirs on listen (udp6 for an IPv6 literal, else
// udp4) until the test ends.
func startServerOn(t testing.TB, listen string, cfg Config, dirs ...string) *testServer {
	t.Helper()
	return startServerLog(t, listen, cfg, testWriter{t}, dirs...)
}

// startServerLog is startServerOn logging to w.
func startServerLog(t testing.TB, listen string, cfg Config, w io.Writer, dirs ...string) *testServer {
	t.Helper()
	r, err := bootfs.OpenRoot(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() }) // after the server's cleanup: LIFO
	cfg.Root = r
	return serveRoot(t, listen, cfg, w)
}

// serveRoot serves cfg.Root on listen until the test ends, logging to w.
func serveRoot(t testing.TB, listen string, cfg Config, w io.Writer) *testServer {
	t.Helper()
	ts := &testServer{stats: make(chan Stats, 1000)}
	cfg.OnDone = func(st Stats) { ts.stats <- st }
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	network := "udp4"
	if ip, _, _ := net.SplitHostPort(listen); net.ParseIP(ip) != nil && net.ParseIP(ip).To4() == nil {
		network = "udp6"
	}
	conn, err := net.ListenPacket(network, listen)
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = conn.LocalAddr().(*net.UDPAddr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		conn.Close()
	})
	return ts
}

// next returns the next finished transfer.
func (ts *testServer) next(t testing.TB) Stats {
	t.Helper()
	select {
	case st := <-ts.stats:
		return st
	case <-time.After(20 * time.Second):
		t.Fatal("no transfer finished")
		return Stats{}
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// randomFile writes n random bytes to dir/name and returns their sha256.
func randomFile(t testing.TB, dir, name string, n int64) [32]byte {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := n; left > 0; {
		k := min(left, int64(len(buf)))
		rand.Read(buf[:k])
		h.Write(buf[:k])
		if _, err := f.Write(buf[:k]); err != nil {
			t.Fatal(err)
		}
		left -= k
	}
	return [32]byte(h.Sum(nil))
}

// rawClient speaks TFTP packet by packet.
type rawClient struct {
	t    testing.TB
	c    *net.UDPConn
	srv  *net.UDPAddr
	peer *net.UDPAddr // the transfer's TID once known
}

func newRawClient(t testing.TB, srv *net.UDPAddr) *rawClient {
	return newRawClientFrom(t, srv, net.IPv4(127, 0, 0, 1))
}

// newRawClientFrom is newRawClient with its own source address.
func newRawClientFrom(t testing.TB, srv *net.UDPAddr, ip net.IP) *rawClient {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, srv: srv}
}

func (rc *rawClient) request(op uint16, fields ...string) {
	b := binary.BigEndian.AppendUint16(nil, op)
	for _, f := range fields {
		b = append(append(b, f...), 0)
	}
	if _, err := rc.c.WriteToUDP(b, rc.srv); err != nil {
		rc.t.Fatal(err)
	}
}

// recv returns the next packet, or nil after d.
func (rc *rawClient) recv(d time.Duration) []byte {
	rc.c.SetReadDeadline(time.Now().Add(d))
	b := make([]byte, 70000)
	n, from, err := rc.c.ReadFromUDP(b)
	if err != nil {
		return nil
	}
	rc.peer = from
	return b[:n]
}

func (rc *rawClient) mustRecv() []byte {
	rc.t.Helper()
	b := rc.recv(5 * time.Second)
	if b == nil {
		rc.t.Fatal("no packet from server")
	}
	return b
}

func (rc *rawClient) send(b []byte) {
	if _, err := rc.c.WriteToUDP(b, rc.peer); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawClient) ack(block uint16) {
	rc.send(binary.BigEndian.AppendUint16([]byte{0, opACK}, block))
}

// wantError checks b is an ERROR with code and exactly msg.
func wantError(t testing.TB, b []byte, code uint16, msg string) {
	t.Helper()
	want := appendError(nil, code, msg)
	if !bytes.Equal(b, want) {
		t.Fatalf("got packet %q; want ERROR %d %q", b, code, msg)
	}
}

func dataBlock(t testing.TB, b []byte) uint16 {
	t.Helper()
	if len(b) < 4 || binary.BigEndian.Uint16(b) != opDATA {
		t.Fatalf("got %q; want DATA", b)
	}
	return binary.BigEndian.Uint16(b[2:])
}

func TestRefusals(t *testing.T) {
	root, outside := testTree(t)
	ts := startServer(t, Config{}, root)
	cases := map[string]struct {
		op         uint16
		file, mode string
		code       uint16
		msg        string
	}{
		"write request":        {op: opWRQ, file: "new.bin", mode: "octet", code: errCodeAccess, msg: "access violation"},
		"write over existing":  {op: opWRQ, file: "undionly.kpxe", mode: "octet", code: errCodeAccess, msg: "access violation"},
		"traversal":            {op: opRRQ, file: "../outside/secret", mode: "octet", code: errCodeAccess, msg: "access violation"},
		"windows traversal":    {op: opRRQ, file: `\..\outside\secret`, mode: "octet", code: errCodeAccess, msg: "access violation"},
		"absolute host path":   {op: opRRQ, file: filepath.Join(outside, "secret"), mode: "octet", code: errCodeNotFound, msg: "file not found"},
		"symlink escape":       {op: opRRQ, file: "abs-escape", mode: "octet", code: errCodeAccess, msg: "access violation"},
		"symlinked dir escape": {op: opRRQ, file: "dir-escape/secret", mode: "octet", code: errCodeAccess, msg: "access violation"},
		"directory":            {op: opRRQ, file: "Boot", mode: "octet", code: errCodeAccess, msg: "access violation"},
		"missing":              {op: opRRQ, file: "nope.efi", mode: "octet", code: errCodeNotFound, msg: "file not found"},
		"mail mode":            {op: opRRQ, file: "undionly.kpxe", mode: "mail", code: errCodeIllegalOp, msg: "unsupported mode"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rc := newRawClient(t, ts.addr)
			rc.request(c.op, c.file, c.mode)
			b := rc.mustRecv()
			wantError(t, b, c.code, c.msg)
			if rc.peer.Port == ts.addr.Port {
				t.Errorf("error sent from the listening port, want the transfer's own TID")
			}
		})
	}
	for range cases {
		st := ts.next(t)
		if st.Err == nil {
			t.Errorf("refused request %q reported no error", st.File)
		}
	}
	// Nothing was created or changed in the root.
	if _, err := os.Stat(filepath.Join(root, "new.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("write request created a file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "undionly.kpxe")); string(b) != "kpxe" {
		t.Errorf("undionly.kpxe changed to %q", b)
	}
}

func TestOACKOnlyAskedOptions(t *testing.T) {
	ts := serveFile(t, Config{}, strings.Repeat("x", 3000))

	// No options: straight to DATA 1 with 512 bytes, no OACK.
	rc := newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet")
	b := rc.mustRecv()
	if dataBlock(t, b) != 1 || len(b) != 4+512 {
		t.Fatalf("first packet %d bytes; want DATA 1 of 512", len(b))
	}
	rc.send(appendError(nil, 0, "done"))
	ts.next(t)

	// Mixed-case, unknown and invalid options: only the valid asked ones,
	// in the client's spelling.
	rc = newRawClient(t, ts.addr)
	rc.request(opRRQ, "F", "OCTET", "BlkSize", "1024", "msftwindow", "31416", "windowsize", "x", "TSize", "0")
	want := appendOACK(nil, []option{{"BlkSize", "1024"}, {"TSize", "3000"}})
	if b := rc.mustRecv(); !bytes.Equal(b, want) {
		t.Fatalf("OACK %q; want %q", b, want)
	}
	rc.ack(0)
	for i := uint16(1); i <= 3; i++ {
		b := rc.mustRecv()
		if dataBlock(t, b) != i {
			t.Fatalf("got block %d; want %d", dataBlock(t, b), i)
		}
		rc.ack(i)
	}
	if st := ts.next(t); st.Err != nil || st.Bytes != 3000 || st.BlockSize != 1024 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTsizeProbe(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "snponly.efi", strings.Repeat("e", 1000))
	ts := startServer(t, Config{}, dir)
	rc := newRawClient(t, ts.addr)
	rc.request(opRRQ, "snponly.efi", "octet", "tsize", "0", "blksize", "1468")
	want := appendOACK(nil, []option{{"tsize", "1000"}, {"blksize", "1468"}})
	if b := rc.mustRecv(); !bytes.Equal(b, want) {
		t.Fatalf("OACK %q; want %q", b, want)
	}
	// EDK2 Mtftp4 GetInfo: abort with ERROR 8 once it has the size.
	rc.send(appendError(nil, errCodeOption, "User aborted the transfer"))
	st := ts.next(t)
	if !st.Probe || st.Err != nil {
		t.Fatalf("stats %+v; want a probe without error", st)
	}
}

// TestWindow drives an RFC 7440 transfer by hand: full window, partial ACK
// (resend from the block after it), duplicate ACKs (no storm).
func TestWindow(t *testing.T) {
	ts := serveFile(t, Config{RetransmitTimeout: 5 * time.Second}, strings.Repeat("w", 20*100))
	rc := newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet", "blksize", "100", "windowsize", "4")
	rc.mustRecv() // OACK
	rc.ack(0)
	expect := func(blocks ...uint16) {
		t.Helper()
		for _, want := range blocks {
			if got := dataBlock(t, rc.mustRecv()); got != want {
				t.Fatalf("got block %d; want %d", got, want)
			}
		}
	}
	quiet := func() {
		t.Helper()
		if b := rc.recv(200 * time.Millisecond); b != nil {
			t.Fatalf("unexpected packet %q", b[:4])
		}
	}
	expect(1, 2, 3, 4)
	quiet()
	rc.ack(2) // lost block 3: resend from 3
	expect(3, 4, 5, 6)
	rc.ack(6)
	expect(7, 8, 9, 10)
	// A burst of duplicates of the last ACK resends nothing.
	for range 10 {
		rc.ack(6)
	}
	quiet()
	rc.ack(3) // old ACK: ignored
	quiet()
	rc.ack(10)
	expect(11, 12, 13, 14)
	rc.ack(14)
	expect(15, 16, 17, 18)
	rc.ack(18)
	expect(19, 20, 21) // 21 is the empty final block (2000 = 20 x 100)
	rc.ack(21)
	if st := ts.next(t); st.Err != nil || st.Bytes != 2000 || st.Retransmits != 2 {
		t.Fatalf("stats %+v; want 2000 bytes, 2 retransmits", st)
	}
}

func TestLockStepDuplicateAcks(t *testing.T) {
	ts := serveFile(t, Config{RetransmitTimeout: 5 * time.Second}, strings.Repeat("l", 1500))
	rc := newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet")
	for want := uint16(1); want <= 3; want++ {
		if got := dataBlock(t, rc.mustRecv()); got != want {
			t.Fatalf("got block %d; want %d", got, want)
		}
		// Sorcerer's Apprentice: duplicated ACKs must not duplicate DATA.
		rc.ack(want)
		rc.ack(want)
		rc.ack(want - 1)
	}
	if b := rc.recv(200 * time.Millisecond); b != nil {
		t.Fatalf("unexpected packet after last ACK: %q", b[:4])
	}
	if st := ts.next(t); st.Err != nil || st.Retransmits != 0 || st.Bytes != 1500 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRetransmitAndAbandon: once the client has answered, a block that is
// not acknowledged is resent on each timeout, and the transfer is
// abandoned after Retries of them.
func TestRetransmitAndAbandon(t *testing.T) {
	ts := serveFile(t, Config{RetransmitTimeout: 50 * time.Millisecond, Retries: 2}, strings.Repeat("r", 600))
	rc := newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet")
	dataBlock(t, rc.mustRecv())
	rc.ack(1)
	for range 3 {
		if got := dataBlock(t, rc.mustRecv()); got != 2 {
			t.Fatalf("got block %d; want 2", got)
		}
	}
	st := ts.next(t)
	if !errors.Is(st.Err, errTimeout) || st.Retransmits != 2 {
		t.Fatalf("stats %+v; want timeout after 2 retransmits", st)
	}
	if b := rc.recv(200 * time.Millisecond); b != nil {
		t.Fatalf("packet after abandon: %q", b)
	}
}

// TestNoResendToSilentClient: a request whose sender never answers (its
// address may be forged) gets its first answer, DATA 1 or OACK, once, not
// once per retry.
func TestNoResendToSilentClient(t *testing.T) {
	ts := serveFile(t, Config{RetransmitTimeout: 50 * time.Millisecond, Retries: 3}, strings.Repeat("s", 600))
	for name, opts := range map[string][]string{"data": nil, "oack": {"blksize", "1024", "tsize", "0"}} {
		t.Run(name, func(t *testing.T) {
			rc := newRawClient(t, ts.addr)
			rc.request(opRRQ, append([]string{"f", "octet"}, opts...)...)
			rc.mustRecv()
			if b := rc.recv(500 * time.Millisecond); b != nil {
				t.Fatalf("first packet resent to a client that never answered: %q", b[:4])
			}
			if st := ts.next(t); !errors.Is(st.Err, errTimeout) || st.Retransmits != 0 {
				t.Fatalf("stats %+v; want a timeout without retransmits", st)
			}
		})
	}
}

// TestResentRequestResendsFirstPacket: a client whose first answer was lost
// resends its request, and gets the first packet again at the next
// timeout; the transfer then goes on as usual.
func TestResentRequestResendsFirstPacket(t *testing.T) {
	ts := serveFile(t, Config{RetransmitTimeout: 100 * time.Millisecond, Retries: 5}, strings.Repeat("q", 600))
	rc := newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet", "tsize", "0")
	oack := rc.mustRecv() // "lost"
	rc.request(opRRQ, "f", "octet", "tsize", "0")
	if b := rc.mustRecv(); !bytes.Equal(b, oack) {
		t.Fatalf("after the resent request got %q; want the OACK again", b)
	}
	if b := rc.recv(300 * time.Millisecond); b != nil {
		t.Fatalf("OACK resent again without a new request: %q", b)
	}
	rc.ack(0)
	if dataBlock(t, rc.mustRecv()) != 1 {
		t.Fatal("want block 1")
	}
	rc.ack(1)
	if dataBlock(t, rc.mustRecv()) != 2 {
		t.Fatal("want block 2")
	}
	rc.ack(2)
	if st := ts.next(t); st.Err != nil || st.Bytes != 600 || st.Retransmits != 1 {
		t.Fatalf("stats %+v; want 600 bytes, 1 retransmit", st)
	}
}

func TestBusy(t *testing.T) {
	ts := serveFile(t, Config{MaxTransfers: 1, RetransmitTimeout: 5 * time.Second}, strings.Repeat("b", 2000))
	rc1 := newRawClient(t, ts.addr)
	rc1.request(opRRQ, "f", "octet")
	dataBlock(t, rc1.mustRecv())
	rc1.ack(1) // answered: its slot is not given to a newer request
	rc1.mustRecv()
	rc2 := newRawClient(t, ts.addr)
	rc2.request(opRRQ, "f", "octet")
	wantError(t, rc2.mustRecv(), errCodeUndefined, "server busy")
	if st := ts.next(t); st.Err == nil || st.Err.Error() != "server busy" {
		t.Fatalf("stats %+v; want server busy", st)
	}
	// A resent RRQ of the running transfer is not a second transfer.
	rc1.request(opRRQ, "f", "octet")
	if b := rc1.recv(200 * time.Millisecond); b != nil {
		t.Fatalf("resent RRQ answered: %q", b[:4])
	}
	rc1.ack(2)
	rc1.mustRecv()
	rc1.ack(3)
	rc1.mustRecv()
	rc1.ack(4)
	if st := ts.next(t); st.Err != nil || st.Bytes != 2000 {
		t.Fatalf("stats %+v", st)
	}
	rc2.request(opRRQ, "f", "octet")
	dataBlock(t, rc2.mustRecv())
}

// TestEvictUnanswered: requests from made-up addresses that never answer
// fill every slot; a new client still gets its file (the oldest unanswered
// transfer is ended, without an ERROR to its address), and transfers whose
// clients answered are never ended for a newer one.
func TestEvictUnanswered(t *testing.T) {
	ts := serveFile(t, Config{MaxTransfers: 4, RetransmitTimeout: 5 * time.Second, ShutdownGrace: 100 * time.Millisecond},
		strings.Repeat("e", 1000))
	var silent []*rawClient
	for i := range 4 {
		rc := newRawClientFrom(t, ts.addr, net.IPv4(127, 0, 0, byte(10+i)))
		rc.request(opRRQ, "f", "octet")
		dataBlock(t, rc.mustRecv())
		silent = append(silent, rc)
	}
	honest := newRawClientFrom(t, ts.addr, net.IPv4(127, 0, 0, 20))
	honest.request(opRRQ, "f", "octet")
	if b := honest.mustRecv(); binary.BigEndian.Uint16(b) != opDATA {
		t.Fatalf("new client with every slot held by silent ones: %q; want DATA 1", b)
	}
	if st := ts.next(t); !errors.Is(st.Err, errEvicted) || st.Peer.String() != silent[0].c.LocalAddr().String() {
		t.Fatalf("stats %+v; want the oldest silent transfer (%s) evicted", st, silent[0].c.LocalAddr())
	}
	if b := silent[0].recv(300 * time.Millisecond); b != nil {
		t.Fatalf("the evicted client got %q; want nothing", b)
	}
	honest.ack(1)
	dataBlock(t, honest.mustRecv())
	// Every slot now holds an answered transfer or the honest one: answer
	// them all, and a new request is refused rather than evicting them.
	for _, rc := range silent[1:] {
		rc.ack(1)
		dataBlock(t, rc.mustRecv())
	}
	late := newRawClientFrom(t, ts.addr, net.IPv4(127, 0, 0, 30))
	late.request(opRRQ, "f", "octet")
	wantError(t, late.mustRecv(), errCodeUndefined, "server busy")
	if st := ts.next(t); !errors.Is(st.Err, ErrBusy) {
		t.Fatalf("stats %+v; want ErrBusy", st)
	}
	honest.ack(2)
	if st := ts.next(t); st.Err != nil || st.Bytes != 1000 {
		t.Fatalf("stats %+v; want the honest client's 1000 bytes", st)
	}
}

// TestPerClientLimit floods the server with requests from one address that
// are never acknowledged: only MaxPerClient (default 8) of them get a
// transfer, the rest "server busy", and a client at another address is
// served at once.
func TestPerClientLimit(t *testing.T) {
	ts := serveFile(t, Config{RetransmitTimeout: 5 * time.Second, ShutdownGrace: 100 * time.Millisecond}, strings.Repeat("p", 2000))
	const flood = 64
	data, busy := 0, 0
	for range flood {
		rc := newRawClient(t, ts.addr)
		rc.request(opRRQ, "f", "octet")
		b := rc.mustRecv()
		if binary.BigEndian.Uint16(b) == opERROR {
			wantError(t, b, errCodeUndefined, "server busy")
			busy++
		} else {
			dataBlock(t, b)
			data++
		}
	}
	if data != 8 || busy != flood-8 {
		t.Fatalf("%d transfers and %d busy errors for %d requests from one address; want 8 and %d", data, busy, flood, flood-8)
	}
	other := newRawClientFrom(t, ts.addr, net.IPv4(127, 0, 0, 2))
	other.request(opRRQ, "f", "octet")
	if got := dataBlock(t, other.mustRecv()); got != 1 {
		t.Fatalf("other client got block %d", got)
	}
	for range busy {
		if st := ts.next(t); !errors.Is(st.Err, ErrBusy) {
			t.Fatalf("stats %+v; want ErrBusy", st)
		}
	}
}

// TestProgressRule: with the defaults, a lock-step client that acknowledges
// a block every 0.9 s (just inside the retransmit timeout) is ended after
// its first ten seconds; one that needs 0.45 s per round trip is not.
func TestProgressRule(t *testing.T) {
	for _, c := range []struct {
		every time.Duration
		ends  bool
	}{{900 * time.Millisecond, true}, {450 * time.Millisecond, false}, {time.Millisecond, false}} {
		start := time.Unix(1000, 0)
		x := &xfer{progWindow: 10 * time.Second, minProgress: 20, progAt: start}
		var err error
		var at time.Duration
		for at = 0; at < time.Minute; at += c.every {
			x.base++
			if err = x.progress(start.Add(at)); err != nil {
				break
			}
		}
		if c.ends && (!errors.Is(err, errTooSlow) || at > 11*time.Second) {
			t.Errorf("ACK every %v: %v after %v; want errTooSlow within 11s", c.every, err, at)
		}
		if !c.ends && err != nil {
			t.Errorf("ACK every %v: %v after %v", c.every, err, at)
		}
	}
}

// TestSlowClientEnds: a client that moves too slowly for the progress
// rule gets ERROR "too slow" and its slot back.
func TestSlowClientEnds(t *testing.T) {
	ts := serveFile(t, Config{RetransmitTimeout: 5 * time.Second, ProgressWindow: 300 * time.Millisecond, MinProgress: 5}, strings.Repeat("o", 100*512))
	rc := newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet")
	for {
		b := rc.mustRecv()
		if binary.BigEndian.Uint16(b) == opERROR {
			wantError(t, b, errCodeUndefined, "too slow")
			break
		}
		time.Sleep(100 * time.Millisecond)
		rc.ack(dataBlock(t, b))
	}
	if st := ts.next(t); !errors.Is(st.Err, errTooSlow) || st.Bytes == 0 || st.Bytes >= 100*512 {
		t.Fatalf("stats %+v; want errTooSlow part way", st)
	}
}

func TestShutdownGrace(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", strings.Repeat("g", 600))
	r, err := bootfs.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, c := range []struct {
		name  string
		grace time.Duration
		ok    bool
	}{{"finishes within grace", 5 * time.Second, true}, {"cut at grace", 100 * time.Millisecond, false}} {
		t.Run(c.name, func(t *testing.T) {
			stats := make(chan Stats, 1)
			s, err := New(Config{Root: r, ShutdownGrace: c.grace, OnDone: func(st Stats) { stats <- st }}, nil)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, conn) }()
			rc := newRawClient(t, conn.LocalAddr().(*net.UDPAddr))
			rc.request(opRRQ, "f", "octet")
			dataBlock(t, rc.mustRecv())
			cancel()
			time.Sleep(300 * time.Millisecond)
			rc.ack(1)
			if c.ok {
				dataBlock(t, rc.mustRecv())
				rc.ack(2)
			} else {
				// The client learns why its transfer ends.
				wantError(t, rc.mustRecv(), errCodeUndefined, "server shutting down")
			}
			if err := <-done; err != nil {
				t.Fatalf("Serve after cancel: %v", err)
			}
			st := <-stats
			if (st.Err == nil) != c.ok {
				t.Fatalf("stats %+v; want ok=%v", st, c.ok)
			}
		})
	}
}

// pinGet downloads name with pin/tftp's client and returns its sha256.
func pinGet(t testing.TB, addr *net.UDPAddr, name, mode string, blksize int) ([32]byte, int64) {
	t.Helper()
	c, err := tftp.NewClient(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	// pin/tftp does not re-ACK a duplicate DATA, it waits for its own
	// timeout: keep it short for the lossy-link test.
	c.SetTimeout(200 * time.Millisecond)
	c.SetRetries(20)
	if blksize > 0 {
		c.SetBlockSize(blksize)
	}
	c.RequestTSize(true)
	wt, err := c.Receive(name, mode)
	if err != nil {
		t.Fatalf("pin/tftp get %s: %v", name, err)
	}
	// pin/tftp forgets the OACK options in WriteTo: ask for tsize first.
	ts, ok := wt.(tftp.IncomingTransfer).Size()
	h := sha256.New()
	n, err := wt.WriteTo(h)
	if err != nil {
		t.Fatalf("pin/tftp get %s: %v", name, err)
	}
	if !ok || ts != n {
		t.Errorf("tsize %d (%v); received %d", ts, ok, n)
	}
	return [32]byte(h.Sum(nil)), n
}

func TestPinClient(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string]int64{"empty": 0, "one": 1, "exact512": 512, "exact1468": 2 * 1468, "kpxe": 70 * 1024, "img": 3 << 20}
	sums := map[string][32]byte{}
	for name, n := range sizes {
		sums[name] = randomFile(t, dir, name, n)
	}
	ts := startServer(t, Config{}, dir)
	for name := range sizes {
		// pin/tftp's client refuses block sizes below 512.
		for _, blk := range []int{0, 512, 1468, 65464} {
			t.Run(fmt.Sprintf("%s/blksize%d", name, blk), func(t *testing.T) {
				sum, n := pinGet(t, ts.addr, strings.ToUpper(name), "octet", blk)
				if sum != sums[name] || n != sizes[name] {
					t.Fatalf("got %d bytes, sha256 mismatch=%v", n, sum != sums[name])
				}
				if st := ts.next(t); st.Err != nil || st.Bytes != sizes[name] {
					t.Fatalf("stats %+v", st)
				}
			})
		}
	}
}

func TestNetascii(t *testing.T) {
	dir := t.TempDir()
	// Lines that put CR LF and CR NUL pairs across 512-byte block borders.
	var src bytes.Buffer
	for i := 0; src.Len() < 5000; i++ {
		src.WriteString(strings.Repeat("n", i%600))
		src.WriteString([]string{"\n", "\r", "\r\n", "\n\n"}[i%4])
	}
	writeFile(t, dir, "cfg.txt", src.String())
	var want bytes.Buffer
	for _, c := range src.Bytes() {
		switch c {
		case '\n':
			want.WriteString("\r\n")
		case '\r':
			want.WriteString("\r\x00")
		default:
			want.WriteByte(c)
		}
	}
	ts := startServer(t, Config{}, dir)
	for _, win := range []string{"1", "3"} {
		t.Run("windowsize"+win, func(t *testing.T) {
			rc := newRawClient(t, ts.addr)
			rc.request(opRRQ, "cfg.txt", "netascii", "tsize", "0", "windowsize", win)
			if b := rc.mustRecv(); !bytes.Equal(b, appendOACK(nil, []option{{"windowsize", win}})) {
				t.Fatalf("OACK %q: tsize must not be echoed for netascii", b)
			}
			rc.ack(0)
			var got bytes.Buffer
			w := int(win[0] - '0')
			for blk := uint16(1); ; blk++ {
				b := rc.mustRecv()
				if dataBlock(t, b) != blk {
					t.Fatalf("got block %d; want %d", dataBlock(t, b), blk)
				}
				got.Write(b[4:])
				last := len(b) < 4+512
				if last || int(blk)%w == 0 {
					rc.ack(blk)
				}
				if last {
					break
				}
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("netascii output differs (%d vs %d bytes)", got.Len(), want.Len())
			}
			ts.next(t)
		})
	}
}

// TestReplyFromRequestAddress checks that a server listening on the
// wildcard address answers each transfer from the address the request was
// sent to (IP_PKTINFO), as a multi-homed host must.
func TestReplyFromRequestAddress(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", "hello")
	ts := startServerOn(t, "0.0.0.0:0", Config{}, dir)
	// A request queued before Serve enables IP_PKTINFO carries no
	// destination or interface (answered at blksize 1468): wait for an
	// answer first.
	warm := newRawClient(t, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: ts.addr.Port})
	warm.request(opRRQ, "missing", "octet")
	wantError(t, warm.mustRecv(), errCodeNotFound, "file not found")
	ts.next(t)
	for _, ip := range []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2), net.IPv4(127, 1, 2, 3)} {
		rc := newRawClient(t, &net.UDPAddr{IP: ip, Port: ts.addr.Port})
		rc.request(opRRQ, "f", "octet", "blksize", "65464")
		rc.mustRecv()
		if !rc.peer.IP.Equal(ip) {
			t.Errorf("request to %v answered from %v", ip, rc.peer.IP)
		}
		rc.ack(0)
		rc.mustRecv()
		rc.ack(1)
		// lo's MTU is 65536: the RFC 2348 maximum fits.
		if st := ts.next(t); st.Err != nil || st.BlockSize != 65464 {
			t.Errorf("stats %+v; want blksize 65464 on lo", st)
		}
	}
}

// TestLogPeer checks that every log line carries the peer as "ip:port" in
// both handlers: a *net.UDPAddr handed to slog as is comes out as
// {"IP":..,"Port":..} in JSON.
func TestLogPeer(t *testing.T) {
	peer := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 2070}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			opts := &slog.HandlerOptions{Level: slog.LevelDebug}
			var h slog.Handler = slog.NewTextHandler(&buf, opts)
			if format == "json" {
				h = slog.NewJSONHandler(&buf, opts)
			}
			r, err := bootfs.OpenRoot(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			s, err := New(Config{Root: r}, slog.New(h))
			if err != nil {
				t.Fatal(err)
			}
			s.finish(Stats{Peer: peer, File: "a", Bytes: 1, Dur: time.Second})
			s.finish(Stats{Peer: peer, File: "a", Err: errors.New("boom")})
			s.finish(Stats{Peer: peer, File: "a", Probe: true})
			s.handle(context.Background(), nil, nil, ingress{}, peer, []byte{0, 9}) // not a request
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 4 {
				t.Fatalf("got %d log lines, want 4:\n%s", len(lines), buf.String())
			}
			want := `peer=192.0.2.7:2070`
			if format == "json" {
				want = `"peer":"192.0.2.7:2070"`
			}
			for _, l := range lines {
				if !strings.Contains(l, want) {
					t.Errorf("line lacks %s: %s", want, l)
				}
			}
		})
	}
}

// TestLogLongNames: a request for a long name logs it once, cut, and the
// reason does not repeat it.
func TestLogLongNames(t *testing.T) {
	root, _ := testTree(t)
	for _, name := range []string{strings.Repeat("n", 3950), "Boot/" + strings.Repeat("d", 3000) + "/../../Boot"} {
		var buf testlog.Buffer
		ts := startServerLog(t, "127.0.0.1:0", Config{}, &buf, root)
		rc := newRawClient(t, ts.addr)
		rc.request(opRRQ, name, "octet")
		rc.mustRecv()
		ts.next(t)
		l := buf.String()
		if !strings.Contains(l, "tftp transfer failed") || strings.Count(l, "\n") != 1 {
			t.Fatalf("want one failure line, got:\n%s", l)
		}
		if len(l) > 400 || strings.Count(l, name[:maxLogName]) != 1 || strings.Contains(l, name[:maxLogName+1]) {
			t.Errorf("%d-byte line, the name not there once and cut: %.400s", len(l), l)
		}
		if !strings.Contains(l, fmt.Sprintf("... (%d bytes)", len(name))) {
			t.Errorf("the line does not say how long the name was: %.400s", l)
		}
	}
}

// TestLogReasonIsClosed: a failure line's reason is a fixed word whatever
// the client sent (an ERROR message, an opcode, a mode), so the log
// limiter's budget per client and reason holds; the client's words are in
// err, quoted.
func TestLogReasonIsClosed(t *testing.T) {
	var buf testlog.Buffer
	dir := t.TempDir()
	writeFile(t, dir, "f", strings.Repeat("c", 2000))
	ts := startServerLog(t, "127.0.0.1:0", Config{RetransmitTimeout: 5 * time.Second}, &buf, dir)
	closed := map[string]bool{FailNotFound: true, FailAccess: true, FailBusy: true, "timeout": true, "too-slow": true,
		"shutdown": true, "client-error": true, "error": true}
	for i := range 3 {
		rc := newRawClient(t, ts.addr)
		rc.request(opRRQ, "nosuch", fmt.Sprintf("mode%d", i)) // unsupported mode
		rc.mustRecv()
		ts.next(t)
		for _, last := range [][]byte{
			append([]byte{0, opERROR, 0, 0}, fmt.Sprintf("made-up message %d\x00", i)...), // the client's ERROR
			{0, 0x70 + byte(i), 0, 1}, // an unknown opcode
		} {
			rc := newRawClient(t, ts.addr)
			rc.request(opRRQ, "f", "octet")
			rc.mustRecv()
			rc.send(last)
			ts.next(t)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 9 {
		t.Fatalf("%d lines for 9 failed transfers:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		_, r, _ := strings.Cut(l, " reason=")
		r, _, _ = strings.Cut(r, " ")
		if !closed[r] || !strings.Contains(l, " err=") {
			t.Errorf("reason %q is not a fixed word, or no err: %s", r, l)
		}
	}
}

func TestWithoutNames(t *testing.T) {
	for in, want := range map[string]string{
		`open "a/b": file not found`:                   `open file: file not found`,
		`open "x\"y": not a regular file: denied`:      `open file: not a regular file: denied`,
		`clean path: parent element: access violation`: `clean path: parent element: access violation`,
		`open "a" and "b": x`:                          `open file and file: x`,
		`open "unterminated`:                           `open "unterminated`,
	} {
		err := withoutNames{fmt.Errorf("%s: %w", in, ErrNotFound)}
		if got := err.Error(); got != want+": file not found" {
			t.Errorf("%q: got %q, want %q", in, got, want+": file not found")
		}
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%q: errors.Is lost the sentinel", in)
		}
	}
	pe := &os.PathError{Op: "statat", Path: "a/long/name", Err: errors.New("file name too long")}
	err := withoutNames{fmt.Errorf("open %q: %w: %w", "a/long/name", ErrAccess, pe)}
	if got, want := err.Error(), "open file: access violation: statat file: file name too long"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
