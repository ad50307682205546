// Package probe asks a LAN what a PXE client would be told: it sends one
// PXE DHCPDISCOVER out of one interface, collects every reply for a while,
// and judges them the way firmware does.
//
// Invariant: Run sends exactly one datagram, a broadcast DISCOVER bound to
// the interface it is given (SO_BINDTODEVICE), and never a REQUEST, so no
// lease is ever taken. The judgement (Judge) is a pure function.
//
// The firmware model is EDK2's (NetworkPkg/UefiPxeBcDxe/PxeBcDhcp4.c,
// PxeBcParseDhcp4Packet and PxeBcSelectDhcp4Offer's default policy), the
// only open PXE client that ranks offers; legacy ROMs follow the same PXE
// 2.1 offer types.
package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"github.com/pxeproxy/pxeproxy/conflict"
)

// Discover builds the PXE DHCPDISCOVER a firmware of architecture arch
// sends (PXE 2.1 section 2.2.1; RFC 4578 options 93, 94, 97).
func Discover(arch uint16, mac net.HardwareAddr, xid dhcpv4.TransactionID, guid [16]byte) *dhcpv4.DHCPv4 {
	vendor, ndi := fmt.Sprintf("PXEClient:Arch:%05d:UNDI:002001", arch), []byte{1, 2, 1}
	if arch != 0 {
		// EDK2 announces UNDI 3.16 (PxeBcDhcp4.c PxeBcBuildDhcp4Options).
		vendor, ndi = fmt.Sprintf("PXEClient:Arch:%05d:UNDI:003016", arch), []byte{1, 3, 16}
	}
	if IsHTTPArch(arch) {
		vendor = fmt.Sprintf("HTTPClient:Arch:%05d:UNDI:003000", arch)
	}
	p := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        1,
		TransactionID: xid,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		ClientHWAddr:  mac,
		Options:       dhcpv4.Options{},
	}
	// Broadcast flag: the probe has no address, so replies must come back
	// to 255.255.255.255 to reach its socket (EDK2 sets it for the same
	// reason, PxeBcDhcp4Discover).
	p.SetBroadcast()
	o := p.Options
	o.Update(dhcpv4.OptMessageType(dhcpv4.MessageTypeDiscover))
	o.Update(dhcpv4.OptMaxMessageSize(1464))
	o.Update(dhcpv4.OptParameterRequestList(
		dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer,
		dhcpv4.OptionHostName, dhcpv4.OptionDomainName, dhcpv4.OptionVendorSpecificInformation,
		dhcpv4.OptionServerIdentifier, dhcpv4.OptionClassIdentifier,
		dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName,
		dhcpv4.OptionClientMachineIdentifier))
	o[dhcpv4.OptionClientSystemArchitectureType.Code()] = []byte{byte(arch >> 8), byte(arch)}
	o[dhcpv4.OptionClientNetworkInterfaceIdentifier.Code()] = ndi
	o[dhcpv4.OptionClientMachineIdentifier.Code()] = append([]byte{0}, guid[:]...)
	o.Update(dhcpv4.OptClassIdentifier(vendor))
	return p
}

// IsHTTPArch reports whether an option 93 value is a UEFI HTTP boot
// architecture (IANA registry), whose firmware sends "HTTPClient".
func IsHTTPArch(a uint16) bool {
	switch a {
	case 15, 16, 17, 18, 19, 20, 23, 24, 26, 28, 30, 38, 40:
		return true
	}
	return false
}

// RandomMAC returns a unicast, locally administered MAC (02:xx:...).
func RandomMAC() net.HardwareAddr {
	m := make(net.HardwareAddr, 6)
	_, _ = rand.Read(m)
	m[0] = m[0]&0xfc | 0x02
	return m
}

// Reply is one answer to the probe.
type Reply struct {
	Packet *dhcpv4.DHCPv4
	From   *net.UDPAddr // source address and port
}

// Run sends req out of interface ifname and returns every reply to it that
// arrives within wait, in arrival order.
func Run(ctx context.Context, ifname string, req *dhcpv4.DHCPv4, wait time.Duration) ([]Reply, error) {
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", ifname, err)
	}
	if ifc.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("interface %q is down", ifname)
	}
	conn, err := listen(ctx, ifname)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.WriteTo(req.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: 67}); err != nil {
		return nil, fmt.Errorf("send discover on %s: %w", ifname, err)
	}
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	var out []Reply
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return out, nil
			}
			return out, fmt.Errorf("read replies on %s: %w", ifname, err)
		}
		p, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || p.OpCode != dhcpv4.OpcodeBootReply || p.TransactionID != req.TransactionID ||
			!bytes.Equal(p.ClientHWAddr, req.ClientHWAddr) {
			continue // another client's traffic on a busy LAN
		}
		u, _ := from.(*net.UDPAddr)
		out = append(out, Reply{Packet: p, From: u})
	}
}

// listen opens the client socket: 0.0.0.0:68 bound to the interface, able
// to broadcast, sharing the port with a DHCP client on this host.
func listen(ctx context.Context, ifname string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = errors.Join(
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1),
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1),
				// Only this interface: the DISCOVER must not leave
				// through whatever the routing table picks for
				// 255.255.255.255.
				unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname))
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(ctx, "udp4", ":68")
	if err != nil {
		return nil, fmt.Errorf("open dhcp client port 68 on %s: %w (a DHCP client holding it without SO_REUSEADDR? stop it for the probe)", ifname, err)
	}
	return conn, nil
}

// OfferType is the EDK2 class of an offer (PxeBcParseDhcp4Packet).
type OfferType string

// Offer types, in EDK2's names.
const (
	DhcpPxe10  OfferType = "DhcpPxe10"  // lease + PXEClient + discovery options in 43
	DhcpBinl   OfferType = "DhcpBinl"   // lease + PXEClient
	DhcpOnly   OfferType = "DhcpOnly"   // lease, no PXEClient
	ProxyPxe10 OfferType = "ProxyPxe10" // no lease + PXEClient + discovery options in 43
	ProxyBinl  OfferType = "ProxyBinl"  // no lease + PXEClient
	Bootp      OfferType = "Bootp"      // no option 53
	Ignored    OfferType = "ignored"    // not an offer, or discarded by EDK2
)

// TypeOf classifies one reply as EDK2 would. marker is the option 60
// prefix the client sent ("PXEClient", or "HTTPClient" for HTTP boot).
func TypeOf(p *dhcpv4.DHCPv4, marker string) OfferType {
	mt := p.MessageType()
	proxy := p.YourIPAddr == nil || p.YourIPAddr.IsUnspecified()
	if mt == dhcpv4.MessageTypeNone {
		if BootFile(p) == "" {
			return Ignored // EDK2: "Bootp offer without bootfilename, discard it"
		}
		return Bootp
	}
	if mt != dhcpv4.MessageTypeOffer {
		return Ignored
	}
	pxe := bytes.HasPrefix(p.Options.Get(dhcpv4.OptionClassIdentifier), []byte(marker))
	var discovery, mtftp bool
	if pxe {
		// EDK2 reads option 43 only in PXEClient offers. Sub-options 6-10
		// are discovery; 1-5 together are MTFTP, which EDK2 discards.
		bits := subOptions(p.Options.Get(dhcpv4.OptionVendorSpecificInformation))
		discovery = bits&(1<<6|1<<7|1<<8|1<<9|1<<10) != 0
		mtftp = bits&(1<<1|1<<2|1<<3|1<<4|1<<5) == 1<<1|1<<2|1<<3|1<<4|1<<5
	}
	switch {
	case discovery && proxy:
		return ProxyPxe10
	case discovery:
		return DhcpPxe10
	case mtftp:
		return Ignored
	case pxe && proxy:
		return ProxyBinl
	case pxe:
		return DhcpBinl
	case proxy:
		return Ignored // neither an address nor PXE: nothing for a client
	}
	return DhcpOnly
}

// subOptions returns a bitmap of the sub-option codes below 32 present in
// an encapsulated option.
func subOptions(b []byte) uint32 {
	var bits uint32
	for i := 0; i < len(b); {
		c := b[i]
		if c == 0 {
			i++
			continue
		}
		if c == 255 || i+1 >= len(b) {
			break
		}
		if c < 32 {
			bits |= 1 << c
		}
		i += 2 + int(b[i+1])
	}
	return bits
}

// BootFile is the boot file a client reads from p: option 67, else the
// header's file field (EDK2 PxeBcParseDhcp4Packet).
func BootFile(p *dhcpv4.DHCPv4) string {
	if v := p.Options.Get(dhcpv4.OptionBootfileName); len(v) > 0 {
		return string(bytes.TrimRight(v, "\x00"))
	}
	return p.BootFileName
}

// BootServer is the server a client fetches the boot file from: siaddr,
// else option 54 (EDK2 PxeBcDhcp4BootInfo and PxeBcRetryBinlOffer).
func BootServer(p *dhcpv4.DHCPv4) net.IP {
	if p.ServerIPAddr != nil && !p.ServerIPAddr.IsUnspecified() {
		return p.ServerIPAddr
	}
	return p.ServerIdentifier()
}

// Verdict is what a PXE client would do with the replies.
type Verdict struct {
	Boots     bool
	Lease     *Reply // the offer whose address the client takes
	Boot      *Reply // the offer whose boot instructions it follows
	File      string // the boot file, when known
	Server    net.IP // where it fetches the file from
	Rule      string // EDK2's selection rule that applied
	Why       string // one sentence for the admin
	Types     []OfferType
	Conflicts []conflict.Finding
}

// Judge applies EDK2's default offer selection to replies (arrival order)
// to a DISCOVER whose option 60 started with marker.
func Judge(replies []Reply, marker string) Verdict {
	v := Verdict{Types: make([]OfferType, len(replies))}
	first := map[OfferType]int{}
	var proxies int
	for i, r := range replies {
		t := TypeOf(r.Packet, marker)
		v.Types[i] = t
		if _, ok := first[t]; !ok {
			first[t] = i
		}
		if t == ProxyPxe10 || t == ProxyBinl {
			proxies++
		}
	}
	// Conflicts as the passive detector sees them, except that a single
	// ProxyDHCP (normally pxeproxy itself) is not a conflict here.
	for _, r := range replies {
		for _, f := range conflict.Classify(r.Packet, nil) {
			if f.Kind == conflict.KindProxy && proxies < 2 {
				continue
			}
			if f.Server == nil && r.From != nil {
				f.Server = r.From.IP
			}
			v.Conflicts = append(v.Conflicts, f)
		}
	}
	has := func(t OfferType) bool { _, ok := first[t]; return ok }
	at := func(t OfferType) *Reply { return &replies[first[t]] }
	bootFrom := func(r *Reply) {
		v.Boot, v.File, v.Server = r, BootFile(r.Packet), BootServer(r.Packet)
	}
	switch {
	case has(DhcpPxe10):
		v.Rule = "1. DhcpPxe10 offer"
		v.Lease = at(DhcpPxe10)
		bootFrom(v.Lease)
		v.Boots = v.File != ""
		v.Why = fmt.Sprintf("the lease offer from %s carries PXEClient and PXE discovery options: the client follows that server alone and ignores every ProxyDHCP offer", v.Server)
	case has(DhcpOnly) && has(ProxyPxe10):
		v.Rule = "3. DhcpOnly offer and ProxyPxe10 offer"
		v.Lease = at(DhcpOnly)
		bootFrom(at(ProxyPxe10))
		v.Boots = v.File != ""
		v.Why = fmt.Sprintf("address from the lease offer, boot file from the first ProxyDHCP offer (%s)", serverOf(v.Boot))
	case has(DhcpBinl):
		v.Rule = "5. DhcpBinl offer"
		v.Lease = at(DhcpBinl)
		bootFrom(v.Lease)
		v.Why = fmt.Sprintf("the lease offer carries PXEClient without discovery options: the client asks %s on port 4011 for its boot file and ignores every ProxyDHCP offer; without a PXE boot service there it fails with PXE-E55 (Microsoft KB 259670)", v.Server)
	case has(DhcpOnly) && has(ProxyBinl):
		v.Rule = "6. DhcpOnly offer and ProxyBinl offer"
		v.Lease = at(DhcpOnly)
		bootFrom(at(ProxyBinl))
		v.Boots = v.File != ""
		v.Why = fmt.Sprintf("address from the lease offer; the client asks the first ProxyDHCP server (%s) on port 4011 for its boot file", serverOf(v.Boot))
	default:
		for i, r := range replies {
			if v.Types[i] == DhcpOnly && BootFile(r.Packet) != "" {
				v.Rule = "7. DhcpOnly offer with bootfilename"
				v.Lease = &replies[i]
				bootFrom(v.Lease)
				v.Boots = true
				v.Why = "no ProxyDHCP offer: the client boots the file named in the lease offer"
				return v
			}
		}
		if has(Bootp) {
			v.Rule = "8. Bootp offer with bootfilename"
			v.Lease = at(Bootp)
			bootFrom(v.Lease)
			v.Boots = true
			v.Why = "only a BOOTP reply with a boot file"
			return v
		}
		if has(DhcpOnly) {
			v.Lease = at(DhcpOnly)
			v.Why = "an address but no boot file and no ProxyDHCP offer: the client stops (PXE-E53 on BIOS ROMs)"
			return v
		}
		if has(ProxyPxe10) || has(ProxyBinl) {
			v.Why = "a ProxyDHCP offer but no DHCP server offered an address: the client stops (PXE-E51)"
			return v
		}
		v.Why = "no DHCP or ProxyDHCP offer: the client stops (PXE-E51)"
	}
	return v
}

func serverOf(r *Reply) string {
	if id := r.Packet.ServerIdentifier(); id != nil {
		return id.String()
	}
	if r.From != nil {
		return r.From.IP.String()
	}
	return "unknown"
}
