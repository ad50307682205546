package journal

import (
	"net"
	"net/netip"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/pxearch"
)

// Client is one row of the clients table: a journey's summary and verdict.
// It is the JSON of /api/v1/clients.
type Client struct {
	// ID names the journey in /api/v1/clients/{id}: its MAC, or its IP
	// address while no MAC is known.
	ID       string     `json:"id"`
	MAC      string     `json:"mac,omitempty"`
	Vendor   string     `json:"vendor,omitempty"` // from the MAC's OUI
	IP       netip.Addr `json:"ip,omitzero"`
	Arch     *uint16    `json:"arch,omitempty"` // option 93 of the latest firmware request
	ArchName string     `json:"arch_name,omitempty"`
	Class    string     `json:"class,omitempty"` // PXEClient or HTTPClient
	IPXE     bool       `json:"ipxe,omitempty"`  // the latest attempt reached iPXE
	State    State      `json:"state"`
	Verdict  string     `json:"verdict"`
	// TookMillis is how long the boot took, for state booted.
	TookMillis int64     `json:"took_ms,omitempty"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	// Transfer is the running transfer, if any.
	Transfer *Progress `json:"transfer,omitempty"`
	// Events is how many events the timeline holds.
	Events int `json:"events"`
	// Version grows with every change of this client.
	Version uint64 `json:"version"`
}

// ClientDetail is a client with its timeline, oldest event first: the JSON of
// /api/v1/clients/{id}.
type ClientDetail struct {
	Client
	Timeline []Event `json:"timeline"`
}

// Stats are the journal's figures for metrics. Map keys are States.
type Stats struct {
	// Clients counts the journeys kept, per state now.
	Clients map[State]int
	// Boots counts finished boot attempts by outcome since the start: an
	// attempt is counted once, when its client has been quiet for a minute,
	// starts over or is forgotten.
	Boots map[State]uint64
	// Journeys and Events are what the journal holds.
	Journeys, Events int
	// Dropped counts new clients not followed because of the rate limit.
	Dropped uint64
	// Streams is the number of connected event-stream subscribers.
	Streams int
}

// Clients returns every client, the most recently active first.
func (j *Journal) Clients() []Client {
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Client, 0, j.n)
	for jy := j.head; jy != nil; jy = jy.next {
		out = append(out, j.row(jy, now))
	}
	return out
}

// Client returns one client and its timeline by ID: a MAC or an IP address
// (an address finds the journey it was joined to).
func (j *Journal) Client(id string) (ClientDetail, bool) {
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	jy := j.lookup(id)
	if jy == nil {
		return ClientDetail{}, false
	}
	c := j.row(jy, now)
	return ClientDetail{Client: c, Timeline: j.snapshot(jy, now).Events}, true
}

func (j *Journal) lookup(id string) *journey {
	if mac, err := net.ParseMAC(id); err == nil {
		return j.byMAC[string(mac)]
	}
	if ip, err := netip.ParseAddr(id); err == nil {
		return j.byIP[ip.Unmap()]
	}
	return nil
}

// Stats returns the figures for metrics, and counts the outcome of attempts
// that have settled.
func (j *Journal) Stats() Stats {
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	s := Stats{Clients: map[State]int{}, Boots: map[State]uint64{}, Journeys: j.n, Events: j.total,
		Dropped: j.dropped, Streams: len(j.streams)}
	for jy := j.head; jy != nil; jy = jy.next {
		s.Clients[j.verdict(jy, now).State]++
		j.settle(jy, jy.evs.all(), now, false)
	}
	for k, v := range j.boots {
		s.Boots[k] = v
	}
	return s
}

// settle counts the outcome of jy's latest attempt, whose records end rs,
// once: when jy has been quiet for settleAfter, or at once when forced (the
// attempt is over: a new one starts or jy is forgotten).
func (j *Journal) settle(jy *journey, rs []rec, now time.Time, force bool) {
	if jy.attempt == 0 || jy.attempt == jy.counted {
		return
	}
	if !force && now.Sub(time.Unix(0, jy.lastSeen)) < settleAfter {
		return
	}
	jy.counted = jy.attempt
	for i := range rs {
		if rs[i].seq >= jy.attempt {
			j.countOutcome(rs[i:], now)
			return
		}
	}
}

// countOutcome counts the verdict of an attempt's records as it will read
// once every grace has passed.
func (j *Journal) countOutcome(rs []rec, now time.Time) {
	evs := make([]Event, len(rs))
	for i := range rs {
		evs[i] = rs[i].event(now)
	}
	if v := Judge(Journey{Events: evs}, now.Add(settleAfter)); v.State != StateInProgress {
		j.boots[v.State]++
	}
}

// snapshot is jy as Judge sees it. Callers hold j.mu.
func (j *Journal) snapshot(jy *journey, now time.Time) Journey {
	evs := make([]Event, jy.evs.len())
	for i := range evs {
		evs[i] = jy.evs.at(i).event(now)
	}
	jn := Journey{ID: jy.id(), IP: jy.ip, Events: evs}
	if jy.mac != "" {
		jn.MAC = jy.id()
	}
	return jn
}

// sample notes which running transfers of jy moved since last looked at,
// and reports whether any did.
func (j *Journal) sample(jy *journey, now time.Time) bool {
	moved := false
	for _, t := range jy.active {
		if b := t.bytes.Load(); b != t.seen {
			t.seen, t.moved, moved = b, now.UnixNano(), true
		}
	}
	if moved {
		j.changed(jy)
	}
	return moved
}

// verdict returns jy's verdict, judging again when something changed or
// time alone may change it. A verdict that changed with time bumps jy's
// version so that streams send it.
func (j *Journal) verdict(jy *journey, now time.Time) Verdict {
	j.sample(jy, now)
	if !jy.stale && len(jy.active) == 0 && jy.verdict.State != StateInProgress {
		return jy.verdict
	}
	v := Judge(j.snapshot(jy, now), now)
	if !jy.stale && (v.State != jy.verdict.State || v.Text != jy.verdict.Text) {
		j.changed(jy)
	}
	jy.verdict, jy.stale = v, false
	return v
}

// row builds jy's table row. Callers hold j.mu.
func (j *Journal) row(jy *journey, now time.Time) Client {
	v := j.verdict(jy, now)
	c := Client{ID: jy.id(), IP: jy.ip, State: v.State, Verdict: v.Text, Transfer: v.Transfer,
		FirstSeen: time.Unix(0, jy.first), LastSeen: time.Unix(0, jy.lastSeen), Events: jy.evs.len(), Version: jy.ver}
	if v.State == StateBooted {
		c.TookMillis = v.Took.Milliseconds()
	}
	if jy.mac != "" {
		c.MAC = c.ID
		c.Vendor = j.vendor(net.HardwareAddr(jy.mac))
	}
	// The latest firmware request names the architecture and class; a
	// later request from iPXE says the attempt reached iPXE.
	rs := jy.evs.all()
	var ipxe *rec
	for i := len(rs) - 1; i >= 0; i-- {
		r := &rs[i]
		if r.kind != kDiscover || r.port == PortDHCP6 {
			continue
		}
		if r.flags&flagIPXE != 0 {
			c.IPXE = true
			ipxe = r
			continue
		}
		ipxe = nil
		a := r.arch
		c.Arch, c.ArchName, c.Class = &a, pxearch.Short(a), vendorClass(r.s1)
		break
	}
	// A NIC whose boot ROM is iPXE itself (QEMU's, iPXE-flashed cards) sends
	// no other request: iPXE's own option 93 and 60 name the client.
	if ipxe != nil {
		a := ipxe.arch
		c.Arch, c.ArchName, c.Class = &a, pxearch.Short(a), vendorClass(ipxe.s1)
	}
	return c
}

// update is one message of the event stream.
type update struct {
	// Reset says Clients is the whole table; else it holds the clients that
	// changed and Removed the IDs that went away.
	Reset   bool     `json:"reset,omitempty"`
	Clients []Client `json:"clients"`
	Removed []string `json:"removed,omitempty"`
	Version uint64   `json:"version"`
	// Now is the server's clock, for "last seen ... ago": the viewer's
	// clock may be off.
	Now time.Time `json:"now"`
}

// changes returns what changed after version since (0: everything).
func (j *Journal) changes(since uint64) update {
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.refresh(now)
	u := update{Reset: since == 0 || since < j.removedLo, Clients: []Client{}, Now: now}
	for jy := j.head; jy != nil; jy = jy.next {
		if u.Reset || jy.ver > since {
			u.Clients = append(u.Clients, j.row(jy, now))
		}
	}
	if !u.Reset {
		for _, r := range j.removed {
			if r.ver > since {
				u.Removed = append(u.Removed, r.id)
			}
		}
	}
	u.Version = j.ver
	return u
}

// refresh judges again, at most once per stream interval, the journeys whose
// verdict time alone may change, so streams see a grace run out.
func (j *Journal) refresh(now time.Time) {
	if now.Sub(j.refreshed) < j.cfg.StreamInterval/2 {
		return
	}
	j.refreshed = now
	for jy := j.head; jy != nil; jy = jy.next {
		if len(jy.active) > 0 || jy.verdict.State == StateInProgress {
			j.verdict(jy, now)
		}
	}
}
