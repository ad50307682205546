// Package proxy6 decides what a DHCPv6 ProxyDHCP server answers to PXE
// clients booting over IPv6 (UEFI PXEv6, UEFI HTTP boot, iPXE).
//
// Contract: pxeproxy never assigns an address over IPv6 either. A reply
// built here never carries IA_NA, IA_TA, IA_PD (nor an address inside one),
// never a top-level Status Code (so its status is Success), never a
// Preference; it echoes the transaction id and the client's Client ID, and
// it is addressed only to PXE firmware (vendor class, option 16, enterprise
// 343 "PXEClient" or "HTTPClient") or to a running iPXE (user class "iPXE").
// The site's DHCPv6 server owns the lease; EDK2 takes an ADVERTISE without a
// successful IA_NA as a proxy offer (NetworkPkg/UefiPxeBcDxe/PxeBcDhcp6.c,
// PxeBcParseDhcp6Packet). The rules and their sources: docs/pxe-notes.md §9.
//
// Reply and Destination are pure functions; Server is the thin socket loop
// around them.
package proxy6

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxeproxy/pxeproxy/internal/dhcpserve"
	"github.com/pxeproxy/pxeproxy/internal/pxearch"
	"github.com/pxeproxy/pxeproxy/internal/pxeboot"
	"github.com/pxeproxy/pxeproxy/internal/pxeclass"
)

// Ports of the DHCPv6 ProxyDHCP.
const (
	PortDHCP   = 547  // SOLICIT and INFORMATION-REQUEST to ff02::1:2, and relays
	PortPXE    = 4011 // EDK2's boot-server REQUEST after its lease
	PortClient = 546  // where clients listen
)

// maxRelays bounds RELAY-FORW nesting: relay agents drop a message whose
// hop count reaches HOP_COUNT_LIMIT (RFC 8415 7.6), so a deeper one is
// forged.
const maxRelays = 8

// enterprisePXE is the vendor-class enterprise number EDK2 uses for PXE and
// HTTP boot ("TODO: IANA TBD: temporarily using Intel's", PxeBcDhcp6.h);
// iPXE uses the same one (include/ipxe/dhcpv6.h, DHCPV6_VENDOR_CLASS_PXE).
const enterprisePXE = 343

// Reasons a packet is not answered. Their texts double as the stable
// `reason` label in logs and metrics, so keep them short and unchanged.
var (
	ErrMalformed    = errors.New("malformed")
	ErrMessageType  = errors.New("message-type")
	ErrNotPXE       = errors.New("not-pxe")
	ErrNotRequested = errors.New("bootfile-url-not-requested")
	ErrNoArch       = errors.New("no-arch")
	ErrNoBootFile   = errors.New("no-bootfile")
	ErrNoHTTP       = errors.New("http-not-configured")
	ErrNoServerAddr = errors.New("no-server-address")
	ErrNoServerID   = errors.New("no-server-id")
	ErrDenied       = errors.New("mac-denied")
	ErrNotAllowed   = errors.New("mac-not-allowed")
	ErrNotForUs     = errors.New("request-for-other-server")
	ErrRelayTooDeep = errors.New("relay-too-deep")
	reasons         = []error{ErrMalformed, ErrMessageType, ErrNotPXE, ErrNotRequested, ErrNoArch, ErrNoBootFile,
		ErrNoHTTP, ErrNoServerAddr, ErrNoServerID, ErrDenied, ErrNotAllowed, ErrNotForUs, ErrRelayTooDeep}
)

// Reason returns the short reason label of an error returned by Reply, or
// "other".
func Reason(err error) string { return dhcpserve.Reason(err, reasons) }

// Config is what the decision (and the Server around it) needs to know. The
// zero value answers nobody (no boot files); main builds it from the
// environment, sharing the boot-file settings with IPv4.
type Config struct {
	// Settings are IPv4's boot files and MAC lists. BootFiles keys are
	// option 61 values (RFC 5970: the registry of DHCPv4 option 93); HTTP
	// URLs name the server as http://[address]:HTTPPort/.
	pxeboot.Settings
	// ServerIP (PXE_SERVER_IP6), when set, is the address put in boot-file
	// URLs instead of the ingress interface's global or ULA address.
	ServerIP net.IP
	// ServerID is our DUID (option 2), the same on every interface as RFC
	// 8415 11 wants. Nil: a DUID-LL of the ingress interface's MAC
	// (Ingress.HWAddr); Open sets a DUIDLL of one served interface.
	ServerID []byte

	// Interfaces names the interfaces the Server answers on (PXE_INTERFACES);
	// empty: every up, non-loopback interface with an IPv6 address. The
	// decision ignores it.
	Interfaces []string
	// OnAnswer, when set, is called by the Server after each reply is sent
	// (metrics), from each Serve goroutine: it must be safe for concurrent
	// use. The decision ignores it.
	OnAnswer func(a *Answer, in Ingress)
	// OnIgnore, when set, is called by the Server for each packet not
	// answered, with its short reason label (metrics); concurrently too.
	OnIgnore func(port int, reason string)
	// OnLease, when set, is called by the Server for a PXE client's REQUEST
	// to another server (its lease from the site's DHCPv6 server), with the
	// client's MAC and the addresses in its IA_NA: EDK2 downloads the boot
	// file from that address (the boot journal joins them); concurrently too.
	OnLease func(mac net.HardwareAddr, addrs []net.IP)
}

// DUIDLL returns the DUID-LL (RFC 8415 11.4) of an Ethernet MAC: Open's
// choice of Config.ServerID, from one served interface.
func DUIDLL(mac net.HardwareAddr) []byte {
	return append([]byte{0, byte(dhcpv6.DUID_LL), 0, 1}, mac...)
}

// Ingress says where a request came in: everything about our side of the
// socket that the decision needs, resolved by the transport.
type Ingress struct {
	Port    int              // local port: PortDHCP or PortPXE
	IfIndex int              // ingress interface index
	IfName  string           // ingress interface name, for logs
	Addr    net.IP           // our global or ULA address on the ingress interface, for URLs
	HWAddr  net.HardwareAddr // the ingress interface's MAC: our DUID-LL when Config.ServerID is nil
	Src     *net.UDPAddr     // the datagram's source address and port (with zone)
	// MAC is the client's link-layer address when the transport knows it
	// from elsewhere (learnt from the same DUID's SOLICIT): the last resort
	// of ClientMAC.
	MAC net.HardwareAddr
}

// Answer is a reply together with the facts the transport logs.
type Answer struct {
	Packet   dhcpv6.DHCPv6    // what to send: Reply, or RELAY-REPLs around it
	Reply    *dhcpv6.Message  // the ADVERTISE or REPLY to the client
	Arch     uint16           // the architecture chosen from option 61
	Class    pxeclass.Class   // the client's class
	File     string           // the boot-file URL sent in option 59
	MAC      net.HardwareAddr // the client's MAC as judged; nil when unknown
	MACFrom  MACSource        // where MAC came from
	ClientID []byte           // the client's DUID, nil when it sent none
	Relays   int              // relay agents between us and the client
}

// Request is what Parse learns about a PXE client's message.
type Request struct {
	Type  dhcpv6.MessageType // of the client's message (inside any relays)
	Arch  uint16             // the architecture chosen from option 61
	Archs []uint16
	Class pxeclass.Class
	HTTP  bool // vendor class HTTPClient
}

const (
	vendorPXE  = "PXEClient"
	vendorHTTP = "HTTPClient"
)

// Parse checks that m, the client's message (relays already taken off; relayed
// says whether there were any), is a PXE request we may answer on port, and
// says who sent it.
func Parse(m *dhcpv6.Message, port int, relayed bool) (*Request, error) {
	r := &Request{Type: m.MessageType}
	ipxe := isIPXE(m)
	vendor := pxeVendorClass(m)
	r.HTTP = bytes.HasPrefix(vendor, []byte(vendorHTTP))
	// EDK2 takes an offer as PXE when option 16 has enterprise 343 and its
	// class data starts with "PXEClient" (PxeBcDhcp6.c); HTTP boot looks for
	// "HTTPClient" (HttpBootDhcp6.c). Anyone else is the site server's.
	if !ipxe && !r.HTTP && !bytes.HasPrefix(vendor, []byte(vendorPXE)) {
		return nil, fmt.Errorf("%w: option 16 %q", ErrNotPXE, truncate(vendor))
	}
	switch {
	case port == PortDHCP && m.MessageType == dhcpv6.MessageTypeSolicit:
	case port == PortDHCP && m.MessageType == dhcpv6.MessageTypeInformationRequest && ipxe:
		// iPXE asks for its boot URL with an INFORMATION-REQUEST when the
		// router advertisement has only the O flag (iPXE dhcpv6.c, stateless
		// state): answer it, and nobody else's (the site server's job).
	case port == PortPXE && m.MessageType == dhcpv6.MessageTypeRequest && !relayed:
		// EDK2's boot-server REQUEST (PxeBcRequestBootService), unicast to
		// the address in our option 59 or multicast, from and to port 4011.
	case m.MessageType == dhcpv6.MessageTypeRequest:
		// A REQUEST on 547 asks the site server for the lease: never ours.
		return nil, fmt.Errorf("%w: REQUEST on port %d", ErrNotForUs, port)
	default:
		return nil, fmt.Errorf("%w: %s on port %d (relayed %v)", ErrMessageType, m.MessageType, port, relayed)
	}
	// Both EDK2 (PxeBcBuildDhcp6Options) and iPXE (dhcpv6_request_options_data)
	// ask for option 59 in their ORO; a client that does not would not read it.
	if !slices.Contains(m.Options.RequestedOptions(), dhcpv6.OptionBootfileURL) {
		return nil, ErrNotRequested
	}
	for _, a := range m.Options.ArchTypes() {
		r.Archs = append(r.Archs, uint16(a))
	}
	if len(r.Archs) > 0 {
		r.Arch = r.Archs[0]
		// Option 61 may list several values: take the first known one.
		for _, a := range r.Archs {
			if pxearch.Known(a) {
				r.Arch = a
				break
			}
		}
	} else if !ipxe {
		// RFC 5970 3.3 makes option 61 part of a PXE client's request, and
		// EDK2 always sends it: without it there is no boot file to pick.
		// iPXE before 2016 sends none; it needs one only without a script.
		return nil, ErrNoArch
	}
	switch {
	case ipxe:
		r.Class = pxeclass.IPXE
	case r.HTTP:
		r.Class = pxeclass.HTTP
	default:
		r.Class = pxeclass.UEFI
	}
	return r, nil
}

// pxeVendorClass returns the class data of the first option 16 instance with
// enterprise number 343, or nil.
func pxeVendorClass(m *dhcpv6.Message) []byte {
	for _, vc := range m.Options.VendorClasses() {
		if vc.EnterpriseNumber == enterprisePXE && len(vc.Data) > 0 {
			return vc.Data[0]
		}
	}
	return nil
}

// isIPXE reports whether a running iPXE sent m: its user class (option 15)
// is "iPXE" unless the user-class setting changed it (iPXE dhcpv6.c,
// dhcpv6_user_class). Giving it the iPXE binary again would loop forever.
func isIPXE(m *dhcpv6.Message) bool {
	for _, uc := range m.Options.UserClasses() {
		if bytes.Contains(uc, []byte("iPXE")) {
			return true
		}
	}
	return false
}

// unwrap takes the relay agents' RELAY-FORW envelopes off req: relays is
// outermost first, m the client's own message.
func unwrap(req dhcpv6.DHCPv6) (relays []*dhcpv6.RelayMessage, m *dhcpv6.Message, err error) {
	for {
		switch p := req.(type) {
		case *dhcpv6.Message:
			return relays, p, nil
		case *dhcpv6.RelayMessage:
			if p.MessageType != dhcpv6.MessageTypeRelayForward {
				return nil, nil, fmt.Errorf("%w: %s", ErrMessageType, p.MessageType)
			}
			if len(relays) == maxRelays {
				return nil, nil, fmt.Errorf("%w: more than %d relays", ErrRelayTooDeep, maxRelays)
			}
			relays = append(relays, p)
			req = p.Options.RelayMessage()
			if req == nil {
				return nil, nil, fmt.Errorf("%w: RELAY-FORW without a relay message", ErrMalformed)
			}
		default:
			return nil, nil, fmt.Errorf("%w: %T", ErrMalformed, req)
		}
	}
}

// Reply builds the answer to req, which arrived as described by in, or says
// with a wrapped sentinel error why it is not ours to answer.
func Reply(req dhcpv6.DHCPv6, in Ingress, cfg *Config) (*Answer, error) {
	relays, m, err := unwrap(req)
	if err != nil {
		return nil, err
	}
	if len(relays) > 0 && in.Port != PortDHCP {
		return nil, fmt.Errorf("%w: RELAY-FORW on port %d", ErrMessageType, in.Port)
	}
	r, err := Parse(m, in.Port, len(relays) > 0)
	if err != nil {
		return nil, err
	}
	clientIDOpt := m.Options.GetOne(dhcpv6.OptionClientID)
	if clientIDOpt == nil && m.MessageType != dhcpv6.MessageTypeInformationRequest {
		// RFC 8415 16.2 and 16.4: a SOLICIT or REQUEST without Client ID is
		// discarded; EDK2 checks the reply echoes it (Dhcp6HandleStateful).
		return nil, fmt.Errorf("%w: %s without a Client ID", ErrMalformed, m.MessageType)
	}
	serverID := cfg.ServerID
	if serverID == nil && len(in.HWAddr) > 0 {
		serverID = DUIDLL(in.HWAddr)
	}
	serverDUID, err := dhcpv6.DUIDFromBytes(serverID)
	if err != nil {
		return nil, fmt.Errorf("%w on interface %q: %w", ErrNoServerID, in.IfName, err)
	}
	theirs := rawOption(m, dhcpv6.OptionServerID)
	switch m.MessageType {
	case dhcpv6.MessageTypeSolicit:
		if theirs != nil {
			// RFC 8415 16.2: a SOLICIT naming a server is discarded.
			return nil, fmt.Errorf("%w: SOLICIT with a Server ID", ErrMalformed)
		}
	case dhcpv6.MessageTypeRequest:
		// EDK2 puts our proxy offer's Server ID in the 4011 REQUEST and
		// drops the IA_NA/IA_TA of its lease request (PxeBcRequestBootService).
		// One with another server's ID or an IA is a lease request.
		if !bytes.Equal(theirs, serverID) {
			return nil, fmt.Errorf("%w: Server ID %x", ErrNotForUs, truncate(theirs))
		}
		if hasIA(m) {
			return nil, fmt.Errorf("%w: REQUEST with an IA", ErrNotForUs)
		}
	case dhcpv6.MessageTypeInformationRequest:
		if theirs != nil && !bytes.Equal(theirs, serverID) {
			return nil, fmt.Errorf("%w: Server ID %x", ErrNotForUs, truncate(theirs))
		}
	}

	mac, from := ClientMAC(m, relays, in)
	if err := checkMAC(mac, from, cfg); err != nil {
		return nil, err
	}
	server := cfg.ServerIP
	if server == nil {
		server = in.Addr
	}
	if !usableServerAddr(server) {
		return nil, fmt.Errorf("%w on interface %q: %v", ErrNoServerAddr, in.IfName, server)
	}
	file, err := bootFile(r, mac, cfg)
	if err != nil {
		return nil, err
	}
	url, err := bootURL(file, r.Class, server, cfg)
	if err != nil {
		return nil, err
	}

	rep := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeReply, TransactionID: m.TransactionID}
	if m.MessageType == dhcpv6.MessageTypeSolicit {
		rep.MessageType = dhcpv6.MessageTypeAdvertise
	}
	// No IA_NA, IA_TA, IA_PD: an ADVERTISE without a successful IA_NA is a
	// proxy offer to EDK2 (PxeBcParseDhcp6Packet). No Status Code: EDK2
	// drops an ADVERTISE whose top-level status is not Success
	// (Dhcp6SeekStsOption). No Preference: 255 would make EDK2 select at
	// once (Dhcp6HandleAdvertiseMsg), before the site server's offer with
	// the lease arrives, and a proxy offer alone fails (PxeBcSelectDhcp6Offer).
	if clientIDOpt != nil {
		// The request's own option: its bytes come back unchanged.
		rep.AddOption(clientIDOpt)
	}
	rep.AddOption(dhcpv6.OptServerID(serverDUID))
	// Option 16, enterprise 343, "PXEClient" makes it a PXE (BINL) proxy
	// offer, which EDK2 follows with the 4011 REQUEST (PxeBcParseDhcp6Packet);
	// HTTP boot wants "HTTPClient" at the same place (HttpBootDhcp6.c).
	vendor := vendorPXEOpt
	if r.HTTP {
		vendor = vendorHTTPOpt
	}
	rep.AddOption(&dhcpv6.OptVendorClass{EnterpriseNumber: enterprisePXE, Data: [][]byte{vendor}})
	rep.AddOption(dhcpv6.OptBootFileURL(url))

	return &Answer{
		Packet: wrap(rep, relays), Reply: rep,
		Arch: r.Arch, Class: r.Class, File: url,
		MAC: mac, MACFrom: from, ClientID: rawOption(m, dhcpv6.OptionClientID), Relays: len(relays),
	}, nil
}

// Constant option values, shared by every reply: a reply is read-only once
// built.
var (
	vendorPXEOpt  = []byte(vendorPXE)
	vendorHTTPOpt = []byte(vendorHTTP)
)

// wrap puts rep in one RELAY-REPL per relay, innermost first, each with the
// relay's hop count, link and peer addresses and its Interface-Id echoed
// (RFC 8415 19.3: the relay uses them to find the client).
func wrap(rep *dhcpv6.Message, relays []*dhcpv6.RelayMessage) dhcpv6.DHCPv6 {
	var out dhcpv6.DHCPv6 = rep
	for i := len(relays) - 1; i >= 0; i-- {
		fw := relays[i]
		rr := &dhcpv6.RelayMessage{
			MessageType: dhcpv6.MessageTypeRelayReply,
			HopCount:    fw.HopCount,
			LinkAddr:    fw.LinkAddr,
			PeerAddr:    fw.PeerAddr,
		}
		if id := fw.Options.GetOne(dhcpv6.OptionInterfaceID); id != nil {
			rr.Options.Add(id)
		}
		rr.Options.Add(dhcpv6.OptRelayMessage(out))
		out = rr
	}
	return out
}

// rawOption returns the bytes of m's first option code, or nil.
func rawOption(m *dhcpv6.Message, code dhcpv6.OptionCode) []byte {
	o := m.Options.GetOne(code)
	if o == nil {
		return nil
	}
	b := o.ToBytes()
	if b == nil {
		b = []byte{}
	}
	return b
}

// hasIA reports whether m asks for any address or prefix.
func hasIA(m *dhcpv6.Message) bool {
	return m.Options.GetOne(dhcpv6.OptionIANA) != nil || m.Options.GetOne(dhcpv6.OptionIATA) != nil ||
		m.Options.GetOne(dhcpv6.OptionIAPD) != nil
}

// usableServerAddr: a global or ULA IPv6 address. A link-local one cannot go
// in a URL (no zone there) and is useless to a relayed client.
func usableServerAddr(ip net.IP) bool {
	return ip.To16() != nil && ip.To4() == nil && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() &&
		!ip.IsMulticast() && !ip.IsLoopback()
}

// Destination is where the reply to req (as it arrived, relays included)
// goes.
func Destination(req dhcpv6.DHCPv6, in Ingress) *net.UDPAddr {
	src := in.Src
	if src == nil {
		return nil
	}
	dst := &net.UDPAddr{IP: src.IP, Port: PortClient, Zone: src.Zone}
	switch {
	case req.IsRelay():
		// RELAY-REPL goes back to the relay agent's address on port 547
		// (RFC 8415 19.3), or to its source port when it says it uses
		// another one (Relay Source Port option, RFC 8357 5.2).
		dst.Port = PortDHCP
		if fw, ok := req.(*dhcpv6.RelayMessage); ok && fw.Options.RelayPort() != nil && src.Port != 0 {
			dst.Port = src.Port
		}
	case in.Port == PortPXE:
		// EDK2 sends its boot-server REQUEST from port 4011 and reads the
		// answer there (PxeBcRequestBootService): answer the source port.
		dst.Port = src.Port
	}
	return dst
}

func truncate(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
