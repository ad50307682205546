package journal

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// serveAPI serves j's handler on loopback until the end of the test.
func serveAPI(t *testing.T, j *Journal) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(j.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// openStream opens the event stream of the API at url; its body is closed
// at the end of the test, before the server.
func openStream(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/stream")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestAPI(t *testing.T) {
	j, c := newTest(t, Config{})
	boot(j, c, mac(1), "10.0.0.1")
	c.Add(time.Second)
	j.Discover(Discover{MAC: mac(2), Port: PortDHCP, Arch: 7, Vendor: pxeVendor})
	srv := serveAPI(t, j)

	resp, body := get(t, srv.URL+"/api/v1/clients")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	l, err := DecodeClients(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Clients) != 2 || l.Clients[0].ID != mac(2).String() || l.Clients[1].State != StateBooted || !l.Now.Equal(c.Now()) {
		t.Fatalf("%s", body)
	}
	for _, field := range []string{`"id":`, `"mac":`, `"vendor":"QEMU/KVM"`, `"ip":"10.0.0.1"`, `"arch":0`, `"arch_name":"x86 BIOS"`,
		`"class":"PXEClient"`, `"ipxe":true`, `"state":"booted"`, `"verdict":"Booted in`, `"took_ms":3000`, `"first_seen":`,
		`"last_seen":`, `"events":7`, `"version":`} {
		if !strings.Contains(string(body), field) {
			t.Errorf("no %s in %s", field, body)
		}
	}

	for _, id := range []string{mac(1).String(), "10.0.0.1"} {
		resp, body = get(t, srv.URL+"/api/v1/clients/"+id)
		var d ClientDetail
		if err := json.Unmarshal(body, &d); err != nil || resp.StatusCode != 200 || d.ID != mac(1).String() || len(d.Timeline) != 7 {
			t.Fatalf("%s: %d %v %s", id, resp.StatusCode, err, body)
		}
		if d.Timeline[0].Kind != KindDiscover || d.Timeline[0].Arch == nil || d.Timeline[3].Proto != "tftp" {
			t.Fatalf("timeline %s", body)
		}
	}
	if resp, body = get(t, srv.URL+"/api/v1/clients/52:54:00:ff:ff:ff"); resp.StatusCode != 404 || !strings.Contains(string(body), "no such client") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for path, code := range map[string]int{"/api/v1/nothing": 404, "/undionly.kpxe": 404, "/api/v2/clients": 404} {
		if resp, _ = get(t, srv.URL+path); resp.StatusCode != code {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, code)
		}
	}
	resp, err = http.Post(srv.URL+"/api/v1/clients", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
}

// TestPage: the page is one self-contained file whose inline style and
// script are the only ones the CSP allows, and it fetches nothing outside.
func TestPage(t *testing.T) {
	j, _ := newTest(t, Config{})
	srv := serveAPI(t, j)
	resp, body := get(t, srv.URL+"/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, tag := range []string{"style", "script"} {
		m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllSubmatch(body, -1)
		if len(m) != 1 {
			t.Fatalf("%d <%s> elements", len(m), tag)
		}
		sum := sha256.Sum256(m[0][1])
		if want := fmt.Sprintf("%s-src 'sha256-%s'", tag, base64.StdEncoding.EncodeToString(sum[:])); !strings.Contains(csp, want) {
			t.Fatalf("CSP %q lacks %q", csp, want)
		}
	}
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//|https?://|@import|url\(`).Find(body); m != nil {
		t.Fatalf("the page refers outside: %q", m)
	}
	if len(body) > 24<<10 {
		t.Fatalf("page is %d bytes", len(body))
	}
	if strings.Contains(string(body), "innerHTML") {
		t.Fatal("the page uses innerHTML: LAN data must go through textContent")
	}
}

type sse struct {
	name string
	u    update
}

// readEvents sends the stream's events to a channel until the body ends.
func readEvents(t *testing.T, body io.Reader) <-chan sse {
	ch := make(chan sse, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		sc.Buffer(nil, 16<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = line[7:]
			case strings.HasPrefix(line, "data: "):
				var u update
				if err := json.Unmarshal([]byte(line[6:]), &u); err != nil {
					t.Errorf("bad data %q: %v", line, err)
					return
				}
				ch <- sse{name, u}
			}
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan sse) sse {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event in 10 s")
	}
	return sse{}
}

func TestStream(t *testing.T) {
	j, c := newTest(t, Config{Clients: 2, StreamInterval: 20 * time.Millisecond})
	j.Discover(Discover{MAC: mac(1), Port: PortDHCP, Vendor: biosVendor, Iface: "eth0"})
	srv := serveAPI(t, j)
	resp := openStream(t, srv.URL)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	ch := readEvents(t, resp.Body)
	e := next(t, ch)
	if e.name != "reset" || !e.u.Reset || len(e.u.Clients) != 1 || e.u.Clients[0].ID != mac(1).String() {
		t.Fatalf("first event %+v", e)
	}
	if !e.u.Now.Equal(c.Now()) {
		t.Fatalf("stream's now %v, want the server's clock %v", e.u.Now, c.Now())
	}
	j.Reply(Reply{MAC: mac(1), Port: PortDHCP, File: "undionly.kpxe"})
	e = next(t, ch)
	if e.name != "update" || len(e.u.Clients) != 1 || e.u.Clients[0].State != StateInProgress || !strings.Contains(e.u.Clients[0].Verdict, "Offered undionly.kpxe") {
		t.Fatalf("update %+v", e)
	}
	// Time alone changes the verdict: the stream says so.
	c.Add(20 * time.Second)
	e = next(t, ch)
	if len(e.u.Clients) != 1 || e.u.Clients[0].State != StateNoRequest {
		t.Fatalf("after the grace %+v", e)
	}
	// Two new clients push the first out: it is reported removed.
	j.Discover(Discover{MAC: mac(2), Port: PortDHCP, Vendor: biosVendor, Iface: "eth0"})
	j.Discover(Discover{MAC: mac(3), Port: PortDHCP, Vendor: biosVendor, Iface: "eth0"})
	removed := false
	for !removed {
		e = next(t, ch)
		removed = strings.Contains(strings.Join(e.u.Removed, " "), mac(1).String())
	}
	// A running transfer's progress streams without any new event.
	tr := j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer("10.0.0.3"), MAC: mac(3), File: "undionly.kpxe", Size: 1000})
	for pct := 0.0; pct < 50; {
		tr.Progress(500, 0)
		e = next(t, ch)
		for _, cl := range e.u.Clients {
			if cl.ID == mac(3).String() && cl.Transfer != nil {
				pct = cl.Transfer.Percent
			}
		}
	}
}

// TestStreamIdleEmpty: a stream on a journal that has recorded nothing yet
// sends the (empty) table once, then nothing until a client appears, not a
// new reset every interval.
func TestStreamIdleEmpty(t *testing.T) {
	j, _ := newTest(t, Config{StreamInterval: 10 * time.Millisecond})
	srv := serveAPI(t, j)
	ch := readEvents(t, openStream(t, srv.URL).Body)
	if e := next(t, ch); e.name != "reset" || len(e.u.Clients) != 0 {
		t.Fatalf("first event %+v", e)
	}
	select {
	case e := <-ch:
		t.Fatalf("idle empty journal sent %s %+v", e.name, e.u)
	case <-time.After(300 * time.Millisecond):
	}
	j.Discover(Discover{MAC: mac(1), Port: PortDHCP, Vendor: biosVendor, Iface: "eth0"})
	if e := next(t, ch); len(e.u.Clients) != 1 || e.u.Clients[0].ID != mac(1).String() {
		t.Fatalf("after a discover %+v", e)
	}
}

func TestStreamLimit(t *testing.T) {
	j, _ := newTest(t, Config{Streams: 2})
	srv := serveAPI(t, j)
	var open []*http.Response
	for range 2 {
		resp, err := http.Get(srv.URL + "/api/v1/stream")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", err, resp)
		}
		next(t, readEvents(t, resp.Body))
		open = append(open, resp)
	}
	resp, body := get(t, srv.URL+"/api/v1/stream")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "too many streams") {
		t.Fatalf("third stream: %d %s", resp.StatusCode, body)
	}
	open[0].Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(srv.URL + "/api/v1/stream")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed stream's slot was not freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	open[1].Body.Close()
}

// TestSlowReaderDropped: a subscriber that never reads is dropped once a
// write cannot complete, while recording goes on (a recorder blocked by it
// would hang this test).
func TestSlowReaderDropped(t *testing.T) {
	j, c := newTest(t, Config{Clients: 1000, Streams: 1, StreamInterval: 5 * time.Millisecond})
	j.writeTimeout = 200 * time.Millisecond
	srv := serveAPI(t, j)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	fmt.Fprintf(conn, "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n")
	// Never read; keep every client changing so each tick writes a lot.
	for i := range 1000 {
		j.Discover(Discover{MAC: mac(i), Port: PortDHCP, Vendor: biosVendor, Iface: "eth0"})
		c.Add(time.Second)
	}
	deadline := time.Now().Add(30 * time.Second)
	for round := 0; ; round++ {
		for i := range 1000 {
			j.Reply(Reply{MAC: mac(i), Port: PortDHCP, File: fmt.Sprint("file-", round, "-", strings.Repeat("x", 100))})
		}
		if len(j.streams) == 0 && round > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stalled subscriber was never dropped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Its slot is free for another subscriber.
	if resp := openStream(t, srv.URL); resp.StatusCode != 200 {
		t.Fatalf("new subscriber: %d", resp.StatusCode)
	}
}

func TestCloseStreams(t *testing.T) {
	j, _ := newTest(t, Config{})
	srv := serveAPI(t, j)
	resp := openStream(t, srv.URL)
	ch := readEvents(t, resp.Body)
	next(t, ch)
	j.CloseStreams()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("an event after CloseStreams")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end")
	}
	if resp, _ := get(t, srv.URL+"/api/v1/stream"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("new stream after close: %d", resp.StatusCode)
	}
	j.CloseStreams() // twice is fine
}
