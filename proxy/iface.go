package proxy

import (
	"bytes"
	"net"
	"slices"

	"github.com/pxeproxy/pxeproxy/internal/dhcpserve"
)

// ifaceInfo is what the transport knows about one interface.
type ifaceInfo struct {
	name  string
	addrs []*net.IPNet // IPv4 only
}

// ifaceTable caches the interfaces we serve: every up, non-loopback
// interface with an IPv4 address, or those listed in PXE_INTERFACES.
type ifaceTable = dhcpserve.Table[*ifaceInfo]

func newIfaceTable(allow []string) *ifaceTable {
	return dhcpserve.NewTable(allow, newIfaceInfo)
}

// newIfaceInfo keeps the IPv4 addresses of an interface; one without any
// is not served.
func newIfaceInfo(ifc *net.Interface, addrs []net.Addr) (*ifaceInfo, bool) {
	info := &ifaceInfo{name: ifc.Name}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			info.addrs = append(info.addrs, &net.IPNet{IP: n.IP.To4(), Mask: n.Mask})
		}
	}
	return info, len(info.addrs) > 0
}

// sameIface reports whether a and b have the same IPv4 addresses: when
// not, a reply decided with a must be decided again with b.
func sameIface(a, b *ifaceInfo) bool {
	return slices.EqualFunc(a.addrs, b.addrs, func(x, y *net.IPNet) bool {
		return x.IP.Equal(y.IP) && bytes.Equal(x.Mask, y.Mask)
	})
}

// isOurs reports whether ip is our address on i.
func (i *ifaceInfo) isOurs(ip net.IP) bool { return roleOf(ip, i.addrs) == roleOurs }

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
