package journal

import (
	"net"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// rec is the stored form of an Event: about a third of its size, since up to
// Config.TotalEvents of them live at once. Fields are shared between kinds.
type rec struct {
	seq   uint64
	t     int64 // unix nanoseconds
	last  int64 // latest repeat, 0 when count is 1
	count uint32
	kind  uint8
	flags uint8
	port  uint16
	arch  uint16
	blk   uint16
	win   uint16
	img   uint8 // transfer: the delivered file's imgX code; its machine is in arch
	retr  uint32
	a1    netip.Addr // discover: relay; reply, conflict: server; join: address; transfer: peer
	a2    netip.Addr // discover: ciaddr
	s1    string     // discover: vendor; reply, transfer: file; ignored: reason; join: via; conflict: what
	s2    string     // discover: uuid; transfer: detail; conflict: file
	s3    string     // transfer: closest
	size  int64
	bytes int64
	dur   int64     // transfer: nanoseconds
	tr    *Transfer // running transfer: its live figures
}

const (
	flagIPXE    = 1 << iota // discover from iPXE
	flagHasArch             // discover carries an architecture
	flagHTTP                // transfer over HTTP (else TFTP)
	flagRunning             // transfer not ended
)

var kinds = [...]Kind{KindDiscover, KindReply, KindIgnored, KindTransfer, KindJoin, KindConflict}

const (
	kDiscover = iota
	kReply
	kIgnored
	kTransfer
	kJoin
	kConflict
)

var results = [...]Result{"", ResultOK, ResultNotFound, ResultAborted, ResultTimeout, ResultError}

func resultIndex(r Result) uint8 {
	for i, x := range results {
		if x == r && i > 0 {
			return uint8(i)
		}
	}
	return uint8(len(results) - 1) // unknown results count as errors
}

// deque holds a journey's records oldest first; dropping the oldest is O(1)
// and the buffer is compacted instead of grown when its front is free.
type deque struct {
	buf  []rec
	head int
}

func (d *deque) len() int        { return len(d.buf) - d.head }
func (d *deque) at(i int) *rec   { return &d.buf[d.head+i] }
func (d *deque) newest() *rec    { return &d.buf[len(d.buf)-1] }
func (d *deque) all() []rec      { return d.buf[d.head:] }
func (d *deque) push(r rec) *rec { d.compact(); d.buf = append(d.buf, r); return d.newest() }

func (d *deque) compact() {
	if len(d.buf) < cap(d.buf) || d.head == 0 {
		return
	}
	n := copy(d.buf, d.buf[d.head:])
	clear(d.buf[n:])
	d.buf, d.head = d.buf[:n], 0
}

// pop drops the oldest record and returns it.
func (d *deque) pop() rec {
	r := d.buf[d.head]
	d.buf[d.head] = rec{}
	d.head++
	if d.head == len(d.buf) {
		d.buf, d.head = d.buf[:0], 0
	}
	return r
}

// journey is one client's stored history. All fields are guarded by the
// Journal's mutex.
type journey struct {
	mac        string // MAC bytes as a string; empty for a journey keyed by IP
	ip         netip.Addr
	evs        deque
	first      int64
	lastSeen   int64
	ver        uint64 // Journal.ver at the last change
	prev, next *journey
	active     []*Transfer
	verdict    Verdict
	stale      bool      // verdict needs recomputing
	seg        segmenter // attempt boundaries so far
	attempt    uint64    // seq of the latest attempt's first record
	counted    uint64    // attempt whose outcome was counted
}

func (jy *journey) id() string {
	if jy.mac != "" {
		return net.HardwareAddr(jy.mac).String()
	}
	return jy.ip.String()
}

// String limits. Names and URLs get the most room; everything is cut at a
// rune boundary and control characters are replaced, because the text ends
// up in a terminal (pxeproxy clients) and in logs.
const (
	maxVendor = 64
	maxUUID   = 40
	maxFile   = 160
	maxReason = 64
	maxDetail = 96
	maxIface  = 32
)

// clean cuts s to at most n bytes at a rune boundary and replaces invalid
// UTF-8 and non-printable runes with '?'.
func clean(s string, n int) string {
	ok := len(s) <= n
	for i := 0; ok && i < len(s); i++ {
		ok = s[i] >= 0x20 && s[i] < 0x7f
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// collapsible reports whether b repeats a (same kind and content) and can be
// counted on a instead of stored.
func collapsible(a, b *rec) bool {
	if a.kind != b.kind || a.kind == kTransfer {
		return false
	}
	return a.flags == b.flags && a.port == b.port && a.arch == b.arch && a.a1 == b.a1 && a.a2 == b.a2 &&
		a.s1 == b.s1 && a.s2 == b.s2 && a.s3 == b.s3
}

// collapseWindow is how long a repeated event is counted on the first one,
// and collapseDepth how many recent events (none of them a transfer) are
// compared: a firmware's DISCOVER and our reply alternate.
const (
	collapseWindow = time.Minute
	collapseDepth  = 4
)

// event converts r to its exported form, filling in a running transfer's
// live figures. Callers hold the Journal's mutex.
func (r *rec) event(now time.Time) Event {
	e := Event{Seq: r.seq, Time: time.Unix(0, r.t), Kind: kinds[r.kind]}
	if r.count > 1 {
		e.Count = int(r.count)
		e.Last = time.Unix(0, r.last)
	}
	switch r.kind {
	case kDiscover:
		e.Port = int(r.port)
		if r.flags&flagHasArch != 0 {
			a := r.arch
			e.Arch = &a
		}
		e.Vendor, e.UUID, e.Relay, e.IP = r.s1, r.s2, r.a1, r.a2
		e.Class = vendorClass(r.s1)
		e.IPXE = r.flags&flagIPXE != 0
	case kReply:
		e.Port, e.File, e.Server = int(r.port), r.s1, r.a1
	case kIgnored:
		e.Port, e.Reason = int(r.port), r.s1
	case kJoin:
		e.IP, e.Via = r.a1, r.s1
	case kConflict:
		e.Server, e.What, e.File = r.a1, r.s1, r.s2
	case kTransfer:
		e.Proto = "tftp"
		if r.flags&flagHTTP != 0 {
			e.Proto = "http"
		}
		e.Peer = netip.AddrPortFrom(r.a1, r.port)
		e.File, e.Detail, e.Closest = r.s1, r.s2, r.s3
		e.Size, e.Bytes = r.size, r.bytes
		e.BlockSize, e.WindowSize, e.Retransmits = int(r.blk), int(r.win), int(r.retr)
		e.Result = results[r.flags>>4]
		e.Millis = r.dur / int64(time.Millisecond)
		e.Image = imageOf(r.img, r.arch)
		if r.flags&flagRunning != 0 {
			e.Running = true
			e.Moved = time.Unix(0, r.t)
			if t := r.tr; t != nil {
				e.Bytes = t.bytes.Load()
				e.Retransmits = int(t.retrans.Load())
				e.Moved = time.Unix(0, t.moved)
			}
			e.Millis = (now.UnixNano() - r.t) / int64(time.Millisecond)
		}
	}
	return e
}

// vendorClass is the class named by the start of a vendor class string.
func vendorClass(v string) string {
	for _, c := range []string{"PXEClient", "HTTPClient"} {
		if strings.HasPrefix(v, c) {
			return c
		}
	}
	return ""
}
