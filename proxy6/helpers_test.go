package proxy6

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxeproxy/pxeproxy/internal/golden"
)

var (
	testMAC       = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	testLinkLocal = net.ParseIP("fe80::5054:ff:fe12:3456") // EUI-64 of testMAC, as EDK2 makes it
	testLease     = net.ParseIP("2001:db8:1::1c3")         // what the site server leased
	testServer    = net.ParseIP("2001:db8:1::1")
	testServerMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc}
	testXID       = dhcpv6.TransactionID{0xab, 0xcd, 0xef}
	// testUUID is a DUID-UUID as EDK2 sends it when SMBIOS has a system
	// UUID (OVMF does): type 4, then the EFI_GUID bytes.
	testUUID      = append([]byte{0, 4}, []byte("0123456789abcdef")...)
	testServerID  = DUIDLL(testServerMAC)
	siteServerID  = append([]byte{0, 1, 0, 1, 0x2c, 0x11, 0x22, 0x33}, 0x52, 0x54, 0x00, 0x99, 0x99, 0x99)
	testRelayAddr = net.ParseIP("2001:db8:2::fe")
)

// ingress547 and ingress4011 are where the cases' requests arrive.
var (
	ingress547 = Ingress{Port: PortDHCP, IfIndex: 2, IfName: "eth0", Addr: testServer, HWAddr: testServerMAC,
		Src: &net.UDPAddr{IP: testLinkLocal, Port: PortClient, Zone: "eth0"}}
	ingress4011 = Ingress{Port: PortPXE, IfIndex: 2, IfName: "eth0", Addr: testServer, HWAddr: testServerMAC,
		Src: &net.UDPAddr{IP: testLease, Port: PortPXE}}
	ingressRelay = Ingress{Port: PortDHCP, IfIndex: 2, IfName: "eth0", Addr: testServer, HWAddr: testServerMAC,
		Src: &net.UDPAddr{IP: testRelayAddr, Port: PortDHCP}}
)

// testConfig is the configuration most cases use, main's defaults, changed
// by each non-nil mod (a table case's own settings).
func testConfig(mods ...func(*Config)) *Config {
	return golden.Apply(&Config{Settings: golden.Settings()}, mods...)
}

// opt is one option in wire order.
type opt struct {
	code dhcpv6.OptionCode
	val  []byte
}

func u16(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint16(b, x)
	}
	return b
}

// vendorClass is option 16: enterprise number, then each class data with
// its length (RFC 8415 21.16).
func vendorClass(enterprise uint32, data ...string) []byte {
	b := binary.BigEndian.AppendUint32(nil, enterprise)
	for _, d := range data {
		b = binary.BigEndian.AppendUint16(b, uint16(len(d)))
		b = append(b, d...)
	}
	return b
}

// userClass is option 15 (RFC 8415 21.15).
func userClass(classes ...string) []byte {
	var b []byte
	for _, c := range classes {
		b = binary.BigEndian.AppendUint16(b, uint16(len(c)))
		b = append(b, c...)
	}
	return b
}

// pxeVendor is EDK2's vendor class data (PXEBC_CLASS_ID, PxeBcDhcp6.h):
// "PXEClient:Arch:" + 5 decimal digits + ":UNDI:" + major and minor, 3
// digits each, from the NII protocol (UNDI 3.0 on OVMF's virtio-net).
func pxeVendor(class string, arch uint16) string {
	return fmt.Sprintf("%s:Arch:%05d:UNDI:003000", class, arch)
}

// edk2Options are the options of EDK2's SOLICIT in its order: Dhcp6Io.c
// Dhcp6SendSolicitMsg appends Client ID, Elapsed Time and an empty IA_NA
// (T1 = T2 = 0, no address), then the PXE driver's list from
// PxeBcBuildDhcp6Options: ORO (59, 60, 23, 16), UNDI (62: type 1, 3.0),
// architecture (61) and vendor class (16, enterprise 343).
func edk2Options(class string, arch uint16) []opt {
	return []opt{
		{dhcpv6.OptionClientID, testUUID},
		{dhcpv6.OptionElapsedTime, u16(0)},
		{dhcpv6.OptionIANA, []byte{0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0, 0, 0, 0, 0}},
		{dhcpv6.OptionORO, u16(59, 60, 23, 16)},
		{dhcpv6.OptionNII, []byte{1, 3, 0}},
		{dhcpv6.OptionClientArchType, u16(arch)},
		{dhcpv6.OptionVendorClass, vendorClass(enterprisePXE, pxeVendor(class, arch))},
	}
}

// edk2Request4011 is EDK2's boot-server REQUEST (PxeBcRequestBootService):
// our Server ID first, then the options of its lease REQUEST but IA_NA,
// IA_TA and the site server's ID; the transaction id of our offer.
func edk2Request4011(arch uint16, serverID []byte) []opt {
	opts := []opt{{dhcpv6.OptionServerID, serverID}}
	for _, o := range edk2Options(vendorPXE, arch) {
		if o.code != dhcpv6.OptionIANA {
			opts = append(opts, o)
		}
	}
	return opts
}

// ipxeOptions are today's iPXE request options (dhcpv6.c dhcpv6_tx and
// dhcpv6_request_options_data): Client ID (DUID-UUID), ORO (23, 24, 59, 60),
// vendor class 343 PXEClient, architecture, NDI, user class "iPXE", Elapsed
// Time.
func ipxeOptions(arch uint16) []opt {
	return []opt{
		{dhcpv6.OptionClientID, testUUID},
		{dhcpv6.OptionORO, u16(23, 24, 59, 60)},
		{dhcpv6.OptionVendorClass, vendorClass(enterprisePXE, fmt.Sprintf("PXEClient:Arch:%05d:UNDI:003010", arch))},
		{dhcpv6.OptionClientArchType, u16(arch)},
		{dhcpv6.OptionNII, []byte{1, 3, 10}},
		{dhcpv6.OptionUserClass, userClass("iPXE")},
		{dhcpv6.OptionElapsedTime, u16(0)},
	}
}

// msgBytes encodes a client message.
func msgBytes(mt dhcpv6.MessageType, opts []opt) []byte {
	b := []byte{byte(mt), testXID[0], testXID[1], testXID[2]}
	return appendOpts(b, opts)
}

func appendOpts(b []byte, opts []opt) []byte {
	for _, o := range opts {
		b = binary.BigEndian.AppendUint16(b, uint16(o.code))
		b = binary.BigEndian.AppendUint16(b, uint16(len(o.val)))
		b = append(b, o.val...)
	}
	return b
}

// relayFwd wraps inner in a RELAY-FORW from a relay with link and peer
// addresses, and extra options before the relay message.
func relayFwd(inner []byte, hops uint8, link, peer net.IP, extra ...opt) []byte {
	b := append([]byte{byte(dhcpv6.MessageTypeRelayForward), hops}, link.To16()...)
	b = append(b, peer.To16()...)
	return appendOpts(b, append(extra, opt{dhcpv6.OptionRelayMsg, inner}))
}

// without returns opts without code; with replaces or appends it.
func without(opts []opt, code dhcpv6.OptionCode) []opt {
	var out []opt
	for _, o := range opts {
		if o.code != code {
			out = append(out, o)
		}
	}
	return out
}

func with(opts []opt, code dhcpv6.OptionCode, val []byte) []opt {
	return append(without(opts, code), opt{code, val})
}

func decode(t testing.TB, b []byte) dhcpv6.DHCPv6 {
	t.Helper()
	m, err := dhcpv6.FromBytes(b)
	if err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	return m
}

// render prints a message as stable text: header fields and every option
// in wire order, values in hex so that nothing is hidden by a decoder's idea
// of the option; relay messages nest, indented.
func render(p dhcpv6.DHCPv6) string {
	var b strings.Builder
	renderTo(&b, p, "")
	return b.String()
}

func renderTo(b *strings.Builder, p dhcpv6.DHCPv6, indent string) {
	switch m := p.(type) {
	case *dhcpv6.Message:
		fmt.Fprintf(b, "%s%s xid=%x\n", indent, m.MessageType, m.TransactionID[:])
		renderOpts(b, m.Options.Options, indent)
	case *dhcpv6.RelayMessage:
		fmt.Fprintf(b, "%s%s hops=%d link=%s peer=%s\n", indent, m.MessageType, m.HopCount, m.LinkAddr, m.PeerAddr)
		renderOpts(b, m.Options.Options, indent)
	default:
		fmt.Fprintf(b, "%s%T\n", indent, p)
	}
}

func renderOpts(b *strings.Builder, opts dhcpv6.Options, indent string) {
	for _, o := range opts {
		if o.Code() == dhcpv6.OptionRelayMsg {
			fmt.Fprintf(b, "%s  opt %d (%s):\n", indent, o.Code(), o.Code())
			inner, err := dhcpv6.FromBytes(o.ToBytes())
			if err != nil {
				fmt.Fprintf(b, "%s    undecodable %x\n", indent, o.ToBytes())
				continue
			}
			renderTo(b, inner, indent+"    ")
			continue
		}
		v := o.ToBytes()
		fmt.Fprintf(b, "%s  opt %d (%s) = %x", indent, o.Code(), o.Code(), v)
		if printable(v) {
			fmt.Fprintf(b, " %q", v)
		}
		b.WriteByte('\n')
	}
}

func printable(v []byte) bool {
	n := 0
	for _, c := range v {
		if c >= 0x20 && c <= 0x7e {
			n++
		}
	}
	return len(v) >= 4 && n*4 >= len(v)*3
}
