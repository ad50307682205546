package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	_ "embed"
)

// ClientList is the JSON of /api/v1/clients.
type ClientList struct {
	// Now is the server's clock, for "last seen ... ago".
	Now time.Time `json:"now"`
	// Clients are the most recently active first.
	Clients []Client `json:"clients"`
}

// Handler serves the read-only web page and JSON API:
//
//	GET /                      the live clients page (one self-contained HTML file)
//	GET /api/v1/clients        ClientList
//	GET /api/v1/clients/{id}   ClientDetail; id is a MAC or an IP address
//	GET /api/v1/stream         server-sent events: "reset" with the whole table,
//	                           then "update" with what changed (see update)
//
// Any other path is "not found", so it can be mounted on a mux that serves
// other things at "/{$}" and "/api/v1/".
func (j *Journal) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", j.servePage)
	mux.HandleFunc("GET /api/v1/clients", j.serveClients)
	mux.HandleFunc("GET /api/v1/clients/{id}", j.serveClient)
	mux.HandleFunc("GET /api/v1/stream", j.serveStream)
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "read-only"})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

func (j *Journal) serveClients(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, ClientList{Now: j.now(), Clients: j.Clients()})
}

func (j *Journal) serveClient(w http.ResponseWriter, r *http.Request) {
	c, ok := j.Client(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such client"})
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// Stream timing: a write that does not complete within streamWriteTimeout
// drops the subscriber (a slow reader holds one batch, never the recorder);
// a comment line keeps idle connections and proxies awake.
const (
	streamWriteTimeout = 5 * time.Second
	streamKeepAlive    = 15 * time.Second
)

// CloseStreams ends every event stream and refuses new ones. http.Server's
// Shutdown waits for connections to go idle, which a stream never does:
// register this with RegisterOnShutdown.
func (j *Journal) CloseStreams() { j.closeOnce.Do(func() { close(j.closed) }) }

func (j *Journal) serveStream(w http.ResponseWriter, r *http.Request) {
	select {
	case <-j.closed:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "shutting down"})
		return
	default:
	}
	select {
	case j.streams <- struct{}{}:
		defer func() { <-j.streams }()
	default:
		w.Header().Set("Retry-After", "10")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "too many streams"})
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	var buf bytes.Buffer
	write := func() error {
		if err := rc.SetWriteDeadline(time.Now().Add(j.writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		buf.Reset()
		return rc.Flush()
	}
	buf.WriteString("retry: 2000\n")
	var ver uint64
	sent := false
	tick := time.NewTicker(j.cfg.StreamInterval)
	defer tick.Stop()
	idle := time.Now()
	for {
		u := j.changes(ver)
		if sent && u.Version == ver {
			// Nothing recorded since the last message. changes(0) is a
			// reset, and a journal that has recorded nothing stays at
			// version 0: without this, every tick would resend its
			// empty table.
			u = update{Version: ver}
		}
		sent = true
		if u.Reset || len(u.Clients) > 0 || len(u.Removed) > 0 {
			name := "update"
			if u.Reset {
				name = "reset"
			}
			data, err := json.Marshal(u)
			if err != nil {
				return
			}
			fmt.Fprintf(&buf, "event: %s\ndata: %s\n\n", name, data)
		} else if time.Since(idle) >= streamKeepAlive {
			buf.WriteString(": keep-alive\n\n")
		}
		ver = u.Version
		if buf.Len() > 0 {
			if write() != nil {
				return
			}
			idle = time.Now()
		}
		select {
		case <-r.Context().Done():
			return
		case <-j.closed:
			return
		case <-tick.C:
		}
	}
}

// indexHTML is the whole web page: markup, style and script, no external
// fetches.
//
//go:embed web/index.html
var indexHTML []byte

// page is the web page with its Content-Security-Policy, which allows only
// the page's own inline style and script (by hash) and requests to itself.
type page struct {
	body []byte
	csp  string
}

func newPage() page {
	csp := "default-src 'none'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	for _, tag := range []string{"style", "script"} {
		open, end := []byte("<"+tag+">"), []byte("</"+tag+">")
		_, rest, ok := bytes.Cut(indexHTML, open)
		if !ok {
			continue
		}
		body, _, _ := bytes.Cut(rest, end)
		sum := sha256.Sum256(body)
		csp += fmt.Sprintf("; %s-src 'sha256-%s'", tag, base64.StdEncoding.EncodeToString(sum[:]))
	}
	return page{body: indexHTML, csp: csp}
}

func (j *Journal) servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", j.page.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(j.page.body)
}
