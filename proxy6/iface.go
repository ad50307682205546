package proxy6

import (
	"cmp"
	"net"
	"slices"
	"sync"
	"time"
)

// ifaceInfo is what the Server knows about one interface.
type ifaceInfo struct {
	index     int
	name      string
	mac       net.HardwareAddr
	linkLocal net.IP       // our fe80:: address, the source of replies to link-local clients
	addrs     []*net.IPNet // global and ULA addresses, advertised in URLs
}

// ifaceTable caches the interfaces we serve, so that the per-packet path
// does no netlink round trip. It is refreshed at most every refreshEvery,
// and early (at most every refreshMissMin) when a packet arrives on an
// unknown index, so interfaces that come up after start are picked up
// without letting a LAN packet trigger a reload each.
type ifaceTable struct {
	allow []string // names to serve; empty: every up, non-loopback IPv6 interface

	mu      sync.Mutex
	byIndex map[int]*ifaceInfo
	loaded  time.Time
	lookup  func() ([]net.Interface, error)
	addrsOf func(*net.Interface) ([]net.Addr, error)
	now     func() time.Time
}

const (
	refreshEvery   = 10 * time.Second
	refreshMissMin = time.Second
)

func newIfaceTable(allow []string) *ifaceTable {
	return &ifaceTable{allow: allow, lookup: net.Interfaces, addrsOf: (*net.Interface).Addrs, now: time.Now}
}

// get returns the served interface with index idx, or nil.
func (t *ifaceTable) get(idx int) *ifaceInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	age := t.now().Sub(t.loaded)
	info, ok := t.byIndex[idx]
	if t.byIndex == nil || age > refreshEvery || (!ok && age > refreshMissMin) {
		t.reload()
		info = t.byIndex[idx]
	}
	return info
}

// snapshot reloads the table and returns the served interfaces by name.
func (t *ifaceTable) snapshot() []*ifaceInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reload()
	out := make([]*ifaceInfo, 0, len(t.byIndex))
	for _, v := range t.byIndex {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *ifaceInfo) int { return cmp.Compare(a.name, b.name) })
	return out
}

func (t *ifaceTable) reload() {
	t.loaded = t.now()
	ifs, err := t.lookup()
	if err != nil {
		return // keep the last good table
	}
	m := make(map[int]*ifaceInfo, len(ifs))
	for i := range ifs {
		ifc := &ifs[i]
		if len(t.allow) > 0 {
			if !slices.Contains(t.allow, ifc.Name) {
				continue
			}
		} else if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := t.addrsOf(ifc)
		if err != nil {
			continue
		}
		info := &ifaceInfo{index: ifc.Index, name: ifc.Name, mac: ifc.HardwareAddr}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.To4() != nil || n.IP.To16() == nil {
				continue
			}
			switch {
			case n.IP.IsLinkLocalUnicast():
				if info.linkLocal == nil {
					info.linkLocal = n.IP
				}
			case usableServerAddr(n.IP):
				info.addrs = append(info.addrs, n)
			}
		}
		if info.linkLocal == nil && len(info.addrs) == 0 {
			continue // no IPv6 here
		}
		m[ifc.Index] = info
	}
	t.byIndex = m
}

// addrFor picks our address on the interface for URLs: the one whose prefix
// holds one of peers (the relay's link-address, the client's address),
// else the first; nil when the interface has only a link-local address.
func (i *ifaceInfo) addrFor(peers ...net.IP) net.IP {
	for _, p := range peers {
		if p == nil || p.IsUnspecified() || p.IsLinkLocalUnicast() {
			continue
		}
		for _, a := range i.addrs {
			if a.Contains(p) {
				return a.IP
			}
		}
	}
	if len(i.addrs) == 0 {
		return nil
	}
	return i.addrs[0].IP
}
