// Package proxy decides what a ProxyDHCP server answers to PXE clients.
//
// Contract: pxeproxy never assigns an address. Every reply built here has
// yiaddr 0.0.0.0, echoes the request's xid, htype/hlen and chaddr, and is
// addressed only to PXE firmware (option 60 "PXEClient" or "HTTPClient").
// Ordinary DHCP traffic is never answered: the site's DHCP server owns the
// lease. The rules and their sources are in docs/pxe-notes.md.
//
// The decision (Reply) and the destination rule (Destination) are pure
// functions; Server is the thin socket loop around them, over a Transport
// (ConnTransport here, or the Linux sockets of package dhcpsock). The
// package builds and its tests run on any OS.
package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxeproxy/pxeproxy/internal/dhcpserve"
	"github.com/pxeproxy/pxeproxy/internal/pxearch"
	"github.com/pxeproxy/pxeproxy/internal/pxeboot"
	"github.com/pxeproxy/pxeproxy/internal/pxeclass"
)

// Ports the proxy listens on.
const (
	PortDHCP = 67   // PXE DHCPDISCOVER, broadcast or relayed
	PortPXE  = 4011 // PXE boot-server requests, unicast
)

// Reasons a packet is not answered. Their texts double as the stable
// `reason` label in logs and metrics, so keep them short and unchanged.
var (
	ErrMalformed    = errors.New("malformed")
	ErrNotRequest   = errors.New("not-bootrequest")
	ErrNotPXE       = errors.New("not-pxe")
	ErrMessageType  = errors.New("message-type")
	ErrNoArch       = errors.New("no-arch")
	ErrNoBootFile   = errors.New("no-bootfile")
	ErrNoHTTP       = errors.New("http-not-configured")
	ErrNoServerAddr = errors.New("no-server-address")
	ErrDenied       = errors.New("mac-denied")
	ErrNotAllowed   = errors.New("mac-not-allowed")
	ErrNotForUs     = errors.New("request-for-other-server")
	ErrBadHWAddr    = errors.New("bad-hwaddr")
	ErrBadGiaddr    = errors.New("bad-giaddr")
	ErrBadSource    = errors.New("bad-source")
)

// Reason returns the short reason label of an error returned by Reply or
// Parse, or "other".
func Reason(err error) string { return dhcpserve.Reason(err, reasons) }

// reasons are Reply's and Parse's sentinels, each a reason label.
var reasons = []error{ErrMalformed, ErrNotRequest, ErrNotPXE, ErrMessageType, ErrNoArch, ErrNoBootFile, ErrNoHTTP,
	ErrNoServerAddr, ErrDenied, ErrNotAllowed, ErrNotForUs, ErrBadHWAddr, ErrBadGiaddr, ErrBadSource}

// Config is what the decision needs to know. The zero value answers nobody
// (no boot files); main builds it from the environment.
type Config struct {
	// Settings are the boot files and MAC lists, the same as IPv6's.
	pxeboot.Settings
	// ServerIP, when set, is advertised in option 54 (and as the boot server
	// unless BootServer is set) instead of the ingress interface's address:
	// for NAT or macvlan set-ups.
	ServerIP net.IP
	// BootServer, when set, is the TFTP server clients are sent to (siaddr,
	// option 66), for example an existing WDS box. Empty means ourselves.
	BootServer net.IP
	// AnswerRequest67 answers a DHCPREQUEST on port 67 that names us in
	// option 54 with a DHCPACK. Off by default: only some old Intel PXE ROMs
	// need it (pixiecore issue 21), and a REQUEST for the site's server is
	// never ours.
	AnswerRequest67 bool
}

// checkMAC applies the allow and deny lists.
func checkMAC(mac net.HardwareAddr, cfg *Config) error {
	for _, p := range cfg.Deny {
		if p.Match(mac) {
			return fmt.Errorf("%w: %s matches deny entry %s", ErrDenied, mac, p)
		}
	}
	if len(cfg.Allow) == 0 {
		return nil
	}
	for _, p := range cfg.Allow {
		if p.Match(mac) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not in the allow list", ErrNotAllowed, mac)
}

// Ingress says where a request came in: everything about our side of the
// socket that the decision needs, resolved by the transport.
type Ingress struct {
	Port    int          // local port: PortDHCP or PortPXE
	IfIndex int          // ingress interface index
	IfName  string       // ingress interface name, for logs
	Addr    net.IP       // our IPv4 address on the ingress interface
	Src     *net.UDPAddr // the request's source address and port
	// Nets are all our IPv4 addresses on the ingress interface with their
	// prefixes: what tells a host on the client's segment from our own
	// address or a subnet broadcast.
	Nets []*net.IPNet
}

// Request is what Parse learns about a PXE request.
type Request struct {
	Arch  uint16 // the architecture chosen from option 93
	Archs []uint16
	Class pxeclass.Class
	HTTP  bool // option 60 starts with HTTPClient
}

// Answer is a reply together with where it goes and the facts the
// transport logs.
type Answer struct {
	Packet *dhcpv4.DHCPv4
	Arch   uint16
	Class  pxeclass.Class
	File   string // boot file or URL sent to the client
	Server net.IP // boot server the client is sent to (siaddr)
	// Dst and Broadcast are Destination's answer: a broadcast leaves
	// through the ingress interface.
	Dst       *net.UDPAddr
	Broadcast bool
}

const (
	vendorPXE  = "PXEClient"
	vendorHTTP = "HTTPClient"
)

// Constant option values, shared by every reply.
var (
	vendorPXEOpt  = []byte(vendorPXE)
	vendorHTTPOpt = []byte(vendorHTTP)
	msgType       = map[dhcpv4.MessageType][]byte{
		dhcpv4.MessageTypeOffer: {byte(dhcpv4.MessageTypeOffer)},
		dhcpv4.MessageTypeAck:   {byte(dhcpv4.MessageTypeAck)},
	}
	biosVendorOpt = []byte{
		pxeDiscoveryControl, 1, 0x08,
		pxeMenuPrompt, 4, 0, 'P', 'X', 'E',
		pxeEnd,
	}
)

// firstArch returns the architecture a request is answered for from its
// option 93 value raw: option 93 may list several values, and the first
// known one is taken (else the first). ok is false without a value.
func firstArch(raw []byte) (arch uint16, ok bool) {
	if len(raw) < 2 {
		return 0, false
	}
	arch = uint16(raw[0])<<8 | uint16(raw[1])
	for i := 0; i+1 < len(raw); i += 2 {
		if a := uint16(raw[i])<<8 | uint16(raw[i+1]); pxearch.Known(a) {
			return a, true
		}
	}
	return arch, true
}

// Parse checks that req is a PXE request we may answer on port and says who
// sent it. requestOn67 also accepts a DHCPREQUEST on port 67 (the
// AnswerRequest67 quirk).
func Parse(req *dhcpv4.DHCPv4, port int, requestOn67 bool) (*Request, error) {
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		return nil, ErrNotRequest
	}
	vendor := req.Options.Get(dhcpv4.OptionClassIdentifier)
	httpClient := bytes.HasPrefix(vendor, []byte(vendorHTTP))
	// EDK2 and iPXE compare the first 9 bytes: "PXEClient:Arch:00000:UNDI:..."
	if !bytes.HasPrefix(vendor, []byte(vendorPXE)) && !httpClient {
		return nil, fmt.Errorf("%w: option 60 %q", ErrNotPXE, truncate(vendor))
	}
	// Ethernet only: the allow and deny lists match chaddr, and a client
	// that shortens hlen (to 0, 3 or 5) would slip past them. EDK2 and
	// iPXE send htype 1, hlen 6 on every Ethernet link.
	if req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		return nil, fmt.Errorf("%w: htype %d hlen %d", ErrBadHWAddr, req.HWType, len(req.ClientHWAddr))
	}
	mt := req.MessageType()
	switch port {
	case PortDHCP:
		// Only DISCOVER: a REQUEST on 67 belongs to the site's DHCP server
		// and answering it races that server's ACK (docs/pxe-notes.md §1).
		if mt != dhcpv4.MessageTypeDiscover && (mt != dhcpv4.MessageTypeRequest || !requestOn67) {
			return nil, fmt.Errorf("%w: %s on port 67", ErrMessageType, mt)
		}
	case PortPXE:
		// PXE 2.1 boot-server discovery is a REQUEST; dnsmasq also accepts
		// INFORM (rfc2131.c), so do we.
		if mt != dhcpv4.MessageTypeRequest && mt != dhcpv4.MessageTypeInform {
			return nil, fmt.Errorf("%w: %s on port 4011", ErrMessageType, mt)
		}
	default:
		return nil, fmt.Errorf("%w: port %d", ErrNotRequest, port)
	}
	raw, has93 := req.Options[dhcpv4.OptionClientSystemArchitectureType.Code()]
	if len(raw)%2 != 0 {
		return nil, fmt.Errorf("%w: option 93 has odd length %d", ErrMalformed, len(raw))
	}
	r := &Request{HTTP: httpClient}
	for i := 0; i+1 < len(raw); i += 2 {
		r.Archs = append(r.Archs, uint16(raw[i])<<8|uint16(raw[i+1]))
	}
	switch {
	case len(r.Archs) > 0:
		r.Arch, _ = firstArch(raw)
	case port == PortDHCP && mt == dhcpv4.MessageTypeDiscover || !has93 && httpClient:
		// PXE 2.1 and RFC 4578 make option 93 mandatory in the DISCOVER;
		// without it we cannot pick a boot file (dnsmasq, smee do the same).
		return nil, ErrNoArch
	default:
		// Some old ROMs omit 93 in the port 4011 request: they are BIOS.
		r.Arch = 0
	}
	switch {
	case isIPXE(req):
		r.Class = pxeclass.IPXE
	case httpClient:
		r.Class = pxeclass.HTTP
	case r.Arch == 0:
		r.Class = pxeclass.BIOS
	default:
		r.Class = pxeclass.UEFI
	}
	return r, nil
}

// isIPXE reports whether the request comes from a running iPXE: it sends user
// class "iPXE" (option 77) and its feature list (option 175). Giving it the
// iPXE binary again would loop forever (iPXE docs, "chainloading").
func isIPXE(req *dhcpv4.DHCPv4) bool {
	if req.Options.Has(dhcpv4.OptionEtherboot) {
		return true
	}
	return bytes.Contains(req.Options.Get(dhcpv4.OptionUserClassInformation), []byte("iPXE"))
}

// Reply builds the answer to req, which arrived as described by in, or says
// with a wrapped sentinel error why it is not ours to answer.
func Reply(req *dhcpv4.DHCPv4, in Ingress, cfg *Config) (*Answer, error) {
	r, err := Parse(req, in.Port, cfg.AnswerRequest67)
	if err != nil {
		return nil, err
	}
	dst, bcast, err := Destination(req, in)
	if err != nil {
		return nil, err
	}
	if err := checkMAC(req.ClientHWAddr, cfg); err != nil {
		return nil, err
	}
	serverID := cfg.ServerIP
	if serverID == nil {
		serverID = in.Addr
	}
	serverID = serverID.To4()
	if serverID == nil || serverID.IsUnspecified() {
		return nil, fmt.Errorf("%w on interface %q", ErrNoServerAddr, in.IfName)
	}
	ackOn67 := in.Port == PortDHCP && req.MessageType() == dhcpv4.MessageTypeRequest
	if ackOn67 && !req.ServerIdentifier().Equal(serverID) {
		// A REQUEST naming another server (or none) is a lease request for
		// the site's DHCP server: answering it would race that server.
		return nil, fmt.Errorf("%w: option 54 is %v", ErrNotForUs, req.ServerIdentifier())
	}
	bootServer := serverID
	if cfg.BootServer != nil {
		bootServer = cfg.BootServer.To4()
	}
	file, err := bootFile(r, req.ClientHWAddr, serverID, cfg)
	if err != nil {
		return nil, err
	}

	p := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.HWType,
		TransactionID: req.TransactionID,
		Flags:         req.Flags,
		ClientIPAddr:  net.IPv4zero,
		// yiaddr 0.0.0.0 is what makes this a proxy offer: EDK2 "the offer
		// with zero yiaddr is a proxy offer" (PxeBcDhcp4.c). Never change it.
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  bootServer,
		GatewayIPAddr: req.GatewayIPAddr,
		ClientHWAddr:  req.ClientHWAddr,
		Options:       make(dhcpv4.Options, 10),
	}
	if p.GatewayIPAddr == nil {
		p.GatewayIPAddr = net.IPv4zero
	}
	mt := dhcpv4.MessageTypeOffer
	if ackOn67 {
		mt = dhcpv4.MessageTypeAck
		p.SetBroadcast()
	} else if in.Port == PortPXE {
		mt = dhcpv4.MessageTypeAck
		if req.ClientIPAddr != nil {
			p.ClientIPAddr = req.ClientIPAddr
		}
	} else {
		// We broadcast (or send to the relay): tell the client so.
		p.SetBroadcast()
	}
	// Option values below may be shared between replies (constants, the
	// server address): a reply is read-only once built.
	o := p.Options
	o[dhcpv4.OptionDHCPMessageType.Code()] = msgType[mt]
	o[dhcpv4.OptionServerIdentifier.Code()] = serverID
	o[dhcpv4.OptionClassIdentifier.Code()] = vendorPXEOpt
	if r.HTTP {
		// EDK2 HttpBootDhcp4.c only takes offers whose option 60 is HTTPClient.
		o[dhcpv4.OptionClassIdentifier.Code()] = vendorHTTPOpt
	}
	if guid := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); len(guid) > 0 {
		o[dhcpv4.OptionClientMachineIdentifier.Code()] = bytes.Clone(guid)
	}

	// Boot file in the BOOTP header and in options 66/67: U-Boot reads only
	// the header (siderolabs/booter#11), WDS-style clients read the options.
	// The header field holds 127 bytes; a longer URL goes in option 67 only.
	if len(file) < 128 {
		p.BootFileName = file
	}
	if !r.HTTP {
		p.ServerHostName = bootServer.String()
		o[dhcpv4.OptionTFTPServerName.Code()] = []byte(p.ServerHostName)
	}
	o[dhcpv4.OptionBootfileName.Code()] = []byte(file)

	if opt43 := vendorOptions(req, r, in.Port); opt43 != nil {
		o[dhcpv4.OptionVendorSpecificInformation.Code()] = opt43
	}
	return &Answer{Packet: p, Arch: r.Arch, Class: r.Class, File: file, Server: bootServer, Dst: dst, Broadcast: bcast}, nil
}

// bootFile picks the file (or URL) for the client.
func bootFile(r *Request, mac net.HardwareAddr, server net.IP, cfg *Config) (string, error) {
	if r.Class == pxeclass.IPXE && cfg.IPXEScript != "" {
		return cfg.IPXEScript, nil
	}
	file, ok := cfg.File(r.Arch, r.HTTP, mac)
	if !ok {
		return "", fmt.Errorf("%w for arch %d (%s)", ErrNoBootFile, r.Arch, pxearch.Name(r.Arch))
	}
	if !r.HTTP || strings.Contains(file, "://") {
		return file, nil
	}
	if u, ok := cfg.HTTPBootURL(file, server); ok {
		return u, nil
	}
	return "", ErrNoHTTP
}

// PXE vendor sub-options (option 43), PXE 2.1 spec section 2.4.
const (
	pxeDiscoveryControl = 6
	pxeBootMenu         = 9
	pxeMenuPrompt       = 10
	pxeBootItem         = 71
	pxeEnd              = 255
)

// vendorOptions returns option 43 for the reply, or nil for none.
func vendorOptions(req *dhcpv4.DHCPv4, r *Request, port int) []byte {
	if port == PortPXE {
		// Echo the boot item the client asked for (PXE 2.1 2.2.5; dnsmasq
		// does the same). EDK2 checks it matches its request.
		item := subOption(req.Options.Get(dhcpv4.OptionVendorSpecificInformation), pxeBootItem)
		if len(item) != 4 {
			return nil
		}
		return append([]byte{pxeBootItem, 4}, append(bytes.Clone(item), pxeEnd)...)
	}
	if r.Class == pxeclass.UEFI || r.Class == pxeclass.HTTP || r.Arch != 0 {
		// UEFI gets no option 43 on port 67: older EDK2 builds discard proxy
		// offers carrying discovery sub-options (edk2 issue 6944, pixiecore's
		// comment on the same), and without it EDK2 asks again on 4011.
		return nil
	}
	// BIOS: 6 = 0x08 "skip discovery, use the boot file in this offer", and a
	// zero-timeout prompt: some legacy ROMs fail with PXE-E74 without one
	// (FOG issue 596; dnsmasq always sends it). Never sub-options 1-5 (MTFTP).
	return biosVendorOpt
}

// subOption returns sub-option code of an encapsulated option, or nil.
func subOption(data []byte, code byte) []byte {
	for i := 0; i < len(data); {
		c := data[i]
		if c == 0 {
			i++
			continue
		}
		if c == 255 || i+1 >= len(data) {
			return nil
		}
		n := int(data[i+1])
		if i+2+n > len(data) {
			return nil
		}
		if c == code {
			return data[i+2 : i+2+n]
		}
		i += 2 + n
	}
	return nil
}

// PXE clients listen on the DHCP client port or, EDK2, on 4011
// (PxeBcDiscvBootService): the only ports a 4011 reply may go to when the
// source is not on the ingress segment, or not set at all.
const portClient = 68

func clientPort(p int) bool { return p == portClient || p == PortPXE }

// Destination is where the reply to a request goes, and whether it is a
// broadcast that must leave through the ingress interface; or, wrapping
// ErrBadGiaddr or ErrBadSource, why the request names a destination no
// reply may go to.
//
// Port 67: to the relay agent (giaddr:67, RFC 2131 4.1) when giaddr is a
// unicast address that is not ours nor a broadcast of the ingress subnets,
// else by broadcast to :68. Port 4011: back to the source address and
// port when the source is a host on the ingress segment; a source off the
// segment (a routed client) is answered only at a PXE client port and when
// it is the client's own address (ciaddr) or came through a relay; a
// request from 0.0.0.0 is not answered. Anything else would reflect replies at hosts that never asked
// (8.8.8.8:53, a subnet broadcast).
func Destination(req *dhcpv4.DHCPv4, in Ingress) (dst *net.UDPAddr, broadcast bool, err error) {
	gi, err := relayAgent(req.GatewayIPAddr, in)
	if err != nil {
		return nil, false, err
	}
	if in.Port != PortPXE {
		if gi != nil {
			return &net.UDPAddr{IP: gi, Port: PortDHCP}, false, nil
		}
		return &net.UDPAddr{IP: net.IPv4bcast, Port: portClient}, true, nil
	}
	var src net.IP
	if in.Src != nil {
		src = in.Src.IP.To4()
	}
	switch {
	case src == nil:
		return nil, false, fmt.Errorf("%w: no ipv4 source", ErrBadSource)
	case src.IsUnspecified():
		// A PXE client asks the boot server only once it holds a lease
		// (PXE 2.1 boot server discovery); a broadcast answer to 0.0.0.0
		// would reach every host on the segment.
		return nil, false, fmt.Errorf("%w: no source address", ErrBadSource)
	case in.Src.Port == 0:
		return nil, false, fmt.Errorf("%w: source port 0", ErrBadSource)
	}
	// EDK2 sends its boot-server request from port 4011 and listens there
	// (PxeBcDiscvBootService): answer the source address and port.
	switch roleOf(src, in.Nets) {
	case roleHost, roleOurs:
		// Ours: a request from this host itself (the kernel drops one
		// that claims our address from the LAN).
		return &net.UDPAddr{IP: src, Port: in.Src.Port}, false, nil
	case roleBroadcast:
		return nil, false, fmt.Errorf("%w: %s is a subnet broadcast", ErrBadSource, src)
	}
	// Off the ingress segment: a client behind a router sends from its
	// own address, which it also puts in ciaddr (EDK2 StationIp).
	if !hostAddr(src) || !clientPort(in.Src.Port) || !(gi != nil || req.ClientIPAddr.Equal(src)) {
		return nil, false, fmt.Errorf("%w: %s is off the segment of %s and not a pxe client", ErrBadSource, in.Src, in.IfName)
	}
	return &net.UDPAddr{IP: src, Port: in.Src.Port}, false, nil
}

// relayAgent returns giaddr when the request was relayed, nil when not.
// Only a unicast address that is not ours and not a broadcast of the
// ingress subnets is a relay agent: a reply sent to any other giaddr would
// go to a broadcast, multicast, loopback or ourselves.
func relayAgent(giaddr net.IP, in Ingress) (net.IP, error) {
	gi := giaddr.To4()
	if gi == nil || gi.IsUnspecified() {
		return nil, nil
	}
	if !hostAddr(gi) || gi.Equal(in.Addr) {
		return nil, fmt.Errorf("%w: %s", ErrBadGiaddr, gi)
	}
	switch roleOf(gi, in.Nets) {
	case roleOurs:
		return nil, fmt.Errorf("%w: %s is our own address", ErrBadGiaddr, gi)
	case roleBroadcast:
		return nil, fmt.Errorf("%w: %s is a subnet broadcast", ErrBadGiaddr, gi)
	}
	return gi, nil
}

// hostAddr reports whether ip4 may be a host's address: not in 0/8 ("this
// network"), 127/8 (loopback), 224/4 (multicast) or 240/4 (reserved, with
// the limited broadcast).
func hostAddr(ip4 net.IP) bool {
	return ip4[0] != 0 && ip4[0] != 127 && ip4[0] < 224
}

// role is what an address is on the ingress interface's subnets.
type role int

const (
	roleOffLink   role = iota // on none of them
	roleHost                  // another host on one of them
	roleOurs                  // one of our addresses
	roleBroadcast             // a subnet's broadcast (or network) address
)

// roleOf says what ip4 is on nets. A /31 or /32 has no broadcast address
// (RFC 3021).
func roleOf(ip4 net.IP, nets []*net.IPNet) role {
	r := roleOffLink
	for _, n := range nets {
		if n.IP.Equal(ip4) {
			return roleOurs
		}
		if r == roleBroadcast || !n.Contains(ip4) {
			continue
		}
		r = roleHost
		m := n.Mask[len(n.Mask)-4:]
		if ones, _ := m.Size(); ones > 30 {
			continue
		}
		network, bcast := true, true
		for i := range 4 {
			h := ip4[i] &^ m[i]
			network = network && h == 0
			bcast = bcast && h == ^m[i]
		}
		if network || bcast {
			r = roleBroadcast
		}
	}
	return r
}

func truncate(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
