package proxy

import (
	"fmt"
	"net"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxeproxy/pxeproxy/internal/golden"
)

var (
	testMAC    = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	testXID    = dhcpv4.TransactionID{0xde, 0xad, 0xbe, 0xef}
	testGUID   = append([]byte{0}, []byte("0123456789abcdef")...)
	testServer = net.IPv4(10, 0, 0, 1).To4()
)

// testConfig is the configuration most cases use, main's defaults, changed
// by each non-nil mod (a table case's own settings).
func testConfig(mods ...func(*Config)) *Config {
	return golden.Apply(&Config{Settings: golden.Settings()}, mods...)
}

// pkt builds a request: a BOOTREQUEST of message type mt with the given
// option 60 (none when empty) and option 93 values, changed by mods.
func pkt(mt dhcpv4.MessageType, vendor string, archs []uint16, mods ...func(*dhcpv4.DHCPv4)) *dhcpv4.DHCPv4 {
	p := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        1,
		TransactionID: testXID,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		ClientHWAddr:  testMAC,
		Options:       dhcpv4.Options{},
	}
	p.UpdateOption(dhcpv4.OptMessageType(mt))
	if vendor != "" {
		p.UpdateOption(dhcpv4.OptClassIdentifier(vendor))
	}
	if archs != nil {
		var b []byte
		for _, a := range archs {
			b = append(b, byte(a>>8), byte(a))
		}
		p.Options[dhcpv4.OptionClientSystemArchitectureType.Code()] = b
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func withOpt(code uint8, v []byte) func(*dhcpv4.DHCPv4) {
	return func(p *dhcpv4.DHCPv4) { p.Options[code] = v }
}

func withGiaddr(ip string) func(*dhcpv4.DHCPv4) {
	return func(p *dhcpv4.DHCPv4) { p.GatewayIPAddr = net.ParseIP(ip).To4() }
}

// withHLen cuts or pads chaddr to n bytes (what hlen says on the wire).
func withHLen(n int) func(*dhcpv4.DHCPv4) {
	return func(p *dhcpv4.DHCPv4) {
		p.ClientHWAddr = append(append(net.HardwareAddr(nil), p.ClientHWAddr...), make([]byte, 16)...)[:n]
	}
}

func withCiaddr(ip string) func(*dhcpv4.DHCPv4) {
	return func(p *dhcpv4.DHCPv4) { p.ClientIPAddr = net.ParseIP(ip).To4() }
}

const (
	vendorBIOS    = "PXEClient:Arch:00000:UNDI:002001"
	vendorUEFI    = "PXEClient:Arch:00007:UNDI:003016"
	vendorHTTPx64 = "HTTPClient:Arch:00016:UNDI:003001"
)

// render prints a reply as stable text: every BOOTP header field and every
// option in code order, values in hex so that nothing is hidden by a
// decoder's idea of the option.
func render(p *dhcpv4.DHCPv4) string {
	var b strings.Builder
	fmt.Fprintf(&b, "op=%d htype=%d hlen=%d hops=%d xid=%s secs=%d flags=%#04x\n",
		p.OpCode, p.HWType, len(p.ClientHWAddr), p.HopCount, p.TransactionID, p.NumSeconds, p.Flags)
	fmt.Fprintf(&b, "ciaddr=%s yiaddr=%s siaddr=%s giaddr=%s chaddr=%s\n",
		ip4(p.ClientIPAddr), ip4(p.YourIPAddr), ip4(p.ServerIPAddr), ip4(p.GatewayIPAddr), p.ClientHWAddr)
	fmt.Fprintf(&b, "sname=%q file=%q\n", p.ServerHostName, p.BootFileName)
	for c := 1; c < 255; c++ {
		v, ok := p.Options[uint8(c)]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "opt %d = %x", c, v)
		if printable(v) {
			fmt.Fprintf(&b, " %q", v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func ip4(ip net.IP) string {
	if ip == nil {
		return "<nil>"
	}
	return ip.String()
}

func printable(v []byte) bool {
	if len(v) < 3 {
		return false
	}
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
