//go:build linux

package dhcpsock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Why the raw listener drops a datagram that its filter passed: the
// kernel's IPv4 receive path (ip_rcv_core, ip_route_input_slow,
// fib_validate_source, udp4_csum_init) drops the same ones before any
// bound UDP socket sees them.
var (
	errNotForUs = errors.New("destination is not ours")
	errMartian  = errors.New("martian source")
	errChecksum = errors.New("bad checksum")
)

// localAddrs caches this host's IPv4 addresses by interface for the raw
// listener: an AF_PACKET socket sees every frame the link brings to this
// host, before the IP layer drops what a UDP socket would never get.
type localAddrs struct {
	mu     sync.Mutex
	byIf   map[int][]netip.Prefix
	loaded time.Time
	load   func() (map[int][]netip.Prefix, error)
	now    func() time.Time
}

const (
	// addrsMaxAge bounds how long an address removed from an interface is
	// still taken as ours.
	addrsMaxAge = 10 * time.Second
	// addrsMinAge: a datagram that is not for us, or a reply from an
	// address not known as ours, reloads the table at most this often, so
	// a flood of frames to 8.8.8.8 costs no netlink dump each.
	addrsMinAge = 250 * time.Millisecond
)

func newLocalAddrs() *localAddrs {
	return &localAddrs{load: loadAddrs, now: time.Now}
}

// reload loads the table when it is older than age, and says whether it did.
func (l *localAddrs) reload(age time.Duration) bool {
	now := l.now()
	if l.byIf != nil && now.Sub(l.loaded) < age {
		return false
	}
	l.loaded = now
	if m, err := l.load(); err == nil {
		l.byIf = m
	}
	return true
}

// admit says why a datagram from src to dst that came in on ifIndex would
// not reach a UDP socket bound to the port, or nil if it would.
func (l *localAddrs) admit(src, dst netip.Addr, ifIndex int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reload(addrsMaxAge)
	err := admit(src, dst, ifIndex, l.byIf)
	if err != nil && l.reload(addrsMinAge) {
		// Maybe an address was just added.
		err = admit(src, dst, ifIndex, l.byIf)
	}
	return err
}

// local reports whether a is one of our addresses, on any interface.
func (l *localAddrs) local(a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reload(addrsMaxAge)
	if isOurs(a, l.byIf) {
		return true
	}
	return l.reload(addrsMinAge) && isOurs(a, l.byIf)
}

func isOurs(a netip.Addr, byIf map[int][]netip.Prefix) bool {
	for _, ps := range byIf {
		if kindOf(a, ps) == addrOurs {
			return true
		}
	}
	return false
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// admit is the part of Linux's IPv4 receive path that a raw listener must
// apply itself, given our addresses by interface. The destination must be
// ours on the ingress interface, its subnet broadcast or the limited
// broadcast (ip_route_input_slow: anything else is forwarded or dropped,
// never delivered). The source must not be a martian: multicast, the
// limited broadcast, 0/8 unless to the limited broadcast (a DHCP client
// without an address), loopback, or one of our own or broadcast addresses
// (fib_validate_source), except on the loopback interface, which carries
// only this host's own traffic.
func admit(src, dst netip.Addr, ifIndex int, byIf map[int][]netip.Prefix) error {
	in := byIf[ifIndex]
	if dst != limitedBroadcast {
		if k := kindOf(dst, in); k != addrOurs && k != addrBroadcast {
			return fmt.Errorf("%w: %s on interface %d", errNotForUs, dst, ifIndex)
		}
	}
	s := src.As4()
	switch {
	case src.IsMulticast() || src == limitedBroadcast:
	case s[0] == 0:
		if dst == limitedBroadcast {
			return nil
		}
	case loopbackIf(in):
		return nil
	case src.IsLoopback():
	default:
		for _, ps := range byIf {
			if k := kindOf(src, ps); k == addrOurs || k == addrBroadcast {
				return fmt.Errorf("%w: %s is our own address", errMartian, src)
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %s", errMartian, src)
}

func loopbackIf(ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Addr().IsLoopback() {
			return true
		}
	}
	return false
}

type addrKind int

const (
	addrOther     addrKind = iota
	addrOurs               // one of the prefixes' own address
	addrBroadcast          // a prefix's broadcast address (prefixes up to /30)
)

func kindOf(a netip.Addr, ps []netip.Prefix) addrKind {
	k := addrOther
	for _, p := range ps {
		if p.Addr() == a {
			return addrOurs
		}
		if p.Bits() <= 30 && p.Contains(a) && a == lastAddr(p) {
			k = addrBroadcast
		}
	}
	return k
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	v := binary.BigEndian.Uint32(a[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a)
}

// loadAddrs reads every IPv4 address of this host with its interface in
// one netlink dump (net.Interfaces and Addrs would take one per interface).
func loadAddrs() (map[int][]netip.Prefix, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_INET)
	if err != nil {
		return nil, fmt.Errorf("netlink address dump: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, fmt.Errorf("netlink address dump: %w", err)
	}
	out := map[int][]netip.Prefix{}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != syscall.RTM_NEWADDR || len(m.Data) < syscall.SizeofIfAddrmsg || m.Data[0] != syscall.AF_INET {
			continue
		}
		bits := int(m.Data[1])
		index := int(binary.NativeEndian.Uint32(m.Data[4:8]))
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			continue
		}
		var addr, local netip.Addr
		for _, a := range attrs {
			if len(a.Value) != 4 {
				continue
			}
			switch a.Attr.Type {
			case syscall.IFA_ADDRESS:
				addr = netip.AddrFrom4([4]byte(a.Value))
			case syscall.IFA_LOCAL:
				// On a point-to-point link IFA_ADDRESS is the peer's.
				local = netip.AddrFrom4([4]byte(a.Value))
			}
		}
		if local.IsValid() {
			addr = local
		}
		if addr.IsValid() && bits <= 32 {
			out[index] = append(out[index], netip.PrefixFrom(addr, bits))
		}
	}
	return out, nil
}
