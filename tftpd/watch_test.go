package tftpd

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// recWatch records what a Watch is told.
type recWatch struct {
	start    Start
	mu       sync.Mutex
	progress int   // calls
	bytes    int64 // last
	retrans  int
	ends     []string
}

func (w *recWatch) Progress(bytes int64, retransmits int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.progress++
	w.bytes, w.retrans = bytes, retransmits
}

func (w *recWatch) End(result, detail string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ends = append(w.ends, result+": "+detail)
}

// watches hands out one recWatch per started transfer.
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

// last returns the latest watch once its transfer has been reported done.
func (ws *watches) last(t *testing.T) *recWatch {
	t.Helper()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if len(ws.all) == 0 {
		t.Fatal("OnStart never called")
	}
	return ws.all[len(ws.all)-1]
}

// TestWatch follows transfers of every outcome through OnStart: the start
// values, progress up to the last byte, and exactly one End with the
// journal's result word.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", strings.Repeat("w", 3000))
	ws := &watches{}
	ts := startServer(t, Config{OnStart: ws.start, RetransmitTimeout: 50 * time.Millisecond, Retries: 1, MaxTransfers: 2}, dir)

	check := func(name string, w *recWatch, size int64, end string, bytes int64) {
		t.Helper()
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.start.File != name || w.start.Size != size || !w.start.Peer.Addr().Is4() || w.start.Peer.Port() == 0 {
			t.Errorf("%s: start %+v, want size %d from an IPv4 peer", name, w.start, size)
		}
		if len(w.ends) != 1 || !strings.HasPrefix(w.ends[0], end) {
			t.Errorf("%s: ends %q, want one %q", name, w.ends, end)
		}
		if w.bytes != bytes {
			t.Errorf("%s: last progress %d bytes, want %d", name, w.bytes, bytes)
		}
	}

	// Complete, with windowsize 2 and blksize 1024: progress per window.
	rc := newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet", "blksize", "1024", "windowsize", "2")
	rc.mustRecv()
	rc.ack(0)
	rc.mustRecv()
	rc.mustRecv()
	rc.ack(2)
	rc.mustRecv()
	rc.ack(3)
	ts.next(t)
	w := ws.last(t)
	check("f", w, 3000, "ok: ", 3000)
	if w.start.BlockSize != 1024 || w.start.WindowSize != 2 || w.progress != 2 {
		t.Errorf("start %+v, %d progress calls; want blksize 1024, windowsize 2, 2 calls", w.start, w.progress)
	}

	rc = newRawClient(t, ts.addr)
	rc.request(opRRQ, "nope.efi", "octet")
	rc.mustRecv()
	ts.next(t)
	check("nope.efi", ws.last(t), 0, "not-found: ", 0)

	rc = newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet", "tsize", "0")
	rc.mustRecv()
	rc.send(appendError(nil, errCodeOption, "User aborted the transfer"))
	ts.next(t)
	check("f", ws.last(t), 3000, "aborted: tsize probe", 0)

	rc = newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet")
	rc.mustRecv()
	rc.ack(1)
	rc.mustRecv()
	rc.send(appendError(nil, 0, "stop"))
	ts.next(t)
	check("f", ws.last(t), 3000, `aborted: client error 0: "stop"`, 512)

	rc = newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet")
	rc.mustRecv() // and never an ACK
	ts.next(t)
	check("f", ws.last(t), 3000, "timeout: ", 0)

	// Busy: two transfers hold both slots.
	a, b := newRawClient(t, ts.addr), newRawClient(t, ts.addr)
	a.request(opRRQ, "f", "octet")
	a.mustRecv()
	b.request(opRRQ, "f", "octet")
	b.mustRecv()
	c := newRawClient(t, ts.addr)
	c.request(opRRQ, "f", "octet")
	wantError(t, c.mustRecv(), errCodeUndefined, "server busy")
	for range 3 {
		ts.next(t)
	}
	busy := 0
	ws.mu.Lock()
	for _, w := range ws.all[len(ws.all)-3:] {
		w.mu.Lock()
		if len(w.ends) == 1 && w.ends[0] == "error: server busy" {
			busy++
		}
		w.mu.Unlock()
	}
	ws.mu.Unlock()
	if busy != 1 {
		t.Errorf("%d transfers ended as busy, want 1", busy)
	}
}
