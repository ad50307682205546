// Package neigh looks up the MAC of an IPv4 peer on a served segment in the
// kernel's neighbour table, passively: it never sends a packet, and a peer
// the kernel has not learnt (a relayed client: its router is there) has no
// MAC.
package neigh

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Table looks up the MAC of a TFTP or HTTP peer on a served segment in
// the kernel's IPv4 neighbour table (/proc/net/arp), passively: the kernel
// learnt it from the client's own ARP traffic. A relayed client is not in
// it (its router is). The table is read at most once per neighReadEvery,
// only on a miss or when the copy is older than neighMaxAge. An address
// missed is kept waiting (neighWait at most, maxPending addresses) and
// passed to found once a later read has it: the kernel often learns a
// client's MAC only from the transfer's own traffic.
type Table struct {
	path   string
	ifaces []string // served interfaces; empty: all
	now    func() time.Time
	found  func(netip.Addr, net.HardwareAddr) // a waiting address's MAC

	mu      sync.Mutex
	table   map[netip.Addr]net.HardwareAddr
	readAt  time.Time
	pending map[netip.Addr]time.Time // missed addresses, since when
}

// Bounds of the neighbour look-up.
const (
	neighReadEvery = time.Second
	neighMaxAge    = time.Minute
	// maxNeighbours bounds the copy; the kernel's own default cap
	// (gc_thresh3) is 1024 entries.
	maxNeighbours = 4096
	// maxARPBytes bounds one read of the table: 4096 lines are about 320 KiB.
	maxARPBytes = 1 << 20
	// neighWait and maxPending bound the addresses waiting for their MAC.
	neighWait  = 10 * time.Second
	maxPending = 256
)

// Config is what a Table reads and whom it tells.
type Config struct {
	// Interfaces are the served interfaces; empty: all.
	Interfaces []string
	// Found is given each waiting address's MAC once a later read has it.
	Found func(netip.Addr, net.HardwareAddr)
	// Path is the table to read; empty: the kernel's (/proc).
	Path string
}

// New returns a Table; it reads nothing until the first Lookup.
func New(cfg Config) *Table {
	path := cfg.Path
	if path == "" {
		// thread-self (Linux 3.17+): the reading thread's own namespace.
		// /proc/net is the main thread's, which is another one when that
		// thread was switched into a namespace (as the netns tests do).
		path = "/proc/thread-self/net/arp"
		if _, err := os.Stat(path); err != nil {
			path = "/proc/net/arp"
		}
	}
	found := cfg.Found
	if found == nil {
		found = func(netip.Addr, net.HardwareAddr) {}
	}
	return &Table{path: path, ifaces: cfg.Interfaces, now: time.Now, found: found}
}

// Lookup returns ip's MAC, or nil when the kernel does not know it yet;
// then ip waits for a later read (Run).
func (n *Table) Lookup(ip netip.Addr) net.HardwareAddr {
	ip = ip.Unmap()
	if !ip.Is4() {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	mac, ok := n.table[ip]
	now := n.now()
	if age := now.Sub(n.readAt); age >= neighReadEvery && (!ok || age >= neighMaxAge) {
		n.readAt = now
		n.table = n.read()
		mac = n.table[ip]
	}
	if mac == nil && len(n.pending) < maxPending {
		if n.pending == nil {
			n.pending = map[netip.Addr]time.Time{}
		}
		if _, waiting := n.pending[ip]; !waiting {
			n.pending[ip] = now
		}
	}
	return mac
}

// Run reads the table again every neighReadEvery while addresses wait,
// until ctx ends, and passes those it finds to found.
func (n *Table) Run(ctx context.Context) error {
	tick := time.NewTicker(neighReadEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for ip, mac := range n.resolve() {
			n.found(ip, mac)
		}
	}
}

// resolve reads the table if addresses wait and it is due, and returns the
// waiting addresses it now has; those waiting past neighWait are dropped.
func (n *Table) resolve() map[netip.Addr]net.HardwareAddr {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	if len(n.pending) == 0 || now.Sub(n.readAt) < neighReadEvery {
		return nil
	}
	n.readAt = now
	n.table = n.read()
	var out map[netip.Addr]net.HardwareAddr
	for ip, since := range n.pending {
		if mac, ok := n.table[ip]; ok {
			if out == nil {
				out = map[netip.Addr]net.HardwareAddr{}
			}
			out[ip] = mac
			delete(n.pending, ip)
		} else if now.Sub(since) >= neighWait {
			delete(n.pending, ip)
		}
	}
	return out
}

func (n *Table) read() map[netip.Addr]net.HardwareAddr {
	f, err := os.Open(n.path)
	if err != nil {
		return nil // not Linux, or no /proc: no MAC from here
	}
	defer f.Close()
	return parseARP(io.LimitReader(f, maxARPBytes), n.ifaces)
}

// parseARP reads /proc/net/arp: complete entries (flag ATF_COM, 0x2) on
// the interfaces listed (all when ifaces is empty), at most maxNeighbours.
//
//	IP address       HW type     Flags       HW address            Mask     Device
//	10.0.0.50        0x1         0x2         52:54:00:12:34:56     *        eth1
func parseARP(r io.Reader, ifaces []string) map[netip.Addr]net.HardwareAddr {
	out := map[netip.Addr]net.HardwareAddr{}
	sc := bufio.NewScanner(r)
	sc.Scan() // the header
	for sc.Scan() && len(out) < maxNeighbours {
		f := strings.Fields(sc.Text())
		if len(f) != 6 || (len(ifaces) > 0 && !slices.Contains(ifaces, f[5])) {
			continue
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil || !ip.Is4() {
			continue
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		if err != nil || flags&0x2 == 0 {
			continue
		}
		mac, err := net.ParseMAC(f[3])
		if err != nil || len(mac) != 6 || bytes.Equal(mac, make([]byte, 6)) {
			continue
		}
		out[ip] = mac
	}
	return out
}
