package httpd

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/bootfs"
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
	var mu sync.Mutex
	var logs bytes.Buffer
	addr, cancel, done := launch(t, Config{Pages: stream, ShutdownGrace: time.Minute,
		OnShutdown: func() { once.Do(func() { close(closed) }) }},
		slog.New(slog.NewTextHandler(&lockedWriter{&mu, &logs}, nil)))
	resp, err := http.Get("http://" + addr + "/api/v1/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return: the stream held the shutdown")
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "cut") {
		t.Errorf("the stream was cut at the end of the grace, not ended:\n%s", logs.String())
	}
}

// recWatch records what a Watch is told.
type recWatch struct {
	start    Start
	mu       sync.Mutex
	progress int
	bytes    int64
	ends     []string
}

func (w *recWatch) Progress(bytes int64, _ int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.progress++
	w.bytes = bytes
}

func (w *recWatch) End(result, detail string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ends = append(w.ends, result+": "+detail)
}

type watches struct {
	mu  sync.Mutex
	all []*recWatch
}

func (ws *watches) start(s Start) Watch {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w := &recWatch{start: s}
	ws.all = append(ws.all, w)
	return w
}

// wait returns the n-th watch (from 1) once it has ended.
func (ws *watches) wait(t *testing.T, n int) *recWatch {
	t.Helper()
	for range 1000 {
		ws.mu.Lock()
		var w *recWatch
		if len(ws.all) >= n {
			w = ws.all[n-1]
		}
		ws.mu.Unlock()
		if w != nil {
			w.mu.Lock()
			ended := len(w.ends) > 0
			w.mu.Unlock()
			if ended {
				return w
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("download %d never ended", n)
	return nil
}

// TestWatch follows downloads through OnStart: a big file moves its
// progress chunk by chunk (still by sendfile) to its last byte; a range, a
// missing file and a client that hangs up end with the journal's words;
// HEAD and non-file routes are not downloads.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), (10<<20)/16+7)
	if err := os.WriteFile(filepath.Join(dir, "big.img"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := bootfs.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ws := &watches{}
	addr := start(t, Config{Root: root, OnStart: ws.start, Metrics: metricsPage}, nil)

	got := raw(t, addr, "GET", "/big.img", nil)
	if !bytes.Equal(got.body, big) {
		t.Fatalf("download: %d bytes, want %d", len(got.body), len(big))
	}
	w := ws.wait(t, 1)
	if w.start.File != "/big.img" || w.start.Size != int64(len(big)) || !w.start.Peer.Addr().IsLoopback() {
		t.Errorf("start %+v", w.start)
	}
	if w.bytes != int64(len(big)) || w.progress < len(big)/progressChunk || w.ends[0] != "ok: " {
		t.Errorf("%d progress calls, last %d bytes, ends %q; want at least %d calls up to %d bytes, ok",
			w.progress, w.bytes, w.ends, len(big)/progressChunk, len(big))
	}

	raw(t, addr, "GET", "/big.img", map[string]string{"Range": "bytes=100-199"})
	if w := ws.wait(t, 2); w.bytes != 100 || w.ends[0] != "ok: " {
		t.Errorf("range: %d bytes, ends %q", w.bytes, w.ends)
	}
	raw(t, addr, "GET", "/nope.efi", nil)
	if w := ws.wait(t, 3); w.start.Size != 0 || len(w.ends) != 1 || !strings.HasPrefix(w.ends[0], "not-found: ") {
		t.Errorf("missing file: start %+v, ends %q", w.start, w.ends)
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
	if w := ws.wait(t, 4); len(w.ends) != 1 || !strings.HasPrefix(w.ends[0], "aborted: ") || w.bytes >= int64(len(big)) {
		t.Errorf("hang-up: %d bytes, ends %q; want aborted before the end", w.bytes, w.ends)
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if len(ws.all) != 4 {
		t.Errorf("%d downloads followed, want 4 (not HEAD, not /metrics)", len(ws.all))
	}
}
