package tftpd

import (
	"strings"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/watchtest"
)

// TestWatch follows transfers of every outcome through OnStart: the start
// values, progress up to the last byte, and exactly one End with the
// journal's result word.
func TestWatch(t *testing.T) {
	ws := &watchtest.Log[Start]{}
	ts := serveFile(t, Config{OnStart: func(s Start) Watch { return ws.Start(s) }, RetransmitTimeout: 50 * time.Millisecond, Retries: 1, MaxTransfers: 2},
		strings.Repeat("w", 3000))

	check := func(name string, w *watchtest.Watch[Start], size int64, end string, bytes int64) {
		t.Helper()
		seen := w.Seen()
		if w.Start.File != name || w.Start.Size != size || !w.Start.Peer.Addr().Is4() || w.Start.Peer.Port() == 0 {
			t.Errorf("%s: start %+v, want size %d from an IPv4 peer", name, w.Start, size)
		}
		if len(seen.Ends) != 1 || !strings.HasPrefix(seen.Ends[0], end) {
			t.Errorf("%s: ends %q, want one %q", name, seen.Ends, end)
		}
		if seen.Bytes != bytes {
			t.Errorf("%s: last progress %d bytes, want %d", name, seen.Bytes, bytes)
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
	w := ws.Last(t)
	check("f", w, 3000, "ok: ", 3000)
	if w.Start.BlockSize != 1024 || w.Start.WindowSize != 2 || w.Seen().Progress != 2 {
		t.Errorf("start %+v, %d progress calls; want blksize 1024, windowsize 2, 2 calls", w.Start, w.Seen().Progress)
	}

	rc = newRawClient(t, ts.addr)
	rc.request(opRRQ, "nope.efi", "octet")
	rc.mustRecv()
	ts.next(t)
	check("nope.efi", ws.Last(t), 0, "not-found: ", 0)

	rc = newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet", "tsize", "0")
	rc.mustRecv()
	rc.send(appendError(nil, errCodeOption, "User aborted the transfer"))
	ts.next(t)
	check("f", ws.Last(t), 3000, "aborted: tsize probe", 0)

	rc = newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet")
	rc.mustRecv()
	rc.ack(1)
	rc.mustRecv()
	rc.send(appendError(nil, 0, "stop"))
	ts.next(t)
	check("f", ws.Last(t), 3000, `aborted: client error 0: "stop"`, 512)

	rc = newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet")
	rc.mustRecv() // and never an ACK
	ts.next(t)
	check("f", ws.Last(t), 3000, "timeout: ", 0)

	// Busy: two transfers whose clients answered hold both slots.
	a, b := newRawClient(t, ts.addr), newRawClient(t, ts.addr)
	for _, x := range []*rawClient{a, b} {
		x.request(opRRQ, "f", "octet")
		x.mustRecv()
		x.ack(1)
		x.mustRecv()
	}
	c := newRawClient(t, ts.addr)
	c.request(opRRQ, "f", "octet")
	wantError(t, c.mustRecv(), errCodeUndefined, "server busy")
	for range 3 {
		ts.next(t)
	}
	busy := 0
	all := ws.All()
	for _, w := range all[len(all)-3:] {
		if ends := w.Seen().Ends; len(ends) == 1 && ends[0] == "error: server busy" {
			busy++
		}
	}
	if busy != 1 {
		t.Errorf("%d transfers ended as busy, want 1", busy)
	}
}
