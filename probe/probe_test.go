package probe

import (
	"net"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/pxeproxy/pxeproxy/conflict"
)

var (
	corp = net.IPv4(10, 0, 0, 1).To4()
	pxep = net.IPv4(10, 0, 0, 2).To4()
	pxe2 = net.IPv4(10, 0, 0, 3).To4()
)

func offer(server net.IP, mods ...func(*dhcpv4.DHCPv4)) Reply {
	p := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        1,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		ClientHWAddr:  net.HardwareAddr{2, 0, 0, 0, 0, 1},
		Options:       dhcpv4.Options{},
	}
	p.Options.Update(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	p.Options.Update(dhcpv4.OptServerIdentifier(server))
	for _, m := range mods {
		m(p)
	}
	return Reply{Packet: p, From: &net.UDPAddr{IP: server, Port: 67}}
}

func lease(p *dhcpv4.DHCPv4) { p.YourIPAddr = net.IPv4(10, 0, 0, 100) }
func pxe(p *dhcpv4.DHCPv4)   { p.Options.Update(dhcpv4.OptClassIdentifier("PXEClient")) }
func disc(p *dhcpv4.DHCPv4)  { p.Options[43] = []byte{6, 1, 8, 10, 4, 0, 'P', 'X', 'E', 255} }
func mtftp(p *dhcpv4.DHCPv4) {
	p.Options[43] = []byte{1, 4, 224, 0, 1, 1, 2, 2, 0, 1, 3, 2, 0, 2, 4, 1, 1, 5, 1, 1, 255}
}
func file(name string) func(*dhcpv4.DHCPv4) {
	return func(p *dhcpv4.DHCPv4) { p.BootFileName = name; p.ServerIPAddr = p.ServerIdentifier() }
}
func opt67(name string) func(*dhcpv4.DHCPv4) {
	return func(p *dhcpv4.DHCPv4) { p.Options.Update(dhcpv4.OptBootFileName(name)) }
}
func bootp(p *dhcpv4.DHCPv4) { p.Options.Del(dhcpv4.OptionDHCPMessageType) }

func TestTypeOf(t *testing.T) {
	cases := map[string]struct {
		r    Reply
		want OfferType
	}{
		"plain lease":              {offer(corp, lease), DhcpOnly},
		"lease with boot file":     {offer(corp, lease, file("x")), DhcpOnly},
		"lease with PXEClient":     {offer(corp, lease, pxe), DhcpBinl},
		"lease, PXEClient, 43.6":   {offer(corp, lease, pxe, disc), DhcpPxe10},
		"43 without PXEClient":     {offer(corp, lease, disc), DhcpOnly},
		"bios proxy (43.6, 43.10)": {offer(pxep, pxe, disc, file("undionly.kpxe")), ProxyPxe10},
		"uefi proxy (no 43)":       {offer(pxep, pxe, file("snponly.efi")), ProxyBinl},
		"mtftp proxy is dropped":   {offer(pxep, pxe, mtftp), Ignored},
		"no lease, no PXEClient":   {offer(pxep, file("x")), Ignored},
		"bootp with file":          {offer(corp, lease, bootp, file("x")), Bootp},
		"bootp without file":       {offer(corp, lease, bootp), Ignored},
		"ack is not an offer": {offer(corp, lease, func(p *dhcpv4.DHCPv4) {
			p.Options.Update(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
		}), Ignored},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := TypeOf(c.r.Packet, "PXEClient"); got != c.want {
				t.Fatalf("TypeOf = %s, want %s", got, c.want)
			}
		})
	}
}

func TestJudge(t *testing.T) {
	cases := map[string]struct {
		replies   []Reply
		boots     bool
		rule      string
		lease     net.IP // server of the lease offer taken; nil for none
		file      string
		server    net.IP
		why       string
		conflicts []conflict.Kind
	}{
		"corporate lease + pxeproxy bios": {
			replies: []Reply{offer(corp, lease), offer(pxep, pxe, disc, file("undionly.kpxe"))},
			boots:   true, rule: "3.", lease: corp, file: "undionly.kpxe", server: pxep,
		},
		"proxy first, lease second": {
			replies: []Reply{offer(pxep, pxe, file("snponly.efi")), offer(corp, lease)},
			boots:   true, rule: "6.", lease: corp, file: "snponly.efi", server: pxep, why: "port 4011",
		},
		"corporate PXEClient beats pxeproxy": {
			replies: []Reply{offer(corp, lease, pxe), offer(pxep, pxe, disc, file("undionly.kpxe"))},
			boots:   false, rule: "5.", lease: corp, server: corp, why: "PXE-E55",
			conflicts: []conflict.Kind{conflict.KindPXEClientLease},
		},
		"corporate PXEClient with discovery": {
			replies: []Reply{offer(corp, lease, pxe, disc, file("wds.com")), offer(pxep, pxe, file("snponly.efi"))},
			boots:   true, rule: "1.", lease: corp, file: "wds.com", server: corp,
			conflicts: []conflict.Kind{conflict.KindPXEClientLease},
		},
		"corporate boot file loses to pxeproxy": {
			replies: []Reply{offer(corp, lease, opt67("pxelinux.0")), offer(pxep, pxe, file("snponly.efi"))},
			boots:   true, rule: "6.", lease: corp, file: "snponly.efi", server: pxep,
			conflicts: []conflict.Kind{conflict.KindBootOptions},
		},
		"only a corporate boot file": {
			replies: []Reply{offer(corp, lease, opt67("pxelinux.0"))},
			boots:   true, rule: "7.", lease: corp, file: "pxelinux.0", server: corp,
			conflicts: []conflict.Kind{conflict.KindBootOptions},
		},
		"two proxies: the first wins": {
			replies: []Reply{offer(corp, lease), offer(pxe2, pxe, file("other.efi")), offer(pxep, pxe, file("snponly.efi"))},
			boots:   true, rule: "6.", lease: corp, file: "other.efi", server: pxe2,
			conflicts: []conflict.Kind{conflict.KindProxy, conflict.KindProxy},
		},
		"no lease": {
			replies: []Reply{offer(pxep, pxe, file("snponly.efi"))},
			why:     "PXE-E51",
		},
		"nothing": {why: "no DHCP or ProxyDHCP offer"},
		"lease without boot info": {
			replies: []Reply{offer(corp, lease)},
			lease:   corp, why: "PXE-E53",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			v := Judge(c.replies, "PXEClient")
			if v.Boots != c.boots || !strings.HasPrefix(v.Rule, c.rule) || v.File != c.file ||
				!v.Server.Equal(c.server) || !strings.Contains(v.Why, c.why) {
				t.Fatalf("verdict %+v", v)
			}
			if c.lease == nil && v.Lease != nil || c.lease != nil && (v.Lease == nil || !v.Lease.Packet.ServerIdentifier().Equal(c.lease)) {
				t.Fatalf("lease from %+v, want %v", v.Lease, c.lease)
			}
			var kinds []conflict.Kind
			for _, f := range v.Conflicts {
				kinds = append(kinds, f.Kind)
			}
			if len(kinds) != len(c.conflicts) || (len(kinds) > 0 && kinds[0] != c.conflicts[0]) {
				t.Fatalf("conflicts %v, want %v", kinds, c.conflicts)
			}
		})
	}
}

func TestDiscover(t *testing.T) {
	mac := RandomMAC()
	if mac[0]&1 != 0 || mac[0]&2 == 0 {
		t.Fatalf("random MAC %s is not unicast and locally administered", mac)
	}
	var guid [16]byte
	guid[0] = 0xaa
	for arch, vendor := range map[uint16]string{
		0:  "PXEClient:Arch:00000:UNDI:002001",
		7:  "PXEClient:Arch:00007:UNDI:003016",
		16: "HTTPClient:Arch:00016:UNDI:003000",
	} {
		p := Discover(arch, mac, dhcpv4.TransactionID{1, 2, 3, 4}, guid)
		if p.MessageType() != dhcpv4.MessageTypeDiscover || !p.IsBroadcast() ||
			string(p.Options.Get(dhcpv4.OptionClassIdentifier)) != vendor ||
			string(p.Options[93]) != string([]byte{byte(arch >> 8), byte(arch)}) ||
			len(p.Options[97]) != 17 || p.Options[97][1] != 0xaa ||
			p.ClientHWAddr.String() != mac.String() {
			t.Fatalf("arch %d:\n%s", arch, p.Summary())
		}
		// The PXE parameters must be requested, or some servers omit them.
		prl := p.ParameterRequestList()
		for _, o := range []dhcpv4.OptionCode{dhcpv4.OptionClassIdentifier, dhcpv4.OptionVendorSpecificInformation, dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName} {
			if !prl.Has(o) {
				t.Errorf("option 55 lacks %s", o)
			}
		}
	}
}
