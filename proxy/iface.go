package proxy

import (
	"bytes"
	"maps"
	"net"
	"slices"
	"sync"
	"time"
)

// ifaceInfo is what the transport knows about one interface.
type ifaceInfo struct {
	name  string
	addrs []*net.IPNet // IPv4 only
}

// ifaceTable caches the interfaces we serve, so that the per-packet path
// does no netlink round trip. It is refreshed at most every refreshEvery,
// and early (rate-limited) when a packet arrives on an unknown index, so
// interfaces that come up after start are picked up.
type ifaceTable struct {
	allow []string // names to serve; empty: every up, non-loopback IPv4 interface

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
	return &ifaceTable{
		allow:   allow,
		lookup:  net.Interfaces,
		addrsOf: (*net.Interface).Addrs,
		now:     time.Now,
	}
}

// get returns the served interface with index idx, or nil when that interface
// is not served (loopback, down, no IPv4, not listed in PXE_INTERFACES).
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

// refresh reloads the table now, unless it was loaded less than
// refreshMissMin ago (a flood of failing sends must not cost a reload
// each), and reports whether any served interface or address changed.
func (t *ifaceTable) refresh() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byIndex != nil && t.now().Sub(t.loaded) < refreshMissMin {
		return false
	}
	old := t.byIndex
	t.reload()
	return !maps.EqualFunc(old, t.byIndex, func(a, b *ifaceInfo) bool {
		return a.name == b.name && slices.EqualFunc(a.addrs, b.addrs, func(x, y *net.IPNet) bool {
			return x.IP.Equal(y.IP) && bytes.Equal(x.Mask, y.Mask)
		})
	})
}

// isLocal reports whether ip is our address on any served interface.
func (t *ifaceTable) isLocal(ip net.IP) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, info := range t.byIndex {
		if roleOf(ip, info.addrs) == roleOurs {
			return true
		}
	}
	return false
}

// snapshot returns the served interfaces now, for the start line.
func (t *ifaceTable) snapshot() []*ifaceInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reload()
	out := make([]*ifaceInfo, 0, len(t.byIndex))
	for _, v := range t.byIndex {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *ifaceInfo) int {
		if a.name < b.name {
			return -1
		}
		return 1
	})
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
		info := &ifaceInfo{name: ifc.Name}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				info.addrs = append(info.addrs, &net.IPNet{IP: n.IP.To4(), Mask: n.Mask})
			}
		}
		if len(info.addrs) == 0 {
			continue
		}
		m[ifc.Index] = info
	}
	t.byIndex = m
}

// addrFor picks our address on the interface for a reply: the one whose
// subnet holds the relay agent (giaddr) or the requester, else the first.
func (i *ifaceInfo) addrFor(peers ...net.IP) net.IP {
	for _, p := range peers {
		if p == nil || p.IsUnspecified() {
			continue
		}
		for _, a := range i.addrs {
			if a.Contains(p) {
				return a.IP
			}
		}
	}
	return i.addrs[0].IP
}
