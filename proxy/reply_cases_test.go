package proxy

import (
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxeproxy/pxeproxy/internal/macprefix"
)

var (
	opt93  = dhcpv4.OptionClientSystemArchitectureType.Code()
	opt97  = dhcpv4.OptionClientMachineIdentifier.Code()
	opt77  = dhcpv4.OptionUserClassInformation.Code()
	opt175 = dhcpv4.OptionEtherboot.Code()
	opt43  = dhcpv4.OptionVendorSpecificInformation.Code()
)

// ingress67 and ingress4011 are where the cases' requests arrive.
var (
	testNets    = []*net.IPNet{{IP: testServer, Mask: net.CIDRMask(24, 32)}}
	ingress67   = Ingress{Port: PortDHCP, IfIndex: 2, IfName: "eth0", Addr: testServer, Src: &net.UDPAddr{IP: net.IPv4zero, Port: 68}, Nets: testNets}
	ingress4011 = Ingress{Port: PortPXE, IfIndex: 2, IfName: "eth0", Addr: testServer, Src: &net.UDPAddr{IP: net.IPv4(10, 0, 0, 57), Port: 4011}, Nets: testNets}
)

type replyCase struct {
	req *dhcpv4.DHCPv4
	in  Ingress
	cfg func(*Config)
	err error // sentinel the error must wrap
}

var replyCases = map[string]replyCase{
	"bios discover gets option 43 and undionly": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withOpt(opt97, testGUID)),
		in:  ingress67,
	},
	"uefi x64 (7) gets no option 43": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorUEFI, []uint16{7}, withOpt(opt97, testGUID)),
		in:  ingress67,
	},
	"uefi x64 (9) without guid": {
		req: pkt(dhcpv4.MessageTypeDiscover, "PXEClient:Arch:00009:UNDI:003016", []uint16{9}),
		in:  ingress67,
	},
	"uefi ia32 and arm64": {
		req: pkt(dhcpv4.MessageTypeDiscover, "PXEClient:Arch:00011:UNDI:003000", []uint16{11}),
		in:  ingress67,
	},
	"several archs: first known one wins": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorUEFI, []uint16{0x8000, 7, 0}),
		in:  ingress67,
	},
	"ipxe by user class gets the script": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withOpt(opt77, []byte("iPXE"))),
		in:  ingress67,
	},
	"ipxe by option 175 gets the script": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorUEFI, []uint16{7}, withOpt(opt175, []byte{0x13, 1, 1})),
		in:  ingress67,
	},
	"ipxe script as url": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorUEFI, []uint16{7}, withOpt(opt77, []byte("iPXE"))),
		in:  ingress67,
		cfg: func(c *Config) { c.IPXEScript = "http://10.0.0.9/boot.ipxe" },
	},
	"http client gets an ip-literal url": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorHTTPx64, []uint16{16}),
		in:  ingress67,
		cfg: func(c *Config) { c.HTTPPort = 8080 },
	},
	"http client with external base url": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorHTTPx64, []uint16{16}),
		in:  ingress67,
		cfg: func(c *Config) { c.HTTPURL = "http://10.0.0.7/boot/" },
	},
	"http client without http configured": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorHTTPx64, []uint16{16}),
		in:  ingress67,
		err: ErrNoHTTP,
	},
	"external boot server (wds)": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorUEFI, []uint16{7}),
		in:  ingress67,
		cfg: func(c *Config) {
			c.BootServer = net.IPv4(10, 0, 0, 20)
			c.BootFiles[7] = `boot\x64\wdsmgfw.efi`
		},
	},
	"advertised server ip (nat)": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}),
		in:  ingress67,
		cfg: func(c *Config) { c.ServerIP = net.IPv4(192, 0, 2, 10) },
	},
	"relayed discover keeps giaddr": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withGiaddr("10.1.0.1"), func(p *dhcpv4.DHCPv4) { p.HopCount = 1 }),
		in:  ingress67,
	},
	"4011 request with boot item gets ack echoing 43.71": {
		req: pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}, withCiaddr("10.0.0.57"), withOpt(opt97, testGUID),
			withOpt(opt43, []byte{71, 4, 0x80, 0x00, 0x00, 0x00, 255})),
		in: ingress4011,
	},
	"4011 inform without 93 is bios": {
		req: pkt(dhcpv4.MessageTypeInform, vendorBIOS, nil, withCiaddr("10.0.0.57")),
		in:  ingress4011,
	},
	"ordinary dhcp discover is ignored": {
		req: pkt(dhcpv4.MessageTypeDiscover, "MSFT 5.0", nil),
		in:  ingress67,
		err: ErrNotPXE,
	},
	"discover without option 60 is ignored": {
		req: pkt(dhcpv4.MessageTypeDiscover, "", []uint16{0}),
		in:  ingress67,
		err: ErrNotPXE,
	},
	"pxe request on 67 is the dhcp server's": {
		req: pkt(dhcpv4.MessageTypeRequest, vendorBIOS, []uint16{0}),
		in:  ingress67,
		err: ErrMessageType,
	},
	"pxe discover on 4011 is ignored": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}),
		in:  ingress4011,
		err: ErrMessageType,
	},
	"release is ignored": {
		req: pkt(dhcpv4.MessageTypeRelease, vendorBIOS, []uint16{0}),
		in:  ingress67,
		err: ErrMessageType,
	},
	"pxe discover without option 93": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, nil),
		in:  ingress67,
		err: ErrNoArch,
	},
	"odd option 93": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, nil, withOpt(opt93, []byte{0, 7, 1})),
		in:  ingress67,
		err: ErrMalformed,
	},
	"architecture without boot file": {
		req: pkt(dhcpv4.MessageTypeDiscover, "PXEClient:Arch:00010:UNDI:003000", []uint16{10}),
		in:  ingress67,
		err: ErrNoBootFile,
	},
	"architecture switched off by an empty file": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}),
		in:  ingress67,
		cfg: func(c *Config) { delete(c.BootFiles, 0) },
		err: ErrNoBootFile,
	},
	"a reply is not a request": {
		req: pkt(dhcpv4.MessageTypeOffer, vendorBIOS, []uint16{0}, func(p *dhcpv4.DHCPv4) { p.OpCode = dhcpv4.OpcodeBootReply }),
		in:  ingress67,
		err: ErrNotRequest,
	},
	"no address on the ingress interface": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}),
		in:  Ingress{Port: PortDHCP, IfName: "eth1"},
		err: ErrNoServerAddr,
	},
	"denied mac prefix gets nothing": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}),
		in:  ingress67,
		cfg: func(c *Config) { c.Deny = []macprefix.Prefix{{0x52, 0x54, 0x00}} },
		err: ErrDenied,
	},
	"deny wins over allow": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}),
		in:  ingress67,
		cfg: func(c *Config) {
			c.Allow = []macprefix.Prefix{{0x52, 0x54, 0x00}}
			c.Deny = []macprefix.Prefix{macprefix.Prefix(testMAC)}
		},
		err: ErrDenied,
	},
	"mac outside the allow list gets nothing": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}),
		in:  ingress67,
		cfg: func(c *Config) { c.Allow = []macprefix.Prefix{{0x00, 0x1b, 0x21}} },
		err: ErrNotAllowed,
	},
	"allowed oui is answered with its per-mac boot file, longest prefix wins": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorUEFI, []uint16{7}),
		in:  ingress67,
		cfg: func(c *Config) {
			c.Allow = []macprefix.Prefix{{0x52, 0x54, 0x00}}
			c.MACBootFiles = []macprefix.BootFile{{Prefix: macprefix.Prefix{0x52, 0x54, 0x00}, File: "oui.efi"}, {Prefix: macprefix.Prefix(testMAC), File: "this-machine.efi"}, {Prefix: macprefix.Prefix{0x52}, File: "short.efi"}}
		},
	},
	"per-mac boot file does not apply to ipxe": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorUEFI, []uint16{7}, withOpt(opt77, []byte("iPXE"))),
		in:  ingress67,
		cfg: func(c *Config) {
			c.MACBootFiles = []macprefix.BootFile{{Prefix: macprefix.Prefix(testMAC), File: "this-machine.efi"}}
		},
	},
	"request on 67 is ignored by default even when it names us": {
		req: pkt(dhcpv4.MessageTypeRequest, vendorBIOS, []uint16{0}, withOpt(54, testServer)),
		in:  ingress67,
		err: ErrMessageType,
	},
	"quirk: request on 67 naming us gets an ack": {
		req: pkt(dhcpv4.MessageTypeRequest, vendorBIOS, []uint16{0}, withOpt(54, testServer)),
		in:  ingress67,
		cfg: func(c *Config) { c.AnswerRequest67 = true },
	},
	"hlen 0 cannot slip past the deny list": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withHLen(0)),
		in:  ingress67,
		cfg: func(c *Config) { c.Deny = []macprefix.Prefix{macprefix.Prefix(testMAC)} },
		err: ErrBadHWAddr,
	},
	"hlen 3 cannot slip past the deny list": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withHLen(3)),
		in:  ingress67,
		cfg: func(c *Config) { c.Deny = []macprefix.Prefix{macprefix.Prefix(testMAC)} },
		err: ErrBadHWAddr,
	},
	"hlen 5 is not ethernet": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withHLen(5)),
		in:  ingress67,
		err: ErrBadHWAddr,
	},
	"hlen 16 on 4011 is not ethernet": {
		req: pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}, withCiaddr("10.0.0.57"), withHLen(16)),
		in:  ingress4011,
		err: ErrBadHWAddr,
	},
	"htype 6 (ieee 802) is not ethernet": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, func(p *dhcpv4.DHCPv4) { p.HWType = 6 }),
		in:  ingress67,
		err: ErrBadHWAddr,
	},
	"http client with an unknown arch (999) gets no bios file": {
		req: pkt(dhcpv4.MessageTypeDiscover, "HTTPClient:Arch:00999:UNDI:003001", []uint16{999}),
		in:  ingress67,
		cfg: func(c *Config) { c.HTTPPort = 8080 },
		err: ErrNoBootFile,
	},
	"http client with arch 0xffff gets no bios file": {
		req: pkt(dhcpv4.MessageTypeDiscover, "HTTPClient:Arch:65535:UNDI:003001", []uint16{0xffff}),
		in:  ingress67,
		cfg: func(c *Config) { c.HTTPPort = 8080 },
		err: ErrNoBootFile,
	},
	"http client x86 bios http (20) gets the bios file": {
		req: pkt(dhcpv4.MessageTypeDiscover, "HTTPClient:Arch:00020:UNDI:003001", []uint16{20}),
		in:  ingress67,
		cfg: func(c *Config) { c.HTTPPort = 8080 },
	},
	"giaddr broadcast is no relay": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withGiaddr("255.255.255.255")),
		in:  ingress67,
		err: ErrBadGiaddr,
	},
	"giaddr of our own is no relay": {
		req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withGiaddr("10.0.0.1")),
		in:  ingress67,
		err: ErrBadGiaddr,
	},
	"4011 request to a service port off the segment": {
		req: pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}, withCiaddr("8.8.8.8")),
		in:  Ingress{Port: PortPXE, IfIndex: 2, IfName: "eth0", Addr: testServer, Src: &net.UDPAddr{IP: net.IPv4(8, 8, 8, 8), Port: 53}, Nets: testNets},
		err: ErrBadSource,
	},
	"quirk: request on 67 naming the site server is not ours": {
		req: pkt(dhcpv4.MessageTypeRequest, vendorBIOS, []uint16{0}, withOpt(54, []byte{10, 0, 0, 254})),
		in:  ingress67,
		cfg: func(c *Config) { c.AnswerRequest67 = true },
		err: ErrNotForUs,
	},
}
