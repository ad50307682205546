package journal

import (
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Journal. Zero values mean the documented defaults.
type Config struct {
	// Clients is how many journeys are kept; past it the least recently
	// active one is forgotten. Default 1000.
	Clients int
	// Events is how many events one journey keeps, its newest. Default 200.
	Events int
	// TotalEvents bounds the events of all journeys together; past it the
	// journeys holding more than their share (TotalEvents/Clients) lose their
	// oldest events first. Default 32 per client.
	TotalEvents int
	// Streams is how many event-stream subscribers may be connected at once.
	// Default 16.
	Streams int
	// StreamInterval is how often the event stream sends what changed.
	// Default 250ms.
	StreamInterval time.Duration
	// Names lists the files the boot server can serve, as slash-separated
	// paths relative to its root. It is called at most every 10 seconds, to
	// name the closest existing file when a client asks for one that does
	// not exist. Nil: no suggestion.
	Names func() []string
	// Image says what a file of the boot server is (its PE/COFF headers),
	// for the verdict on a UEFI client that never came back after it. It
	// is called when a transfer of name ends well, outside the journal's
	// lock; ok is false when the file cannot be read. Nil: not known.
	Image func(name string) (img Image, ok bool)
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

// Bounds on running transfers tracked, in all and per journey: the TFTP and
// HTTP servers have their own caps, these only keep a broken caller from
// growing the journal.
const (
	maxActive           = 4096
	maxActivePerJourney = 16
)

// Journal records boot journeys. Its methods are safe for concurrent use, and
// the recording methods are no-ops on a nil *Journal so a service can be
// wired without one.
type Journal struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	page page

	ouiOnce sync.Once
	oui     *ouiTable

	mu        sync.Mutex
	byMAC     map[string]*journey
	byIP      map[netip.Addr]*journey
	head      *journey // most recently active
	tail      *journey
	n         int    // journeys
	total     int    // events in all journeys
	seq       uint64 // last event sequence number
	ver       uint64 // last change version
	removed   []removal
	removedLo uint64 // versions at or below this may have lost removals
	lim       *limiter
	active    int
	boots     map[State]uint64
	dropped   uint64 // new journeys refused by the rate limit
	droppedAt time.Time
	refreshed time.Time
	interned  map[string]string

	names        namesCache
	image        func(string) (Image, bool)
	streams      chan struct{} // one token per connected stream
	closed       chan struct{} // closed by CloseStreams
	closeOnce    sync.Once
	writeTimeout time.Duration // a stream write slower than this drops the subscriber
}

type removal struct {
	id  string
	ver uint64
}

// New returns an empty Journal.
func New(cfg Config, log *slog.Logger) *Journal {
	if cfg.Clients <= 0 {
		cfg.Clients = 1000
	}
	if cfg.Events <= 0 {
		cfg.Events = 200
	}
	if cfg.TotalEvents <= 0 {
		cfg.TotalEvents = 32 * cfg.Clients
	}
	if cfg.Streams <= 0 {
		cfg.Streams = 16
	}
	if cfg.StreamInterval <= 0 {
		cfg.StreamInterval = 250 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	j := &Journal{
		cfg:      cfg,
		log:      log,
		now:      cfg.Now,
		byMAC:    map[string]*journey{},
		byIP:     map[netip.Addr]*journey{},
		lim:      newLimiter(cfg.Clients),
		boots:    map[State]uint64{},
		interned: map[string]string{},
		streams:  make(chan struct{}, cfg.Streams),
		closed:   make(chan struct{}),

		writeTimeout: streamWriteTimeout,
	}
	j.names.fetch = cfg.Names
	j.image = cfg.Image
	j.page = newPage()
	return j
}

// Transfer follows one running download. Progress and End may be called on
// a nil *Transfer (the journal was full or not wired): they do nothing.
type Transfer struct {
	j       *Journal
	bytes   atomic.Int64
	retrans atomic.Int64
	file    string
	// Guarded by j.mu.
	jy    *journey // nil once ended or forgotten
	seq   uint64
	seen  int64 // bytes when last sampled
	moved int64 // when bytes last changed, unix nanoseconds
}

// Progress records how far the transfer is: bytes sent and acknowledged so
// far and retransmissions so far. It is two atomic stores, cheap enough to
// call for every block.
func (t *Transfer) Progress(bytes int64, retransmits int) {
	if t == nil {
		return
	}
	t.bytes.Store(bytes)
	t.retrans.Store(int64(retransmits))
}

// End records how the transfer ended, with a short detail (the client's
// error message, the cause); the byte count is the last Progress.
func (t *Transfer) End(res Result, detail string) {
	if t == nil {
		return
	}
	j := t.j
	var closest string
	var img Image
	hasImg := false
	switch {
	case res == ResultNotFound:
		closest = j.closest(t.file)
	case res == ResultOK && j.image != nil:
		img, hasImg = j.image(t.file)
	}
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	jy := t.jy
	if jy == nil {
		return
	}
	t.jy = nil
	j.detach(jy, t)
	if r := jy.find(t.seq); r != nil {
		r.flags = r.flags&^flagRunning | resultIndex(res)<<4
		r.bytes = t.bytes.Load()
		r.retr = uint32(min(t.retrans.Load(), 1<<31))
		r.dur = now.UnixNano() - r.t
		r.s2 = j.intern(clean(detail, maxDetail))
		r.s3 = j.intern(closest)
		if hasImg {
			r.img, r.arch = img.code(), img.Machine
		}
		r.tr = nil
	}
	j.touch(jy, now)
}

func (j *Journal) detach(jy *journey, t *Transfer) {
	if i := slices.Index(jy.active, t); i >= 0 {
		jy.active = slices.Delete(jy.active, i, i+1)
		j.active--
	}
}

// find returns the record with sequence number seq, or nil when it has been
// dropped.
func (jy *journey) find(seq uint64) *rec {
	for i := jy.evs.len() - 1; i >= 0; i-- {
		if r := jy.evs.at(i); r.seq == seq {
			return r
		} else if r.seq < seq {
			break
		}
	}
	return nil
}

// Discover records a boot request. A MAC not seen before starts a journey,
// within the rate limit of its source (Relay, else Iface).
func (j *Journal) Discover(d Discover) {
	if j == nil || !okMAC(d.MAC) {
		return
	}
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	mac := string(d.MAC)
	jy := j.byMAC[mac]
	if jy == nil {
		src := "if " + clean(d.Iface, maxIface)
		if d.Relay.IsValid() {
			src = "relay " + d.Relay.String()
		}
		if jy = j.create(mac, netip.Addr{}, src, now); jy == nil {
			return
		}
	}
	r := rec{kind: kDiscover, flags: flagHasArch, port: uint16(d.Port), arch: d.Arch,
		a1: d.Relay.Unmap(), a2: d.ClientIP.Unmap(),
		s1: j.intern(clean(d.Vendor, maxVendor)), s2: j.intern(clean(d.UUID, maxUUID))}
	if d.IPXE {
		r.flags |= flagIPXE
	}
	j.add(jy, r, now)
	if d.Port == PortPXE {
		j.join(mac, d.ClientIP, ViaPXERequest, now)
	}
}

// Reply records our answer to a client's request, or why none was sent.
// It never starts a journey.
func (j *Journal) Reply(rp Reply) {
	if j == nil || !okMAC(rp.MAC) {
		return
	}
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	jy := j.byMAC[string(rp.MAC)]
	if jy == nil {
		return
	}
	r := rec{kind: kReply, port: uint16(rp.Port), a1: rp.Server.Unmap(), s1: j.intern(clean(rp.File, maxFile))}
	if rp.Reason != "" {
		r = rec{kind: kIgnored, port: uint16(rp.Port), s1: j.intern(clean(rp.Reason, maxReason))}
	}
	j.add(jy, r, now)
}

// Conflict records another server's answer to a client's boot request. It
// never starts a journey.
func (j *Journal) Conflict(c Conflict) {
	if j == nil || !okMAC(c.MAC) {
		return
	}
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	if jy := j.byMAC[string(c.MAC)]; jy != nil {
		j.add(jy, rec{kind: kConflict, a1: c.Server.Unmap(),
			s1: j.intern(clean(c.What, maxReason)), s2: j.intern(clean(c.File, maxFile))}, now)
	}
}

// Join records that the client with this MAC has this IP address, learned
// passively (via is one of the Via constants). A journey keyed by that
// address is merged into the MAC's; it never starts a journey.
func (j *Journal) Join(mac net.HardwareAddr, ip netip.Addr, via string) {
	if j == nil || !okMAC(mac) {
		return
	}
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.join(string(mac), ip, clean(via, maxReason), now)
}

// StartTransfer records a download as it begins and returns its handle, or
// nil when it cannot be tracked (no journey and the rate limit is reached,
// or too many transfers at once); Progress and End accept nil. A peer
// address no journey holds starts one keyed by MAC when given, else by
// the address.
func (j *Journal) StartTransfer(ts TransferStart) *Transfer {
	if j == nil {
		return nil
	}
	addr := ts.Peer.Addr().Unmap()
	if !addr.IsValid() {
		return nil
	}
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	var jy *journey
	mac := ""
	if okMAC(ts.MAC) {
		mac = string(ts.MAC)
		j.join(mac, addr, ViaNeighbour, now)
		jy = j.byMAC[mac]
	}
	if jy == nil {
		jy = j.byIP[addr]
	}
	if jy == nil {
		if jy = j.create(mac, addr, "peer "+netPrefix(addr), now); jy == nil {
			return nil
		}
	}
	if j.active >= maxActive || len(jy.active) >= maxActivePerJourney {
		return nil
	}
	t := &Transfer{j: j, jy: jy, file: clean(ts.File, maxFile), moved: now.UnixNano()}
	r := rec{kind: kTransfer, flags: flagRunning, port: ts.Peer.Port(), a1: addr,
		s1: j.intern(t.file), size: max(0, ts.Size),
		blk: uint16(min(max(0, ts.BlockSize), 65535)), win: uint16(min(max(0, ts.WindowSize), 65535)), tr: t}
	if ts.Proto == "http" {
		r.flags |= flagHTTP
	}
	t.seq = j.add(jy, r, now).seq
	jy.active = append(jy.active, t)
	j.active++
	return t
}

func okMAC(mac net.HardwareAddr) bool { return len(mac) > 0 && len(mac) <= 20 }

// netPrefix groups transfer peers for the rate limit: an IPv4 /24 or an IPv6
// /64, so forged source addresses do not each get a bucket of their own.
func netPrefix(a netip.Addr) string {
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

// join links mac and ip (see Join). Callers hold j.mu.
func (j *Journal) join(mac string, ip netip.Addr, via string, now time.Time) {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() || ip == netip.IPv4Unspecified() ||
		ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return
	}
	m, o := j.byMAC[mac], j.byIP[ip]
	switch {
	case m == nil && o == nil:
		return
	case m == nil && o.mac != "":
		// The address moved to a MAC we have no journey for.
		delete(j.byIP, ip)
		o.ip = netip.Addr{}
		j.changed(o)
		return
	case m == nil:
		// A journey known only by its address learns its MAC.
		j.recordRemoval(o.id())
		o.mac = mac
		j.byMAC[mac] = o
		m = o
	case o == m:
		return
	case o != nil && o.mac == "":
		j.merge(m, o)
	case o != nil:
		o.ip = netip.Addr{}
		j.changed(o)
	}
	if m.ip.IsValid() && j.byIP[m.ip] == m {
		delete(j.byIP, m.ip)
	}
	m.ip = ip
	j.byIP[ip] = m
	j.add(m, rec{kind: kJoin, a1: ip, s1: j.intern(via)}, now)
}

// merge moves journey o (keyed by address) into m, keeping the newest
// Config.Events records in order.
func (j *Journal) merge(m, o *journey) {
	a, b := m.evs.all(), o.evs.all()
	out := make([]rec, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || (len(a) > 0 && a[0].seq < b[0].seq) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	if n := len(out) - j.cfg.Events; n > 0 {
		for _, r := range out[:n] {
			if r.tr != nil {
				r.tr.seq = 0
			}
		}
		out = out[n:]
		j.total -= n
	}
	m.evs = deque{buf: out}
	m.seg, m.attempt = segmenter{}, 0
	for i := range out {
		if m.seg.next(stepOfRec(&out[i])) || i == 0 {
			m.attempt = out[i].seq
		}
	}
	for _, t := range o.active {
		t.jy = m
	}
	m.active = append(m.active, o.active...)
	o.active = nil
	m.first = min(m.first, o.first)
	m.lastSeen = max(m.lastSeen, o.lastSeen)
	o.evs = deque{}
	j.unlink(o)
	delete(j.byIP, o.ip)
	j.recordRemoval(o.id())
}

// create starts a journey if source's rate limit allows, evicting the least
// recently active journey when full. Callers hold j.mu.
func (j *Journal) create(mac string, ip netip.Addr, source string, now time.Time) *journey {
	if !j.lim.allow(source, now) {
		j.dropped++
		if now.Sub(j.droppedAt) >= time.Minute {
			j.droppedAt = now
			j.log.Warn("journal: new clients arrive faster than the rate limit; not following them",
				"svc", "journal", "source", source, "dropped", j.dropped)
		}
		return nil
	}
	if j.n >= j.cfg.Clients && j.tail != nil {
		j.evict(j.tail, now)
	}
	jy := &journey{mac: mac, ip: ip, first: now.UnixNano()}
	if mac != "" {
		j.byMAC[mac] = jy
	}
	if ip.IsValid() {
		j.byIP[ip] = jy
	}
	j.link(jy)
	return jy
}

// evict forgets jy, counting its attempt's outcome if not counted yet.
func (j *Journal) evict(jy *journey, now time.Time) {
	j.settle(jy, jy.evs.all(), now, true)
	for _, t := range jy.active {
		t.jy = nil
	}
	j.active -= len(jy.active)
	jy.active = nil
	j.total -= jy.evs.len()
	j.unlink(jy)
	if jy.mac != "" {
		delete(j.byMAC, jy.mac)
	}
	if jy.ip.IsValid() && j.byIP[jy.ip] == jy {
		delete(j.byIP, jy.ip)
	}
	j.recordRemoval(jy.id())
}

func (j *Journal) recordRemoval(id string) {
	j.ver++
	if len(j.removed) >= j.cfg.Clients {
		j.removedLo = j.removed[0].ver
		j.removed = slices.Delete(j.removed, 0, 1)
	}
	j.removed = append(j.removed, removal{id: id, ver: j.ver})
}

// add appends r to jy, or counts it on a recent identical record. Callers
// hold j.mu.
func (j *Journal) add(jy *journey, r rec, now time.Time) *rec {
	r.t = now.UnixNano()
	if r.kind != kTransfer {
		for i, k := jy.evs.len()-1, 0; i >= 0 && k < collapseDepth; i, k = i-1, k+1 {
			p := jy.evs.at(i)
			if p.kind == kTransfer {
				break
			}
			if collapsible(p, &r) && r.t-max(p.t, p.last) < int64(collapseWindow) {
				p.count = max(p.count, 1) + 1
				p.last = r.t
				jy.seg.prev = max(jy.seg.prev, r.t)
				j.touch(jy, now)
				return p
			}
		}
	}
	if jy.evs.len() >= j.cfg.Events {
		j.dropOldest(jy)
	}
	if j.total >= j.cfg.TotalEvents {
		j.trim(jy, now)
	}
	j.seq++
	r.seq = j.seq
	p := jy.evs.push(r)
	j.total++
	if jy.seg.next(stepOfRec(p)) {
		// The client started over: the attempt before this record is over.
		j.settle(jy, jy.evs.all()[:jy.evs.len()-1], now, true)
		jy.attempt = r.seq
	} else if jy.attempt == 0 {
		jy.attempt = r.seq
	}
	j.touch(jy, now)
	return p
}

func (j *Journal) dropOldest(jy *journey) {
	r := jy.evs.pop()
	if r.tr != nil {
		r.tr.seq = 0
	}
	j.total--
}

// trim makes room for one record when all journeys together hold
// TotalEvents: the journey being added to pays if it holds more than its
// share, else the most recently active journey that does, else the least
// recently active journey is forgotten (or, when that is the one being added
// to, it loses its oldest record).
func (j *Journal) trim(jy *journey, now time.Time) {
	share := max(1, j.cfg.TotalEvents/j.cfg.Clients)
	if jy.evs.len() > share {
		j.dropOldest(jy)
		return
	}
	for v := j.head; v != nil; v = v.next {
		if v != jy && v.evs.len() > share {
			j.dropOldest(v)
			j.changed(v)
			return
		}
	}
	if j.tail != nil && j.tail != jy {
		j.evict(j.tail, now)
	} else if jy.evs.len() > 0 {
		j.dropOldest(jy)
	}
}

// touch marks jy changed now and moves it to the front.
func (j *Journal) touch(jy *journey, now time.Time) {
	jy.lastSeen = now.UnixNano()
	j.changed(jy)
	if j.head != jy {
		j.unlink(jy)
		j.link(jy)
	}
}

func (j *Journal) link(jy *journey) {
	jy.prev, jy.next = nil, j.head
	if j.head != nil {
		j.head.prev = jy
	}
	j.head = jy
	if j.tail == nil {
		j.tail = jy
	}
	j.n++
}

func (j *Journal) unlink(jy *journey) {
	if jy.prev != nil {
		jy.prev.next = jy.next
	} else if j.head == jy {
		j.head = jy.next
	}
	if jy.next != nil {
		jy.next.prev = jy.prev
	} else if j.tail == jy {
		j.tail = jy.prev
	}
	jy.prev, jy.next = nil, nil
	j.n--
}

// changed marks jy changed without moving it.
func (j *Journal) changed(jy *journey) {
	j.ver++
	jy.ver = j.ver
	jy.stale = true
}

// maxInterned bounds the intern table; it is emptied when full, so strings a
// flood made up do not stay.
const maxInterned = 4096

// intern returns a shared copy of s: boot file names and vendor strings
// repeat in nearly every journey.
func (j *Journal) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := j.interned[s]; ok {
		return v
	}
	if len(j.interned) >= maxInterned {
		clear(j.interned)
	}
	s = string([]byte(s)) // own copy: s may share a packet's buffer
	j.interned[s] = s
	return s
}
