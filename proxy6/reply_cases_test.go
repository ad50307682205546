package proxy6

import (
	"net"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxeproxy/pxeproxy/internal/macprefix"
)

type replyCase struct {
	req []byte // the datagram as it arrives
	in  Ingress
	cfg func(*Config)
	err error // sentinel the error must wrap
}

var (
	solicit    = dhcpv6.MessageTypeSolicit
	request    = dhcpv6.MessageTypeRequest
	infoReq    = dhcpv6.MessageTypeInformationRequest
	edk2x64    = edk2Options(vendorPXE, 7)
	privacyLL  = net.ParseIP("fe80::a1b2:c3d4:e5f6:789") // RFC 7217 style: no MAC inside
	duidLL     = append([]byte{0, 3, 0, 1}, testMAC...)
	duidLLT    = append([]byte{0, 1, 0, 1, 0x2c, 0x11, 0x22, 0x33}, testMAC...)
	optLinkMAC = opt{dhcpv6.OptionClientLinkLayerAddr, append([]byte{0, 1}, 0x52, 0x54, 0x00, 0x77, 0x88, 0x99)}
	interfaceX = opt{dhcpv6.OptionInterfaceID, []byte("Gi0/1.42")}
)

func withSrc(in Ingress, ip net.IP, port int) Ingress {
	in.Src = &net.UDPAddr{IP: ip, Port: port, Zone: in.Src.Zone}
	return in
}

func withTransportMAC(in Ingress, mac net.HardwareAddr) Ingress {
	in.MAC = mac
	return in
}

// nested wraps a message in n relays, the outermost with interface-id.
func nested(inner []byte, n int) []byte {
	for i := range n {
		inner = relayFwd(inner, uint8(i), net.ParseIP("2001:db8:2::fe"), net.ParseIP("fe80::1"), interfaceX)
	}
	return inner
}

var replyCases = map[string]replyCase{
	"edk2 x64 solicit gets a proxy advertise": {
		req: msgBytes(solicit, edk2x64), in: ingress547,
	},
	"edk2 arm64 solicit": {
		req: msgBytes(solicit, edk2Options(vendorPXE, 11)), in: ingress547,
	},
	"edk2 ia32 solicit with duid-llt: mac from duid": {
		req: msgBytes(solicit, with(edk2Options(vendorPXE, 6), dhcpv6.OptionClientID, duidLLT)), in: withSrc(ingress547, privacyLL, PortClient),
	},
	"several archs: first known one wins": {
		req: msgBytes(solicit, with(edk2x64, dhcpv6.OptionClientArchType, u16(0x8000, 11, 7))), in: ingress547,
	},
	"4011 request naming us gets a reply": {
		req: msgBytes(request, edk2Request4011(7, testServerID)), in: ingress4011,
	},
	"4011 request with configured server id": {
		req: msgBytes(request, edk2Request4011(7, siteServerID)), in: ingress4011,
		cfg: func(c *Config) { c.ServerID = siteServerID },
	},
	"4011 request naming the site server is not ours": {
		req: msgBytes(request, edk2Request4011(7, siteServerID)), in: ingress4011,
		err: ErrNotForUs,
	},
	"4011 request without server id is not ours": {
		req: msgBytes(request, without(edk2Request4011(7, testServerID), dhcpv6.OptionServerID)), in: ingress4011,
		err: ErrNotForUs,
	},
	"4011 request with an ia_na is a lease request": {
		req: msgBytes(request, append(edk2Request4011(7, testServerID), opt{dhcpv6.OptionIANA, make([]byte, 12)})), in: ingress4011,
		err: ErrNotForUs,
	},
	"lease request on 547 is the site server's": {
		req: msgBytes(request, with(edk2x64, dhcpv6.OptionServerID, siteServerID)), in: ingress547,
		err: ErrNotForUs,
	},
	"request on 547 naming us is still not answered": {
		req: msgBytes(request, edk2Request4011(7, testServerID)), in: ingress547,
		err: ErrNotForUs,
	},
	"solicit on 4011 is ignored": {
		req: msgBytes(solicit, edk2x64), in: ingress4011,
		err: ErrMessageType,
	},
	"ipxe solicit gets the script": {
		req: msgBytes(solicit, append(ipxeOptions(7), opt{dhcpv6.OptionIANA, make([]byte, 12)})), in: ingress547,
	},
	"ipxe information-request gets the script": {
		req: msgBytes(infoReq, ipxeOptions(7)), in: ingress547,
	},
	"ipxe information-request with duid-ll and no vendor class, script as url": {
		req: msgBytes(infoReq, without(with(ipxeOptions(7), dhcpv6.OptionClientID, duidLL), dhcpv6.OptionVendorClass)), in: ingress547,
		cfg: func(c *Config) { c.IPXEScript = "http://[2001:db8:1::9]/boot.ipxe" },
	},
	"ipxe without script configured gets its arch's file": {
		req: msgBytes(infoReq, ipxeOptions(11)), in: ingress547,
		cfg: func(c *Config) { c.IPXEScript = "" },
	},
	"ipxe without arch and without script": {
		req: msgBytes(infoReq, without(ipxeOptions(7), dhcpv6.OptionClientArchType)), in: ingress547,
		cfg: func(c *Config) { c.IPXEScript = "" },
		err: ErrNoArch,
	},
	"information-request from edk2 (not ipxe) is the site server's": {
		req: msgBytes(infoReq, without(edk2x64, dhcpv6.OptionIANA)), in: ingress547,
		err: ErrMessageType,
	},
	"ordinary client solicit": {
		req: msgBytes(solicit, []opt{{dhcpv6.OptionClientID, duidLLT}, {dhcpv6.OptionORO, u16(23, 24)}, {dhcpv6.OptionIANA, make([]byte, 12)}}), in: ingress547,
		err: ErrNotPXE,
	},
	"windows vendor class": {
		req: msgBytes(solicit, with(edk2x64, dhcpv6.OptionVendorClass, vendorClass(311, "MSFT 5.0"))), in: ingress547,
		err: ErrNotPXE,
	},
	"PXEClient under another enterprise number": {
		req: msgBytes(solicit, with(edk2x64, dhcpv6.OptionVendorClass, vendorClass(9, pxeVendor(vendorPXE, 7)))), in: ingress547,
		err: ErrNotPXE,
	},
	"solicit not asking for option 59": {
		req: msgBytes(solicit, with(edk2x64, dhcpv6.OptionORO, u16(23, 24))), in: ingress547,
		err: ErrNotRequested,
	},
	"solicit without option 61": {
		req: msgBytes(solicit, without(edk2x64, dhcpv6.OptionClientArchType)), in: ingress547,
		err: ErrNoArch,
	},
	"solicit without client id": {
		req: msgBytes(solicit, without(edk2x64, dhcpv6.OptionClientID)), in: ingress547,
		err: ErrMalformed,
	},
	"solicit naming a server": {
		req: msgBytes(solicit, append(edk2x64, opt{dhcpv6.OptionServerID, siteServerID})), in: ingress547,
		err: ErrMalformed,
	},
	"architecture without boot file": {
		req: msgBytes(solicit, edk2Options(vendorPXE, 10)), in: ingress547,
		err: ErrNoBootFile,
	},
	"http boot x64 gets an ip-literal http url": {
		req: msgBytes(solicit, edk2Options(vendorHTTP, 16)), in: ingress547,
		cfg: func(c *Config) { c.HTTPPort = 8080 },
	},
	"http boot arm64 with external base url": {
		req: msgBytes(solicit, edk2Options(vendorHTTP, 19)), in: ingress547,
		cfg: func(c *Config) { c.HTTPURL = "http://[2001:db8:1::7]/boot/" },
	},
	"http boot with an unknown arch (999) gets no bios file": {
		req: msgBytes(solicit, edk2Options(vendorHTTP, 999)), in: ingress547,
		cfg: func(c *Config) { c.HTTPPort = 8080 },
		err: ErrNoBootFile,
	},
	"http boot with arch 0xffff gets no bios file": {
		req: msgBytes(solicit, edk2Options(vendorHTTP, 0xffff)), in: ingress547,
		cfg: func(c *Config) { c.HTTPPort = 8080 },
		err: ErrNoBootFile,
	},
	"http boot without http configured": {
		req: msgBytes(solicit, edk2Options(vendorHTTP, 16)), in: ingress547,
		err: ErrNoHTTP,
	},
	"relayed solicit: relay-repl with interface-id, mac from option 79": {
		req: relayFwd(msgBytes(solicit, edk2x64), 0, net.ParseIP("2001:db8:3::1"), testLinkLocal, interfaceX, optLinkMAC),
		in:  ingressRelay,
	},
	"two relays: both envelopes mirrored, mac from peer address": {
		req: relayFwd(relayFwd(msgBytes(solicit, edk2x64), 0, net.ParseIP("2001:db8:3::1"), testLinkLocal, interfaceX),
			1, net.ParseIP("::"), net.ParseIP("2001:db8:3::1")),
		in: ingressRelay,
	},
	"eight relays is the limit": {
		req: nested(msgBytes(solicit, edk2x64), 8), in: ingressRelay,
	},
	"nine relays is forged": {
		req: nested(msgBytes(solicit, edk2x64), 9), in: ingressRelay,
		err: ErrRelayTooDeep,
	},
	"relay-forw without relay message": {
		req: append([]byte{12, 0}, make([]byte, 32)...), in: ingressRelay,
		err: ErrMalformed,
	},
	"relay-forw on 4011": {
		req: relayFwd(msgBytes(request, edk2Request4011(7, testServerID)), 0, net.ParseIP("2001:db8:3::1"), testLease),
		in:  withSrc(ingress4011, testRelayAddr, PortDHCP),
		err: ErrMessageType,
	},
	"another server's advertise": {
		req: msgBytes(dhcpv6.MessageTypeAdvertise, with(edk2x64, dhcpv6.OptionServerID, siteServerID)), in: ingress547,
		err: ErrMessageType,
	},
	"a relay-repl": {
		req: append([]byte{13}, relayFwd(msgBytes(solicit, edk2x64), 0, testServer, testLinkLocal)[1:]...), in: ingressRelay,
		err: ErrMessageType,
	},
	"renew from a pxe client": {
		req: msgBytes(dhcpv6.MessageTypeRenew, with(edk2x64, dhcpv6.OptionServerID, siteServerID)), in: ingress547,
		err: ErrMessageType,
	},
	"no global address on the ingress interface": {
		req: msgBytes(solicit, edk2x64), in: func() Ingress { in := ingress547; in.Addr = nil; return in }(),
		err: ErrNoServerAddr,
	},
	"advertised server address (PXE_SERVER_IP6)": {
		req: msgBytes(solicit, edk2x64), in: ingress547,
		cfg: func(c *Config) { c.ServerIP = net.ParseIP("fd00:1::10") },
	},
	"link-local server address is refused": {
		req: msgBytes(solicit, edk2x64), in: ingress547,
		cfg: func(c *Config) { c.ServerIP = net.ParseIP("fe80::1") },
		err: ErrNoServerAddr,
	},
	"no server id": {
		req: msgBytes(solicit, edk2x64), in: func() Ingress { in := ingress547; in.HWAddr = nil; return in }(),
		err: ErrNoServerID,
	},
	"denied eui-64 mac gets nothing": {
		req: msgBytes(solicit, edk2x64), in: ingress547,
		cfg: func(c *Config) { c.Deny = []macprefix.Prefix{{0x52, 0x54, 0x00}} },
		err: ErrDenied,
	},
	"deny wins over allow": {
		req: msgBytes(solicit, edk2x64), in: ingress547,
		cfg: func(c *Config) {
			c.Allow = []macprefix.Prefix{{0x52, 0x54, 0x00}}
			c.Deny = []macprefix.Prefix{macprefix.Prefix(testMAC)}
		},
		err: ErrDenied,
	},
	"mac outside the allow list": {
		req: msgBytes(solicit, edk2x64), in: ingress547,
		cfg: func(c *Config) { c.Allow = []macprefix.Prefix{{0x00, 0x1b, 0x21}} },
		err: ErrNotAllowed,
	},
	"unknown mac and an allow list": {
		req: msgBytes(solicit, edk2x64), in: withSrc(ingress547, privacyLL, PortClient),
		cfg: func(c *Config) { c.Allow = []macprefix.Prefix{{0x52, 0x54, 0x00}} },
		err: ErrNotAllowed,
	},
	"unknown mac and only a deny list is answered": {
		req: msgBytes(solicit, edk2x64), in: withSrc(ingress547, privacyLL, PortClient),
		cfg: func(c *Config) { c.Deny = []macprefix.Prefix{macprefix.Prefix(testMAC)} },
	},
	"relay option 79 mac denied": {
		req: relayFwd(msgBytes(solicit, edk2x64), 0, net.ParseIP("2001:db8:3::1"), testLinkLocal, optLinkMAC),
		in:  ingressRelay,
		cfg: func(c *Config) { c.Deny = []macprefix.Prefix{{0x52, 0x54, 0x00, 0x77, 0x88, 0x99}} },
		err: ErrDenied,
	},
	"allowed oui with per-mac boot file, longest prefix wins": {
		req: msgBytes(solicit, edk2x64), in: ingress547,
		cfg: func(c *Config) {
			c.Allow = []macprefix.Prefix{{0x52, 0x54, 0x00}}
			c.MACBootFiles = []macprefix.BootFile{{Prefix: macprefix.Prefix{0x52, 0x54, 0x00}, File: "oui.efi"}, {Prefix: macprefix.Prefix(testMAC), File: "this-machine.efi"}, {Prefix: macprefix.Prefix{0x52}, File: "short.efi"}}
		},
	},
	"4011 request: per-mac file from the mac the transport learnt": {
		req: msgBytes(request, edk2Request4011(7, testServerID)), in: withTransportMAC(ingress4011, testMAC),
		cfg: func(c *Config) {
			c.Allow = []macprefix.Prefix{macprefix.Prefix(testMAC)}
			c.MACBootFiles = []macprefix.BootFile{{Prefix: macprefix.Prefix(testMAC), File: "this-machine.efi"}}
		},
	},
	"4011 request from a global address with an allow list and no learnt mac": {
		req: msgBytes(request, edk2Request4011(7, testServerID)), in: ingress4011,
		cfg: func(c *Config) { c.Allow = []macprefix.Prefix{macprefix.Prefix(testMAC)} },
		err: ErrNotAllowed,
	},
	"per-mac boot file does not apply to ipxe": {
		req: msgBytes(infoReq, ipxeOptions(7)), in: ingress547,
		cfg: func(c *Config) {
			c.MACBootFiles = []macprefix.BootFile{{Prefix: macprefix.Prefix(testMAC), File: "this-machine.efi"}}
		},
	},
	"boot file name is percent-encoded": {
		req: msgBytes(solicit, edk2x64), in: ingress547,
		cfg: func(c *Config) { c.BootFiles[7] = `/boot\x64\wds mgfw;mode=netascii%.efi` },
	},
	"boot file given as a url is sent as it is": {
		req: msgBytes(solicit, edk2x64), in: ingress547,
		cfg: func(c *Config) { c.BootFiles[7] = "tftp://[2001:db8:1::20]/x64/grubnetx64.efi" },
	},
}
