package httpd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/testlog"
)

// Loopback aliases: on Linux all of 127/8 reaches lo, so these are two
// hosts as far as the server can tell.
var (
	flooder = netip.MustParseAddr("127.0.0.2")
	honest  = netip.MustParseAddr("127.0.0.3")
)

// dialFrom opens a TCP connection to addr from the local address from.
func dialFrom(t *testing.T, from netip.Addr, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	return c
}

// get sends one keep-alive GET on c and reads the whole response.
func get(c net.Conn, br *bufio.Reader, path string) (int, []byte, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return 0, nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// getFrom fetches path on a new connection from the address from.
func getFrom(t *testing.T, from netip.Addr, addr, path string) (int, []byte) {
	t.Helper()
	c := dialFrom(t, from, addr)
	defer c.Close()
	code, body, err := get(c, bufio.NewReader(c), path)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", path, from, err)
	}
	return code, body
}

// TestConnFloodOneHost: one host opens 2,000 connections and leaves them
// idle, some after a keep-alive request, most without sending anything.
// The server keeps at most MaxConnsPerClient of them (and as many
// goroutines), and both another host and the flooding host itself are
// still served during the flood.
func TestConnFloodOneHost(t *testing.T) {
	f := newFixture(t)
	before := runtime.NumGoroutine()
	srv, addr := serve(t, Config{Root: f.root}, nil)
	const flood, keepAlive = 2000, 50
	conns := make([]net.Conn, 0, flood)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range flood {
		c := dialFrom(t, flooder, addr)
		conns = append(conns, c)
		if i < keepAlive {
			// Idle after a complete request; the server may already have
			// closed older ones to make room, which is fine.
			get(c, bufio.NewReader(c), "/undionly.kpxe")
		}
	}
	for _, from := range []netip.Addr{honest, flooder} {
		if code, body := getFrom(t, from, addr, "/undionly.kpxe"); code != 200 || string(body) != "kpxe-content" {
			t.Errorf("client %s during the flood: %d %q", from, code, body)
		}
	}
	perPeer := srv.cfg.MaxConnsPerClient
	// Closed connections end their goroutines shortly after.
	var g int
	for range 100 {
		if g = runtime.NumGoroutine() - before; g <= 2*perPeer+10 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if g > 2*perPeer+10 {
		t.Errorf("%d goroutines more than before the flood, want at most %d: idle connections are kept", g, 2*perPeer+10)
	}
	if total, fromFlooder := srv.lim.open(flooder); fromFlooder > perPeer || total > perPeer+1 {
		t.Errorf("server holds %d connections, %d of the flooder, want at most %d of it", total, fromFlooder, perPeer)
	}
}

// TestConnLimitRefusesWhenBusy: when every connection at a cap has a
// request in progress, a new one from that host is refused (closed at once,
// counted, logged with its peer), while another host is served; at the
// global cap everybody is refused.
func TestConnLimitRefusesWhenBusy(t *testing.T) {
	dir := t.TempDir()
	sparse(t, filepath.Join(dir, "huge.img"), 256<<20)
	root := bootRoot(t, dir, map[string][]byte{"small": []byte("small")})
	var refused atomic.Int32
	var logs testlog.Buffer
	srv, addr := serve(t, Config{Root: root, MaxConns: 3, MaxConnsPerClient: 2,
		OnRefused: func() { refused.Add(1) }}, logs.JSONLogger())

	// Two stalled downloads from the flooder: requests in progress.
	busy := func(from netip.Addr) net.Conn {
		c := dialFrom(t, from, addr)
		fmt.Fprintf(c, "GET /huge.img HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatalf("stalled download from %s: %v", from, err)
		}
		return c
	}
	for range 2 {
		defer busy(flooder).Close()
	}
	if c := dialFrom(t, flooder, addr); !refusedConn(c) {
		t.Error("third connection of a host whose two are busy was not refused")
	}
	if code, _ := getFrom(t, honest, addr, "/small"); code != 200 {
		t.Errorf("other host: status %d", code)
	}
	// The server may still be finishing that request (not yet idle, so
	// not a connection it may close to make room) when the client has the
	// whole response: wait until it has let the connection go, or the
	// next one would meet the global cap with every slot busy.
	waitOpen(t, srv, 2)
	defer busy(honest).Close()
	if c := dialFrom(t, honest, addr); !refusedConn(c) {
		t.Error("connection beyond the global cap, all busy, was not refused")
	}
	if n := refused.Load(); n != 2 {
		t.Errorf("OnRefused called %d times, want 2", n)
	}
	got := logLines(t, logs.Bytes())
	var reasons []string
	for _, l := range got {
		if l["msg"] == "http connection refused" {
			reasons = append(reasons, fmt.Sprint(l["reason"]))
			if p, _ := l["peer"].(string); p == "" {
				t.Errorf("refusal line without peer: %v", l)
			}
		}
	}
	if fmt.Sprint(reasons) != fmt.Sprint([]string{refusedPeer, refusedTotal}) {
		t.Errorf("refusal reasons %v", reasons)
	}
}

// refusedConn reports whether the server closed c without answering.
func refusedConn(c net.Conn) bool {
	defer c.Close()
	fmt.Fprintf(c, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 100))
	return n == 0 && err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// TestConnTimeouts: a keep-alive connection left idle and one that never
// finishes its headers are closed after their timeouts.
func TestConnTimeouts(t *testing.T) {
	f := newFixture(t)
	srv, addr := serve(t, Config{Root: f.root, IdleTimeout: 200 * time.Millisecond,
		ReadHeaderTimeout: 200 * time.Millisecond}, nil)
	idle := dialFrom(t, honest, addr)
	defer idle.Close()
	if code, _, err := get(idle, bufio.NewReader(idle), "/undionly.kpxe"); err != nil || code != 200 {
		t.Fatalf("keep-alive request: %d %v", code, err)
	}
	slow := dialFrom(t, flooder, addr)
	defer slow.Close()
	io.WriteString(slow, "GET /undionly.kpxe HTTP/1.1\r\nHost: x\r\n") // never ends
	for name, c := range map[string]net.Conn{"idle keep-alive": idle, "unfinished headers": slow} {
		// A hang guard, not a timing assertion: the defaults are far longer.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s connection still open after 5s", name)
		}
	}
	waitOpen(t, srv, 0)
}

// TestSendTimeoutCutsStalledClient: a client that requests a big file and
// stops reading loses the connection after SendTimeout, and its slot.
func TestSendTimeoutCutsStalledClient(t *testing.T) {
	dir := t.TempDir()
	sparse(t, filepath.Join(dir, "huge.img"), 256<<20)
	root := bootRoot(t, dir, nil)
	srv, addr := serve(t, Config{Root: root, SendTimeout: 300 * time.Millisecond}, nil)
	c := dialFrom(t, honest, addr)
	defer c.Close()
	fmt.Fprintf(c, "GET /huge.img HTTP/1.1\r\nHost: x\r\n\r\n")
	waitOpen(t, srv, 1)
	waitOpen(t, srv, 0) // hang guard: without the timeout it waits forever
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, resp.Body); err == nil || n >= 256<<20 {
		t.Errorf("stalled download got %d bytes, err %v: want it cut", n, err)
	}
}

// TestSlowDownloadCompletes: a download that moves slowly but steadily and
// lasts many SendTimeouts is not cut (a WriteTimeout would cut it).
func TestSlowDownloadCompletes(t *testing.T) {
	const size = 4 << 20
	want := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	root := bootRoot(t, t.TempDir(), map[string][]byte{"boot.wim": want})
	const send = 400 * time.Millisecond
	_, addr := serve(t, Config{Root: root, SendTimeout: send}, nil)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		// A small receive window, so the pace of reading is the pace of
		// sending.
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /boot.wim HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var got bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			if err != io.EOF {
				t.Fatalf("after %d bytes in %v: %v", got.Len(), time.Since(start), err)
			}
			break
		}
		time.Sleep(15 * time.Millisecond) // about 2 MB/s
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("got %d bytes, not the file", got.Len())
	}
	if d := time.Since(start); d < 3*send {
		t.Logf("download took only %v: the test did not span several SendTimeouts", d)
	}
}

// TestReadFromKeepsSendfile: the connection wrapper hands the kernel path
// a single *io.LimitedReader around the file, the shape net's sendfile
// recognises, and renews the deadline for every chunk.
func TestReadFromKeepsSendfile(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 3*sendChunk + 100
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	inner := &recordConn{}
	tc := &trackedConn{Conn: inner, lim: newConnLimiter(1, 1, time.Minute)}
	lr := &io.LimitedReader{R: f, N: size - 50}
	n, err := tc.ReadFrom(lr)
	if err != nil || n != size-50 || lr.N != 0 {
		t.Fatalf("ReadFrom = %d, %v; left %d", n, err, lr.N)
	}
	if len(inner.srcs) != 4 || inner.deadlines != 4 {
		t.Fatalf("%d chunks, %d deadlines; want 4 each", len(inner.srcs), inner.deadlines)
	}
	for i, s := range inner.srcs {
		if l, ok := s.(*io.LimitedReader); !ok || l.R != f {
			t.Errorf("chunk %d: %T, want *io.LimitedReader around the *os.File", i, s)
		}
	}
}

// recordConn is a net.Conn whose ReadFrom records what it is given.
type recordConn struct {
	net.Conn
	srcs      []io.Reader
	deadlines int
}

func (c *recordConn) SetWriteDeadline(time.Time) error { c.deadlines++; return nil }

func (c *recordConn) ReadFrom(r io.Reader) (int64, error) {
	c.srcs = append(c.srcs, r)
	return io.Copy(io.Discard, r)
}

// waitOpen waits until the server counts n connections.
func waitOpen(t *testing.T, srv *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		total, _ := srv.lim.open(netip.Addr{})
		if total == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server holds %d connections after 10s, want %d", total, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sparse creates a file of size bytes that takes no disk space.
func sparse(t *testing.T, name string, size int64) {
	t.Helper()
	fh, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := fh.Truncate(size); err != nil {
		t.Fatal(err)
	}
}
