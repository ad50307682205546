// Package httpd is pxeproxy's HTTP listener: /healthz, /metrics and the boot
// files of the boot folder, read-only, for iPXE and UEFI HTTP boot clients
// that fetch big images at wire speed instead of TFTP speed.
//
// Contract: every other path is a boot file looked up through the same
// confined bootfs.Root as TFTP (os.Root underneath), so neither "..", its
// percent-encodings, backslashes nor a planted symlink reach a file outside
// the folder; only regular files are sent, never a directory listing; only
// GET and HEAD are answered; error bodies are fixed words and never name a
// host path.
//
// What the LAN can hold is bounded: at most MaxConns connections, at most
// MaxConnsPerClient of one address, idle ones closed first to make room
// and after IdleTimeout, headers within ReadHeaderTimeout, and a response
// the client stops taking cut after SendTimeout; a download that moves has
// no time limit.
package httpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pxeproxy/pxeproxy/bootfs"
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Addr is the TCP address Listen opens, e.g. ":8080".
	Addr string
	// URL is the base URL HTTP boot clients are sent to, when it is not
	// derived from the address they asked on. Listen warns about a loopback
	// Addr without one: no client could reach it.
	URL string
	// Root is where boot files are looked up. Nil: every file is "not
	// found" (health and metrics still work).
	Root *bootfs.Root
	// Metrics is served on /metrics. Nil: /metrics is "not found".
	Metrics http.Handler
	// OnFile, when set, is called once per boot file response with status
	// 200 or 206 (HEAD included), with the body bytes sent.
	OnFile func(bytes int64)
	// Health decides /healthz. Nil: an empty Health, always healthy.
	Health *Health
	// ShutdownGrace is how long downloads in flight may finish after the
	// context given to Serve ends; then they are cut. Default 10s.
	ShutdownGrace time.Duration

	// MaxConns caps the connections open at once (default 256). At the
	// cap, the connection idle the longest (keep-alive, or no request sent
	// yet) is closed to make room; when every one has a request in
	// progress, the new connection is refused.
	MaxConns int
	// MaxConnsPerClient caps the connections of one client address the
	// same way (default 16), so one host cannot take every slot.
	MaxConnsPerClient int
	// OnRefused, when set, is called once per connection refused at a cap.
	OnRefused func()
	// ReadHeaderTimeout bounds how long a client may take to send a
	// request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no new request
	// for that long (default 30s).
	IdleTimeout time.Duration
	// SendTimeout cuts a connection whose client takes less than 32 KiB of
	// a response in that long (default 60s): one that stopped reading, or
	// reads a byte at a time. There is no limit on a whole download: a
	// 500 MB image on a slow link takes what it takes.
	SendTimeout time.Duration
	// Pages is served at "/" (exactly) and under "/api/v1/": the boot
	// journal's read-only page and API. Nil: those are boot file paths.
	Pages http.Handler
	// OnShutdown, when set, is called as Serve begins to shut down
	// (http.Server.RegisterOnShutdown): an event stream never goes idle,
	// so Shutdown would wait for it until the grace ends.
	OnShutdown func()
	// OnStart, when set, is called for each GET of a boot file once it is
	// open, or found missing (Size 0); the Watch it returns (nil: none)
	// follows the download to its end.
	OnStart func(Start) Watch
}

// Health tracks which services are serving, and runs checks of what they
// depend on (the boot folder). The zero value is ready to use and, with
// nothing registered, healthy.
type Health struct {
	mu     sync.RWMutex
	svc    map[string]bool
	checks map[string]func() error
}

// errNotServing is the state of a service whose loop has ended.
var errNotServing = errors.New("not serving")

// Set registers service (first call) and records whether it is serving.
func (h *Health) Set(service string, serving bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.svc == nil {
		h.svc = map[string]bool{}
	}
	h.svc[service] = serving
}

// Check registers check under name: it runs on every /healthz request, and
// an error makes the answer 503 with "name: error". The error text is shown
// to clients: it must not name host paths.
func (h *Health) Check(name string, check func() error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.checks == nil {
		h.checks = map[string]func() error{}
	}
	h.checks[name] = check
}

// Healthy reports whether every registered service is serving and every
// check passes, with a copy of each one's state.
func (h *Health) Healthy() (bool, map[string]bool) {
	ok, st := h.state()
	out := make(map[string]bool, len(st))
	for n, err := range st {
		out[n] = err == nil
	}
	return ok, out
}

// state runs the checks (outside the lock: they may touch the disk) and
// returns every service's and check's error, nil when fine.
func (h *Health) state() (bool, map[string]error) {
	h.mu.RLock()
	st := make(map[string]error, len(h.svc)+len(h.checks))
	for s, v := range h.svc {
		if !v {
			st[s] = errNotServing
		} else {
			st[s] = nil
		}
	}
	checks := maps.Clone(h.checks)
	h.mu.RUnlock()
	for n, c := range checks {
		st[n] = c()
	}
	ok := true
	for _, err := range st {
		ok = ok && err == nil
	}
	return ok, st
}

// Server answers HTTP requests.
type Server struct {
	cfg Config
	log *slog.Logger
	lim *connLimiter
}

// New checks cfg, fills in defaults and returns a Server.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if cfg.Addr != "" {
		if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
			return nil, fmt.Errorf("new http server: address %q: %w", cfg.Addr, err)
		}
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"shutdown grace", &cfg.ShutdownGrace, 10 * time.Second},
		{"read header timeout", &cfg.ReadHeaderTimeout, 10 * time.Second},
		{"idle timeout", &cfg.IdleTimeout, 30 * time.Second},
		{"send timeout", &cfg.SendTimeout, time.Minute},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("new http server: negative %s %v", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, n := range []struct {
		name string
		v    *int
		def  int
	}{{"connection limit", &cfg.MaxConns, 256}, {"per-client connection limit", &cfg.MaxConnsPerClient, 16}} {
		if *n.v < 0 {
			return nil, fmt.Errorf("new http server: negative %s %d", n.name, *n.v)
		}
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	if cfg.Health == nil {
		cfg.Health = &Health{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log.With("svc", "http"),
		lim: newConnLimiter(cfg.MaxConns, cfg.MaxConnsPerClient, cfg.SendTimeout)}, nil
}

// Listen opens the TCP listener on Config.Addr, so that a taken port stops
// the start before anything runs. Its errors say what to do about a taken
// or privileged port.
func (s *Server) Listen(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		err = fmt.Errorf("http listen: %w", err)
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			return nil, fmt.Errorf("the port is taken by another program; choose a free port or stop that program: %w", err)
		case errors.Is(err, syscall.EACCES):
			return nil, fmt.Errorf("a port below 1024 needs root or CAP_NET_BIND_SERVICE: %w", err)
		}
		return nil, err
	}
	if host, _, _ := net.SplitHostPort(s.cfg.Addr); net.ParseIP(host).IsLoopback() && s.cfg.URL == "" {
		// HTTP boot clients get http://<ingress address>:<port>/..., which
		// a loopback-only listener never answers.
		s.log.Warn("http listener is on loopback only: UEFI HTTP boot clients will not reach it (listen on :PORT or set PXE_HTTP_URL)",
			"addr", s.cfg.Addr)
	}
	s.log.Info("http listening", "addr", ln.Addr().String(), "files", s.cfg.Root != nil, "metrics", s.cfg.Metrics != nil)
	return ln, nil
}

// Serve answers requests on ln until ctx ends, then lets downloads in
// flight finish for up to ShutdownGrace before cutting them. It closes ln.
// Ending because ctx ended is a clean exit (nil).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ln = &limitListener{Listener: ln, lim: s.lim, log: s.log, onRefused: s.cfg.OnRefused}
	hs := &http.Server{
		Handler: s,
		// ReadHeaderTimeout bounds a client that opens a connection and
		// never sends a full request. No read or write timeout: a 4 GiB
		// boot.wim on a slow link legitimately takes minutes; the
		// connection's SendTimeout per write cuts only a stalled one.
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnState:         s.lim.connState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if s.cfg.OnShutdown != nil {
		hs.RegisterOnShutdown(s.cfg.OnShutdown)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		s.log.Warn("http downloads still running at the end of the shutdown grace: cut", "grace", s.cfg.ShutdownGrace)
		hs.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http serve: %w", err)
	}
	return nil
}

// route kinds, for logging and counting.
const (
	routeFile = iota
	routeHealth
	routeMetrics
	routePages
)

// ServeHTTP routes one request. It does not use http.ServeMux: the mux
// cleans paths and redirects "/a/../b", while a boot file path must reach
// bootfs.Clean unchanged so ".." is refused, not silently resolved.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w := &countingWriter{ResponseWriter: rw}
	route := routeFile
	switch r.URL.Path {
	case "/healthz":
		route = routeHealth
	case "/metrics":
		route = routeMetrics
	default:
		if s.cfg.Pages != nil && (r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/api/v1/")) {
			route = routePages
		}
	}
	var refused error
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		refused = errMethod
	case route == routeHealth:
		s.health(w)
	case route == routeMetrics && s.cfg.Metrics != nil:
		s.cfg.Metrics.ServeHTTP(w, r)
	case route == routeMetrics:
		http.NotFound(w, r)
	case route == routePages:
		s.cfg.Pages.ServeHTTP(w, r)
	default:
		refused = s.file(w, r)
	}
	if w.status == 0 {
		w.status = http.StatusOK // handler wrote nothing at all
	}
	if route == routeFile && (w.status == http.StatusOK || w.status == http.StatusPartialContent) && s.cfg.OnFile != nil {
		s.cfg.OnFile(w.bytes)
	}
	if w.watch != nil {
		w.watch.End(outcome(w.status, refused, w.err))
	}
	level := slog.LevelInfo
	if route != routeFile {
		level = slog.LevelDebug // scraped or polled every few seconds: keep the log for boots
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	// peer puts the line under the process's per-client log limiter
	// (internal/logfmt), which also cuts a long file name.
	attrs := []slog.Attr{
		slog.String("peer", r.RemoteAddr), slog.String("method", r.Method), slog.String("file", r.URL.Path),
		slog.Int("status", w.status), slog.Int64("bytes", w.bytes), slog.Duration("dur", time.Since(start)),
	}
	if rg := r.Header.Get("Range"); rg != "" {
		attrs = append(attrs, slog.String("range", rg))
	}
	if refused != nil {
		// A fixed word: the limiter counts lines per client and reason, so
		// an error text naming the file would give every name its own budget.
		reason := reasonOf(refused)
		attrs = append(attrs, slog.String("reason", reason))
		if reason != reasonNotFound && reason != reasonMethod {
			attrs = append(attrs, slog.String("err", refused.Error()))
		}
	}
	s.log.LogAttrs(r.Context(), level, "http request", attrs...)
}

// health answers /healthz: 200 "ok" when every service is serving and
// every check passes, else 503 with one line per service and check.
func (s *Server) health(w http.ResponseWriter) {
	ok, st := s.cfg.Health.state()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if ok {
		io.WriteString(w, "ok\n")
		return
	}
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(st)) {
		state := "serving"
		if st[n] != nil {
			state = st[n].Error()
		}
		fmt.Fprintf(&b, "%s: %s\n", n, state)
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, b.String())
}

// efiTypes are the Content-Types EDK2's HTTP boot driver reads before it
// falls back to the URL's extension (NetworkPkg/HttpBootDxe/
// HttpBootSupport.c, HttpBootCheckImageType): sending them makes a renamed
// image (no .efi in the URL) still boot, and .iso/.img boot as RAM disks.
var efiTypes = map[string]string{
	".efi": "application/efi",
	".iso": "application/vnd.efi-iso",
	".img": "application/vnd.efi-img",
}

// file serves one boot file and returns why it was refused, for the log.
// Bodies of refusals are fixed words: the error names paths.
func (s *Server) file(w *countingWriter, r *http.Request) error {
	if s.cfg.Root == nil {
		http.Error(w, "file not found", http.StatusNotFound)
		return errNoRoot
	}
	// r.URL.Path is already percent-decoded: "%2e%2e" and "%5c" arrive as
	// ".." and '\', which bootfs.Clean refuses or splits like TFTP names.
	f, err := s.cfg.Root.Open(r.URL.Path)
	if err != nil {
		if errors.Is(err, bootfs.ErrNotFound) {
			w.watch = s.watch(r, 0)
		}
		switch {
		case errors.Is(err, bootfs.ErrAccess):
			http.Error(w, "access denied", http.StatusForbidden)
		case errors.Is(err, bootfs.ErrNotFound):
			http.Error(w, "file not found", http.StatusNotFound)
		default: // a generated file that could not be made
			http.Error(w, "read error", http.StatusInternalServerError)
		}
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		http.Error(w, "read error", http.StatusInternalServerError)
		return fmt.Errorf("stat: %w", err)
	}
	w.watch = s.watch(r, fi.Size())
	if ct, ok := efiTypes[strings.ToLower(path.Ext(fi.Name()))]; ok {
		w.Header().Set("Content-Type", ct)
	}
	// ServeContent answers Range (iPXE and EDK2 resume), If-Modified-Since
	// and HEAD, and sends the file with sendfile through countingWriter's
	// ReadFrom.
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
	return nil
}

// Reasons a request is refused, as logged.
const (
	reasonNotFound = "not-found"
	reasonAccess   = "access-denied"
	reasonNoRoot   = "no-folder"
	reasonMethod   = "method-not-allowed"
	reasonRead     = "read-error"
)

var (
	errNoRoot = errors.New("no boot folder configured")
	errMethod = errors.New("method not allowed")
)

// reasonOf names why a request was refused with one of the reason words.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, errMethod):
		return reasonMethod
	case errors.Is(err, errNoRoot):
		return reasonNoRoot
	case errors.Is(err, bootfs.ErrAccess):
		return reasonAccess
	case errors.Is(err, bootfs.ErrNotFound):
		return reasonNotFound
	}
	return reasonRead
}

// countingWriter records the status, the body bytes written and the first
// write error, and reports progress to watch.
type countingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	err    error
	watch  Watch // nil: nobody follows this response
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.progress(int64(n))
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// ReadFrom keeps the kernel's sendfile path of net/http's own writer, which
// io.Copy would otherwise lose behind this wrapper.
func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	switch {
	case ok && w.watch != nil:
		n, err = w.readFromChunks(rf, r)
	case ok:
		n, err = rf.ReadFrom(r)
		w.progress(n)
	default:
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
		w.progress(n)
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
