package httpd

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/testlog"
	"github.com/pxeproxy/pxeproxy/internal/watchtest"
)

// TestPages: the journal's handler answers "/" exactly and "/api/v1/...";
// every other path stays a boot file, and without Pages "/" is one too.
func TestPages(t *testing.T) {
	f := newFixture(t)
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pages "+r.URL.Path) })
	addr := start(t, Config{Root: f.root, Pages: pages}, nil)
	for target, want := range map[string]string{
		"/":                  "pages /",
		"/api/v1/clients":    "pages /api/v1/clients",
		"/api/v1/clients/x":  "pages /api/v1/clients/x",
		"/api/v2/clients":    "file not found\n",
		"/api/v1":            "file not found\n",
		"/undionly.kpxe":     "kpxe-content",
		"/index.html":        "file not found\n",
		"//api/v1/../../etc": "access denied\n",
	} {
		if got := raw(t, addr, "GET", target, nil); string(got.body) != want {
			t.Errorf("GET %s: %d %q, want %q", target, got.status, got.body, want)
		}
	}
	if got := raw(t, addr, "POST", "/api/v1/clients", nil); got.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/v1/clients: %d, want 405", got.status)
	}
	bare := start(t, Config{Root: f.root}, nil)
	if got := raw(t, bare, "GET", "/", nil); got.status != http.StatusNotFound {
		t.Errorf("GET / without Pages: %d %q, want 404", got.status, got.body)
	}
}

// TestOnShutdownEndsStream: a response that never ends by itself (an event
// stream) is ended through OnShutdown, so Shutdown does not wait out the
// grace and cut it.
func TestOnShutdownEndsStream(t *testing.T) {
	closed := make(chan struct{})
	var once sync.Once
	started := make(chan struct{})
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "data\n")
		http.NewResponseController(w).Flush()
		close(started)
		select {
		case <-closed:
		case <-r.Context().Done():
		}
	})
	var logs testlog.Buffer
	_, addr, cancel, done := launch(t, Config{Pages: stream, ShutdownGrace: time.Minute,
		OnShutdown: func() { once.Do(func() { close(closed) }) }},
		slog.New(slog.NewTextHandler(&logs, nil)))
	resp, err := http.Get("http://" + addr + "/api/v1/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-started
	stop(t, cancel, done, "stream")
	if strings.Contains(logs.String(), "cut") {
		t.Errorf("the stream was cut at the end of the grace, not ended:\n%s", logs.String())
	}
}

// TestWatch follows downloads through OnStart: a big file moves its
// progress chunk by chunk (still by sendfile) to its last byte; a range, a
// missing file and a client that hangs up end with the journal's words;
// HEAD and non-file routes are not downloads.
func TestWatch(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (10<<20)/16+7)
	root := bootRoot(t, t.TempDir(), map[string][]byte{"big.img": big})
	ws := &watchtest.Log[Start]{}
	addr := start(t, Config{Root: root, OnStart: func(s Start) Watch { return ws.Start(s) }, Metrics: metricsPage}, nil)

	got := raw(t, addr, "GET", "/big.img", nil)
	if !bytes.Equal(got.body, big) {
		t.Fatalf("download: %d bytes, want %d", len(got.body), len(big))
	}
	w := ws.Ended(t, 1)
	if w.Start.File != "/big.img" || w.Start.Size != int64(len(big)) || !w.Start.Peer.Addr().IsLoopback() {
		t.Errorf("start %+v", w.Start)
	}
	if s := w.Seen(); s.Bytes != int64(len(big)) || s.Progress < len(big)/progressChunk || s.Ends[0] != "ok: " {
		t.Errorf("%d progress calls, last %d bytes, ends %q; want at least %d calls up to %d bytes, ok",
			s.Progress, s.Bytes, s.Ends, len(big)/progressChunk, len(big))
	}

	raw(t, addr, "GET", "/big.img", map[string]string{"Range": "bytes=100-199"})
	if s := ws.Ended(t, 2).Seen(); s.Bytes != 100 || s.Ends[0] != "ok: " {
		t.Errorf("range: %d bytes, ends %q", s.Bytes, s.Ends)
	}
	raw(t, addr, "GET", "/nope.efi", nil)
	if w := ws.Ended(t, 3); w.Start.Size != 0 || len(w.Seen().Ends) != 1 || !strings.HasPrefix(w.Seen().Ends[0], "not-found: ") {
		t.Errorf("missing file: start %+v, ends %q", w.Start, w.Seen().Ends)
	}
	raw(t, addr, "HEAD", "/big.img", nil)
	raw(t, addr, "GET", "/metrics", nil)

	// A client that reads the headers and hangs up.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /big.img HTTP/1.1\r\nHost: x\r\n\r\n")
	io.ReadFull(c, make([]byte, 100))
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	if s := ws.Ended(t, 4).Seen(); len(s.Ends) != 1 || !strings.HasPrefix(s.Ends[0], "aborted: ") || s.Bytes >= int64(len(big)) {
		t.Errorf("hang-up: %d bytes, ends %q; want aborted before the end", s.Bytes, s.Ends)
	}
	if n := len(ws.All()); n != 4 {
		t.Errorf("%d downloads followed, want 4 (not HEAD, not /metrics)", n)
	}
}
