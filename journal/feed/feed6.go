package feed

import (
	"net"
	"net/netip"

	"github.com/pxeproxy/pxeproxy/internal/pxeclass"
	"github.com/pxeproxy/pxeproxy/journal"
	"github.com/pxeproxy/pxeproxy/proxy6"
)

// Hook6 makes c's OnAnswer also record each answered DHCPv6 request in the
// journal, and its OnLease join a client's MAC to its PXE lease; a nil jw
// (no HTTP listener) leaves c as it is.
func (jw *Feed) Hook6(c *proxy6.Config) {
	if jw == nil {
		return
	}
	prev := c.OnAnswer
	c.OnAnswer = func(a *proxy6.Answer, in proxy6.Ingress) {
		if prev != nil {
			prev(a, in)
		}
		jw.answer6(a, in)
	}
	c.OnLease = jw.lease6
}

// lease6 joins a client's MAC and the address it asks the site's DHCPv6
// server for, as DHCPREQUEST's option 50 does over IPv4.
func (jw *Feed) lease6(mac net.HardwareAddr, addrs []net.IP) {
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a); ok {
			jw.j.Join(mac, ip, journal.ViaRequest)
		}
	}
}

// answer6 records an answered SOLICIT or INFORMATION-REQUEST (547) or
// REQUEST (4011) and our reply. Without it an IPv6 boot shows only its
// transfers, keyed by address, and a client that got our ADVERTISE but never
// asked for the file (a SLAAC-only segment) shows nothing at all.
func (jw *Feed) answer6(a *proxy6.Answer, in proxy6.Ingress) {
	vendor := "PXEClient"
	if a.Class == pxeclass.HTTP {
		vendor = "HTTPClient"
	}
	d := journal.Discover{MAC: a.MAC, Port: in.Port, Arch: a.Arch, Vendor: vendor, IPXE: a.Class == pxeclass.IPXE,
		Iface: in.IfName}
	if in.Src != nil && a.Relays > 0 {
		d.Relay, _ = netip.AddrFromSlice(in.Src.IP)
	}
	// No ClientIP for the 4011 REQUEST: EDK2 sends it from its IPv6 stack's
	// own address, not from the PXE lease the download comes from (lease6
	// joins that one), and a journey has one address at a time.
	jw.j.Discover(d)
	jw.j.Reply(journal.Reply{MAC: a.MAC, Port: in.Port, File: a.File})
}
