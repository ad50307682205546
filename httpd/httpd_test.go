package httpd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/bootfs"
	"github.com/pxeproxy/pxeproxy/internal/logfmt"
	"github.com/pxeproxy/pxeproxy/internal/testclock"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
)

const secret = "TOP-SECRET-OUTSIDE-THE-ROOT"

// fixture is a boot root in a temp dir with a secret folder next to it that
// symlinks inside the root point at.
type fixture struct {
	dir  string // the root
	out  string // outside the root
	big  []byte // content of big.bin
	root *bootfs.Root
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	base := t.TempDir()
	f := &fixture{dir: filepath.Join(base, "root"), out: filepath.Join(base, "outside")}
	rng := rand.New(rand.NewPCG(1, 2))
	f.big = make([]byte, 1<<20+123)
	for i := range f.big {
		f.big[i] = byte(rng.Uint32())
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{f.dir, f.out, filepath.Join(f.dir, "boot", "x64")} {
		must(os.MkdirAll(d, 0o755))
	}
	files := map[string][]byte{
		"big.bin":               f.big,
		"undionly.kpxe":         []byte("kpxe-content"),
		"snponly.efi":           []byte("MZ-efi-content"),
		"boot/x64/wdsnbp.com":   []byte("wdsnbp-content"),
		"../outside/secret.txt": []byte(secret),
	}
	for name, b := range files {
		must(os.WriteFile(filepath.Join(f.dir, name), b, 0o644))
	}
	// Planted symlinks: to a file and a folder outside the root (must be
	// refused) and to a file inside it (fine).
	must(os.Symlink(filepath.Join(f.out, "secret.txt"), filepath.Join(f.dir, "escape.efi")))
	must(os.Symlink("../outside/secret.txt", filepath.Join(f.dir, "relescape.efi")))
	must(os.Symlink(f.out, filepath.Join(f.dir, "outdir")))
	must(os.Symlink("undionly.kpxe", filepath.Join(f.dir, "link.kpxe")))
	must(syscall.Mkfifo(filepath.Join(f.dir, "fifo"), 0o644))
	r, err := bootfs.OpenRoot(f.dir)
	must(err)
	t.Cleanup(func() { r.Close() })
	f.root = r
	return f
}

// launch runs a Server from cfg through Serve on a loopback listener and
// returns it, its address, the cancel that stops it and Serve's result.
func launch(t *testing.T, cfg Config, log *slog.Logger) (*Server, string, context.CancelFunc, <-chan error) {
	t.Helper()
	srv, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	return srv, ln.Addr().String(), cancel, done
}

// stop cancels Serve's context and fails the test unless Serve returns nil
// within 30 seconds: a hang guard, not a timing assertion. what names what
// could hold the shutdown.
func stop(t *testing.T, cancel context.CancelFunc, done <-chan error, what string) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not return: the %s held the shutdown", what)
	}
}

// serve is launch with the stop at the end of the test.
func serve(t *testing.T, cfg Config, log *slog.Logger) (*Server, string) {
	t.Helper()
	srv, addr, cancel, done := launch(t, cfg, log)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv, addr
}

// start is serve for a test that needs only the address.
func start(t *testing.T, cfg Config, log *slog.Logger) string {
	t.Helper()
	_, addr := serve(t, cfg, log)
	return addr
}

// bootRoot writes files (name: content) into dir and opens dir as the boot
// root until the end of the test.
func bootRoot(t *testing.T, dir string, files map[string][]byte) *bootfs.Root {
	t.Helper()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, err := bootfs.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// raw sends one request with target written verbatim on the request line,
// so the test controls exactly what a client puts there (a Go client would
// escape backslashes and keep "..").
func raw(t *testing.T, addr, method, target string, hdr map[string]string) response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, addr)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, "/", nil)
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatalf("%s %s: read response: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

// metricsPage stands for the metrics handler.
var metricsPage = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metrics\n") })

func TestRoutes(t *testing.T) {
	f := newFixture(t)
	addr := start(t, Config{Root: f.root, Metrics: metricsPage}, nil)
	n := len(f.big)
	notFound, denied := []byte("file not found\n"), []byte("access denied\n")

	cases := map[string]struct {
		method, target string
		hdr            map[string]string
		status         int
		body           []byte            // exact body; nil: not checked
		header         map[string]string // exact header values
	}{
		"healthz":           {target: "/healthz", status: 200, body: []byte("ok\n")},
		"metrics":           {target: "/metrics", status: 200, body: []byte("metrics\n")},
		"file":              {target: "/undionly.kpxe", status: 200, body: []byte("kpxe-content"), header: map[string]string{"Content-Length": "12", "Accept-Ranges": "bytes"}},
		"big file":          {target: "/big.bin", status: 200, body: f.big, header: map[string]string{"Content-Length": strconv.Itoa(n)}},
		"query ignored":     {target: "/undionly.kpxe?x=1", status: 200, body: []byte("kpxe-content")},
		"efi content type":  {target: "/snponly.efi", status: 200, body: []byte("MZ-efi-content"), header: map[string]string{"Content-Type": "application/efi"}},
		"subdir":            {target: "/boot/x64/wdsnbp.com", status: 200, body: []byte("wdsnbp-content")},
		"backslash raw":     {target: `/boot\x64\wdsnbp.com`, status: 200, body: []byte("wdsnbp-content")},
		"backslash leading": {target: `/\boot\x64\wdsnbp.com`, status: 200, body: []byte("wdsnbp-content")},
		"backslash encoded": {target: "/boot%5Cx64%5Cwdsnbp.com", status: 200, body: []byte("wdsnbp-content")},
		"case folded":       {target: `/BOOT\X64\WDSNBP.COM`, status: 200, body: []byte("wdsnbp-content")},
		"symlink inside":    {target: "/link.kpxe", status: 200, body: []byte("kpxe-content")},
		"double slash":      {target: "//boot//x64/wdsnbp.com", status: 200, body: []byte("wdsnbp-content")},

		"range":            {target: "/big.bin", hdr: map[string]string{"Range": "bytes=100-199"}, status: 206, body: f.big[100:200], header: map[string]string{"Content-Range": fmt.Sprintf("bytes 100-199/%d", n), "Content-Length": "100"}},
		"range open end":   {target: "/big.bin", hdr: map[string]string{"Range": "bytes=1048000-"}, status: 206, body: f.big[1048000:], header: map[string]string{"Content-Range": fmt.Sprintf("bytes 1048000-%d/%d", n-1, n)}},
		"range suffix":     {target: "/big.bin", hdr: map[string]string{"Range": "bytes=-10"}, status: 206, body: f.big[n-10:]},
		"range beyond end": {target: "/big.bin", hdr: map[string]string{"Range": fmt.Sprintf("bytes=%d-", n+5)}, status: 416},
		"head":             {method: "HEAD", target: "/big.bin", status: 200, body: []byte{}, header: map[string]string{"Content-Length": strconv.Itoa(n)}},
		"not modified":     {target: "/big.bin", hdr: map[string]string{"If-Modified-Since": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, status: 304, body: []byte{}},
		"post":             {method: "POST", target: "/big.bin", status: 405, header: map[string]string{"Allow": "GET, HEAD"}},
		"put healthz":      {method: "PUT", target: "/healthz", status: 405},

		"missing":                  {target: "/nope.efi", status: 404, body: notFound},
		"root":                     {target: "/", status: 404, body: notFound},
		"host path":                {target: "/etc/passwd", status: 404, body: notFound},
		"directory":                {target: "/boot", status: 403, body: denied},
		"directory slash":          {target: "/boot/x64/", status: 403, body: denied},
		"dotdot":                   {target: "/../outside/secret.txt", status: 403, body: denied},
		"dotdot inner":             {target: "/boot/../../outside/secret.txt", status: 403, body: denied},
		"dotdot encoded":           {target: "/%2e%2e/outside/secret.txt", status: 403, body: denied},
		"dotdot encoded 2":         {target: "/boot/%2E%2E%2F%2E%2E%2Foutside%2Fsecret.txt", status: 403, body: denied},
		"dotdot backslash":         {target: `/..\outside\secret.txt`, status: 403, body: denied},
		"dotdot backslash encoded": {target: "/..%5c..%5coutside%5csecret.txt", status: 403, body: denied},
		"symlink out":              {target: "/escape.efi", status: 403, body: denied},
		"symlink out rel":          {target: "/relescape.efi", status: 403, body: denied},
		"symlink dir out":          {target: "/outdir/secret.txt", status: 403, body: denied},
		"fifo":                     {target: "/fifo", status: 403, body: denied},
		"nul":                      {target: "/undionly.kpxe%00.efi", status: 403, body: denied},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = "GET"
			}
			r := raw(t, addr, method, c.target, c.hdr)
			if r.status != c.status {
				t.Fatalf("status %d, want %d (body %.200q)", r.status, c.status, r.body)
			}
			if c.body != nil && !bytes.Equal(r.body, c.body) {
				t.Errorf("body %d bytes %.80q, want %d bytes %.80q", len(r.body), r.body, len(c.body), c.body)
			}
			for k, v := range c.header {
				if got := r.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			// Never the secret, never a host path, never a listing.
			for _, bad := range []string{secret, f.dir, f.out, "<a href"} {
				if bytes.Contains(r.body, []byte(bad)) {
					t.Errorf("body contains %q", bad)
				}
			}
		})
	}
}

// TestOnFileCountsBytes checks which responses OnFile reports, with what.
func TestOnFileCountsBytes(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var got []int64
	onFile := func(n int64) { mu.Lock(); got = append(got, n); mu.Unlock() }
	addr := start(t, Config{Root: f.root, Metrics: metricsPage, OnFile: onFile}, nil)
	raw(t, addr, "GET", "/big.bin", nil)                                           // len(big)
	raw(t, addr, "GET", "/big.bin", map[string]string{"Range": "bytes=100-199"})   // 100
	raw(t, addr, "HEAD", "/big.bin", nil)                                          // 0, counted as a response
	raw(t, addr, "GET", "/nope", nil)                                              // not counted
	raw(t, addr, "GET", "/escape.efi", nil)                                        // not counted
	raw(t, addr, "GET", "/healthz", nil)                                           // not a file
	raw(t, addr, "GET", "/metrics", nil)                                           // not a file
	raw(t, addr, "GET", "/big.bin", map[string]string{"Range": "bytes=99999999-"}) // 416, not counted
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(got) // a handler may report after its client has read the response
	if want := []int64{0, 100, int64(len(f.big))}; !slices.Equal(got, want) {
		t.Errorf("OnFile calls %v, want %v", got, want)
	}
}

func TestNoMetricsNoRoot(t *testing.T) {
	addr := start(t, Config{}, nil)
	for target, want := range map[string]int{"/metrics": 404, "/healthz": 200, "/undionly.kpxe": 404} {
		if r := raw(t, addr, "GET", target, nil); r.status != want {
			t.Errorf("%s: status %d, want %d", target, r.status, want)
		}
	}
}

func TestHealthFlips(t *testing.T) {
	h := &Health{}
	addr := start(t, Config{Health: h}, nil)
	steps := []struct {
		set    func()
		status int
		body   string
	}{
		{func() {}, 200, "ok\n"}, // nothing registered yet
		{func() { h.Set("proxy:67", true); h.Set("tftp", false) }, 503, "proxy:67: serving\ntftp: not serving\n"},
		{func() { h.Set("tftp", true) }, 200, "ok\n"},
		{func() { h.Set("proxy:67", false) }, 503, "proxy:67: not serving\ntftp: serving\n"},
		{func() { h.Set("proxy:67", true) }, 200, "ok\n"},
	}
	for i, s := range steps {
		s.set()
		r := raw(t, addr, "GET", "/healthz", nil)
		if r.status != s.status || string(r.body) != s.body {
			t.Errorf("step %d: %d %q, want %d %q", i, r.status, r.body, s.status, s.body)
		}
	}
	ok, svc := h.Healthy()
	if !ok || len(svc) != 2 || !svc["tftp"] || !svc["proxy:67"] {
		t.Errorf("Healthy() = %v %v", ok, svc)
	}
	svc["tftp"] = false // a copy: must not change h
	if ok, _ := h.Healthy(); !ok {
		t.Error("Healthy() returned its internal map")
	}
}

// TestHealthConcurrent flips services while /healthz is read (go test -race).
func TestHealthConcurrent(t *testing.T) {
	h := &Health{}
	srv, err := New(Config{Health: h}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				h.Set(fmt.Sprint("svc", i), j%2 == 0)
			}
		})
		wg.Go(func() {
			for range 200 {
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
				if rec.Code != 200 && rec.Code != 503 {
					t.Errorf("status %d", rec.Code)
				}
			}
		})
	}
	wg.Wait()
}

type logLine struct {
	Level, Msg, Svc, Peer, File, Method, Reason string
	Status                                      int
	Bytes                                       int64
	Dur                                         int64
}

func TestRequestLog(t *testing.T) {
	f := newFixture(t)
	var buf testlog.Buffer
	addr := start(t, Config{Root: f.root, Metrics: metricsPage}, buf.JSONLogger())
	raw(t, addr, "GET", "/big.bin", map[string]string{"Range": "bytes=0-9"})
	raw(t, addr, "GET", "/../outside/secret.txt", nil)
	raw(t, addr, "GET", "/metrics", nil)
	raw(t, addr, "GET", "/healthz", nil)

	var lines []logLine
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ll logLine
		if err := json.Unmarshal([]byte(l), &ll); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if ll.Msg == "http request" {
			lines = append(lines, ll)
		}
	}
	want := []struct {
		level, file string
		status      int
		bytes       int64
		reason      string
	}{
		{"INFO", "/big.bin", 206, 10, ""},
		{"INFO", "/../outside/secret.txt", 403, int64(len("access denied\n")), "access-denied"},
		{"DEBUG", "/metrics", 200, -1, ""},
		{"DEBUG", "/healthz", 200, 3, ""},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d request lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		l := lines[i]
		if l.Level != w.level || l.File != w.file || l.Status != w.status || l.Svc != "http" || l.Method != "GET" ||
			(w.bytes >= 0 && l.Bytes != w.bytes) || l.Reason != w.reason || !strings.HasPrefix(l.Peer, "127.0.0.1:") {
			t.Errorf("line %d: %+v, want %+v", i, l, w)
		}
	}
}

// TestShutdownLetsDownloadFinish cancels Serve's context while a download
// is half read: the download completes byte-exact, new connections are
// refused, and Serve returns nil.
func TestShutdownLetsDownloadFinish(t *testing.T) {
	f := newFixture(t)
	_, addr, cancel, done := launch(t, Config{Root: f.root}, nil)

	resp, err := http.Get("http://" + addr + "/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	cancel()
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("download cut by shutdown: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, f.big) {
		t.Fatalf("download: %d bytes, not the file (%d bytes)", len(got), len(f.big))
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("listener still accepting after shutdown")
	}
}

// TestShutdownCutsStalledDownload: a client that stops reading cannot hold
// the shutdown beyond ShutdownGrace.
func TestShutdownCutsStalledDownload(t *testing.T) {
	dir := t.TempDir()
	// Sparse and larger than the loopback socket buffers, so the server
	// blocks writing to a client that does not read.
	sparse(t, filepath.Join(dir, "huge.img"), 256<<20)
	root := bootRoot(t, dir, nil)
	_, addr, cancel, done := launch(t, Config{Root: root, ShutdownGrace: 50 * time.Millisecond}, nil)
	resp, err := http.Get("http://" + addr + "/huge.img")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Without the cut Serve would wait for the client forever.
	stop(t, cancel, done, "stalled download")
	if n, err := io.Copy(io.Discard, resp.Body); err == nil {
		t.Errorf("stalled download finished (%d bytes) instead of being cut", n)
	}
}

func TestNewRejects(t *testing.T) {
	for name, cfg := range map[string]Config{
		"bad addr":       {Addr: "8080"},
		"negative grace": {ShutdownGrace: -1},
		"negative idle":  {IdleTimeout: -1},
		"negative send":  {SendTimeout: -1},
		"negative conns": {MaxConnsPerClient: -1},
	} {
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

// TestHealthFollowsBootFolder: the boot folder deleted while running makes
// /healthz 503 with the reason (and files "not found"); recreated, both
// come back.
func TestHealthFollowsBootFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tftp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root := bootRoot(t, dir, map[string][]byte{"boot.ipxe": []byte("#!ipxe\n")})
	h := &Health{}
	h.Set("tftp", true)
	h.Check("boot folder", root.Err)
	addr := start(t, Config{Root: root, Health: h}, nil)
	expect := func(step string, health int, body string, file int) {
		t.Helper()
		// The folder's path is checked at most once a second.
		r := raw(t, addr, "GET", "/healthz", nil)
		for end := time.Now().Add(5 * time.Second); r.status != health && time.Now().Before(end); {
			time.Sleep(50 * time.Millisecond)
			r = raw(t, addr, "GET", "/healthz", nil)
		}
		if r.status != health || string(r.body) != body {
			t.Errorf("%s: /healthz %d %q, want %d %q", step, r.status, r.body, health, body)
		}
		if r := raw(t, addr, "GET", "/boot.ipxe", nil); r.status != file {
			t.Errorf("%s: /boot.ipxe %d, want %d", step, r.status, file)
		}
	}
	expect("start", 200, "ok\n", 200)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	expect("deleted", 503, "boot folder: gone: its folder does not exist\ntftp: serving\n", 404)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "boot.ipxe"), []byte("#!ipxe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file request misses, which checks the path at once.
	if r := raw(t, addr, "GET", "/boot.ipxe", nil); r.status != 200 {
		t.Errorf("recreated: /boot.ipxe %d, want 200", r.status)
	}
	expect("recreated", 200, "ok\n", 200)
}

// TestRequestLogBounded sends the log through the process's limiter
// (internal/logfmt) as the command does: one client asking for hundreds of
// different missing names, and one 4,000-byte name, makes a few lines and
// a summary, every line short.
func TestRequestLogBounded(t *testing.T) {
	f := newFixture(t)
	var logs testlog.Buffer
	clock := testclock.New(time.Unix(1e9, 0)) // one limiter window for the whole flood
	log := slog.New(logfmt.NewLimiter(slog.NewJSONHandler(&logs, nil), logfmt.LimitConfig{Now: clock.Now}))
	addr := start(t, Config{Root: f.root}, log)
	long := "/" + strings.Repeat("a", 4000)
	if r := raw(t, addr, "GET", long, nil); r.status != 404 && r.status != 403 {
		t.Fatalf("long name: status %d", r.status)
	}
	c := dialFrom(t, flooder, addr)
	defer c.Close()
	br := bufio.NewReader(c)
	const flood = 300
	for i := range flood {
		if code, _, err := get(c, br, fmt.Sprintf("/missing-%d.efi", i)); err != nil || code != 404 {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
	}
	clock.Add(2 * time.Second) // the next line ends the window: summaries
	raw(t, addr, "GET", "/undionly.kpxe", nil)

	b := logs.Bytes()
	fromFlooder, suppressed := 0, 0.0
	for _, l := range logLines(t, b) {
		peer, _ := l["peer"].(string)
		if strings.HasPrefix(peer, flooder.String()+":") && l["msg"] == "http request" {
			fromFlooder++
		}
		if l["msg"] == "suppressed similar lines" && l["peer"] == flooder.String() {
			suppressed += l["suppressed"].(float64)
		}
	}
	if fromFlooder > 5 || fromFlooder+int(suppressed) != flood {
		t.Errorf("flood of %d refused requests: %d lines and %v suppressed, want at most 5 lines and the rest summed up", flood, fromFlooder, suppressed)
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(l) > 1000 {
			t.Errorf("log line of %d bytes: %.200s...", len(l), l)
		}
	}
	if len(b) > 8<<10 {
		t.Errorf("%d bytes of log for the flood, want a few lines", len(b))
	}
}
