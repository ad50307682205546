package proxy6

import (
	"net"

	"github.com/pxeproxy/pxeproxy/internal/dhcpserve"
)

// ifaceInfo is what the Server knows about one interface.
type ifaceInfo struct {
	index     int
	name      string
	mac       net.HardwareAddr
	linkLocal net.IP       // our fe80:: address, the source of replies to link-local clients
	addrs     []*net.IPNet // global and ULA addresses, advertised in URLs
}

// ifaceTable caches the interfaces we serve: every up, non-loopback
// interface with an IPv6 address, or those listed in PXE_INTERFACES.
type ifaceTable = dhcpserve.Table[*ifaceInfo]

func newIfaceTable(allow []string) *ifaceTable {
	return dhcpserve.NewTable(allow, newIfaceInfo)
}

// newIfaceInfo sorts the IPv6 addresses of an interface; one without any
// is not served.
func newIfaceInfo(ifc *net.Interface, addrs []net.Addr) (*ifaceInfo, bool) {
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
	return info, info.linkLocal != nil || len(info.addrs) > 0
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
