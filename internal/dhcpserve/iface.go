// Package dhcpserve holds what the socket loops of the IPv4 (proxy) and
// IPv6 (proxy6) PXE servers share: the cached table of served interfaces,
// the bounded queue of replies held back for a delay, and the Debug line of
// an ignored packet. It opens no socket and decides nothing, so it builds
// on any OS; everything a LAN packet can make in it is bounded.
package dhcpserve

import (
	"cmp"
	"net"
	"slices"
	"sync"
	"time"
)

// Table refresh bounds: at most every RefreshEvery, and early (at most
// every RefreshMissMin) when a packet arrives on an unknown index, so
// interfaces that come up after start are picked up without letting LAN
// packets trigger a netlink round trip each.
const (
	RefreshEvery   = 10 * time.Second
	RefreshMissMin = time.Second
)

// Table caches the interfaces a server answers on, so that the per-packet
// path does no netlink round trip. I is the server's own view of one
// interface (its addresses of one family); the zero I means "not served".
type Table[I comparable] struct {
	allow []string // names to serve; empty: every up, non-loopback interface that build accepts
	// build makes the entry of an interface from its addresses; false
	// leaves the interface out (no address of the server's family).
	build func(ifc *net.Interface, addrs []net.Addr) (I, bool)

	// Lookup, AddrsOf and Now are the system's; tests replace them before
	// the first use.
	Lookup  func() ([]net.Interface, error)
	AddrsOf func(*net.Interface) ([]net.Addr, error)
	Now     func() time.Time

	mu      sync.Mutex
	byIndex map[int]entry[I]
	loaded  time.Time
}

type entry[I comparable] struct {
	name string
	info I
}

// NewTable returns a table of the interfaces named in allow (empty: every
// up, non-loopback one), each made by build.
func NewTable[I comparable](allow []string, build func(ifc *net.Interface, addrs []net.Addr) (I, bool)) *Table[I] {
	return &Table[I]{allow: allow, build: build, Lookup: net.Interfaces, AddrsOf: (*net.Interface).Addrs, Now: time.Now}
}

// Get returns the served interface with index idx, or the zero I when that
// interface is not served.
func (t *Table[I]) Get(idx int) I {
	t.mu.Lock()
	defer t.mu.Unlock()
	age := t.Now().Sub(t.loaded)
	e, ok := t.byIndex[idx]
	if t.byIndex == nil || age > RefreshEvery || (!ok && age > RefreshMissMin) {
		t.reload()
		e = t.byIndex[idx]
	}
	return e.info
}

// Refresh reloads the table now, unless it was loaded less than
// RefreshMissMin ago (a flood of failing sends must not cost a reload
// each), and reports whether any served interface changed by equal.
func (t *Table[I]) Refresh(equal func(a, b I) bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byIndex != nil && t.Now().Sub(t.loaded) < RefreshMissMin {
		return false
	}
	old := t.byIndex
	t.reload()
	if len(old) != len(t.byIndex) {
		return true
	}
	for idx, e := range t.byIndex {
		o, ok := old[idx]
		if !ok || o.name != e.name || !equal(o.info, e.info) {
			return true
		}
	}
	return false
}

// Any reports whether f holds for one of the interfaces as last loaded.
func (t *Table[I]) Any(f func(I) bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.byIndex {
		if f(e.info) {
			return true
		}
	}
	return false
}

// Snapshot reloads the table and returns the served interfaces by name,
// for the start line.
func (t *Table[I]) Snapshot() []I {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reload()
	es := make([]entry[I], 0, len(t.byIndex))
	for _, e := range t.byIndex {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b entry[I]) int { return cmp.Compare(a.name, b.name) })
	out := make([]I, len(es))
	for i, e := range es {
		out[i] = e.info
	}
	return out
}

func (t *Table[I]) reload() {
	t.loaded = t.Now()
	ifs, err := t.Lookup()
	if err != nil {
		return // keep the last good table
	}
	m := make(map[int]entry[I], len(ifs))
	for i := range ifs {
		ifc := &ifs[i]
		if len(t.allow) > 0 {
			if !slices.Contains(t.allow, ifc.Name) {
				continue
			}
		} else if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := t.AddrsOf(ifc)
		if err != nil {
			continue
		}
		if info, ok := t.build(ifc, addrs); ok {
			m[ifc.Index] = entry[I]{name: ifc.Name, info: info}
		}
	}
	t.byIndex = m
}
