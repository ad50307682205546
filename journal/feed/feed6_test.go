package feed

import (
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/pxeproxy/pxeproxy/internal/pxeclass"
	"github.com/pxeproxy/pxeproxy/journal"
	"github.com/pxeproxy/pxeproxy/proxy6"
	"github.com/pxeproxy/pxeproxy/tftpd"
)

// TestHook6 drives an EDK2 PXEv6 boot through Hook6 as the relay6 e2e
// scenario sees it: a relayed ADVERTISE, the lease REQUEST to the site's
// server, the 4011 REPLY, the boot file from the leased address, then iPXE's
// SOLICIT.
func TestHook6(t *testing.T) {
	jw := testJourneys(t, "")
	var metered int
	c := proxy6.Config{OnAnswer: func(*proxy6.Answer, proxy6.Ingress) { metered++ }}
	jw.Hook6(&c)
	mac := net.HardwareAddr{0x52, 0x54, 0, 0xe2, 0, 1}
	url := "tftp://[fd77::3]/snponly.efi"
	adv := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeAdvertise}
	relay := &net.UDPAddr{IP: net.ParseIP("fd77::4"), Port: proxy6.PortDHCP}
	c.OnAnswer(&proxy6.Answer{Reply: adv, Arch: 7, Class: pxeclass.UEFI, File: url, MAC: mac, Relays: 1},
		proxy6.Ingress{Port: proxy6.PortDHCP, IfName: "eth0", Src: relay})
	// The PXE lease REQUEST to the site's server, then the 4011 REQUEST from
	// the IPv6 stack's other address.
	c.OnLease(mac, []net.IP{net.ParseIP("fd77:1::109")})
	rep := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeReply}
	stack := &net.UDPAddr{IP: net.ParseIP("fd77:1::1aa"), Port: proxy6.PortPXE}
	c.OnAnswer(&proxy6.Answer{Reply: rep, Arch: 7, Class: pxeclass.UEFI, File: url, MAC: mac},
		proxy6.Ingress{Port: proxy6.PortPXE, IfName: "eth0", Src: stack})
	// No MAC from the neighbour table (IPv4 only): the leased address puts
	// the download in this client's journey.
	jw.StartTFTP(tftpd.Start{Peer: netip.MustParseAddrPort("[fd77:1::109]:1500"), File: "snponly.efi", Size: 1000}).End("ok", "")
	c.OnAnswer(&proxy6.Answer{Reply: adv, Arch: 7, Class: pxeclass.IPXE, File: "tftp://[fd77::3]/boot.ipxe", MAC: mac, Relays: 1},
		proxy6.Ingress{Port: proxy6.PortDHCP, IfName: "eth0", Src: relay})
	// An answer whose client MAC is unknown starts no journey.
	c.OnAnswer(&proxy6.Answer{Reply: adv, Arch: 7, Class: pxeclass.UEFI, File: url}, proxy6.Ingress{Port: proxy6.PortDHCP, Src: relay})

	if metered != 4 {
		t.Errorf("the metrics hook ran %d times, want 4", metered)
	}
	cl, words := timeline(t, jw, mac.String())
	want := "discover 547 ; reply " + url + "; join fd77:1::109 dhcp-request; discover 4011 ; reply " + url +
		"; transfer tftp snponly.efi ok; discover 547 ; reply tftp://[fd77::3]/boot.ipxe"
	if words != want {
		t.Errorf("timeline\n got %s\nwant %s", words, want)
	}
	if cl.Timeline[0].Relay.String() != "fd77::4" || !cl.Timeline[6].IPXE || cl.Class != "PXEClient" {
		t.Errorf("relay %v, iPXE %v, class %q: want fd77::4, true, PXEClient", cl.Timeline[0].Relay, cl.Timeline[6].IPXE, cl.Class)
	}
	if n := len(jw.j.Clients()); n != 1 {
		t.Errorf("%d clients, want 1", n)
	}
	if v := cl.State; v != journal.StateInProgress {
		t.Errorf("state %s (%s), want in-progress: iPXE was offered its script", v, cl.Verdict)
	}
	var none *Feed
	before := c.OnAnswer
	none.Hook6(&c) // no HTTP listener: no journal, c unchanged
	if c.OnAnswer == nil || before == nil {
		t.Error("Hook6 on a nil Feed dropped OnAnswer")
	}
}
