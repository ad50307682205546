package proxy6

import (
	"fmt"
	"net"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxeproxy/pxeproxy/internal/pxeboot"
	"github.com/pxeproxy/pxeproxy/internal/pxeclass"
)

// MACSource says where ClientMAC found the client's MAC.
type MACSource string

// Where a client's MAC comes from, most trusted first.
const (
	MACFromDUID      MACSource = "duid"      // Client ID is a DUID-LL or DUID-LLT of an Ethernet MAC
	MACFromRelay     MACSource = "relay"     // the first relay's Client Link-Layer Address (option 79)
	MACFromEUI64     MACSource = "eui64"     // the client's link-local address is a modified EUI-64
	MACFromTransport MACSource = "transport" // Ingress.MAC, learnt by the transport
	MACUnknown       MACSource = ""
)

// ClientMAC finds the MAC of the client that sent m (through relays, outermost
// first), in this order:
//
//  1. its DUID, when DUID-LL or DUID-LLT of an Ethernet address. iPXE before
//     2016 sends DUID-LL; EDK2 and today's iPXE send DUID-UUID (from SMBIOS,
//     Dhcp6Utility.c Dhcp6GenerateClientId) and fall through.
//  2. the Client Link-Layer Address option (79, RFC 6939) that the relay next
//     to the client added.
//  3. the client's link-local address (the datagram's source, or the first
//     relay's peer-address), when it is a modified EUI-64 (ff:fe in the
//     middle, RFC 4291 appendix A). EDK2 builds its link-local address so
//     (Ip6Common.c Ip6CreateInterfaceID), and so does iPXE; an operating
//     system with RFC 7217 stable-privacy addresses does not, and a random
//     interface id has the ff:fe pattern once in 65536. Global addresses are
//     never read: EDK2's 4011 REQUEST comes from its leased address, which
//     says nothing about its MAC.
//  4. in.MAC, which the transport learnt from this DUID's SOLICIT: EDK2's
//     4011 REQUEST has no other clue.
func ClientMAC(m *dhcpv6.Message, relays []*dhcpv6.RelayMessage, in Ingress) (net.HardwareAddr, MACSource) {
	switch d := m.Options.ClientID().(type) {
	case *dhcpv6.DUIDLL:
		if d.HWType == iana.HWTypeEthernet && len(d.LinkLayerAddr) == 6 {
			return d.LinkLayerAddr, MACFromDUID
		}
	case *dhcpv6.DUIDLLT:
		if d.HWType == iana.HWTypeEthernet && len(d.LinkLayerAddr) == 6 {
			return d.LinkLayerAddr, MACFromDUID
		}
	}
	var ll net.IP
	if len(relays) > 0 {
		first := relays[len(relays)-1]
		if ht, mac := first.Options.ClientLinkLayerAddress(); ht == iana.HWTypeEthernet && len(mac) == 6 {
			return mac, MACFromRelay
		}
		ll = first.PeerAddr
	} else if in.Src != nil {
		ll = in.Src.IP
	}
	if mac := eui64MAC(ll); mac != nil {
		return mac, MACFromEUI64
	}
	if len(in.MAC) == 6 {
		return in.MAC, MACFromTransport
	}
	return nil, MACUnknown
}

// eui64MAC returns the MAC inside a link-local address built from it by
// modified EUI-64, or nil.
func eui64MAC(ip net.IP) net.HardwareAddr {
	ip = ip.To16()
	if ip == nil || ip.To4() != nil || !ip.IsLinkLocalUnicast() || ip[11] != 0xff || ip[12] != 0xfe {
		return nil
	}
	// The universal/local bit is inverted in the interface id.
	return net.HardwareAddr{ip[8] ^ 0x02, ip[9], ip[10], ip[13], ip[14], ip[15]}
}

// checkMAC applies the allow and deny lists. A client whose MAC is unknown
// cannot be in the allow list; it is answered when only a deny list is set,
// as it cannot be told from the machines denied.
func checkMAC(mac net.HardwareAddr, from MACSource, cfg *Config) error {
	for _, p := range cfg.Deny {
		if p.Match(mac) {
			return fmt.Errorf("%w: %s (from %s) matches deny entry %s", ErrDenied, mac, from, p)
		}
	}
	if len(cfg.Allow) == 0 {
		return nil
	}
	if mac == nil {
		return fmt.Errorf("%w: the client's MAC is unknown (DUID-UUID, no EUI-64 link-local address)", ErrNotAllowed)
	}
	for _, p := range cfg.Allow {
		if p.Match(mac) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s (from %s) is not in the allow list", ErrNotAllowed, mac, from)
}

// bootFile picks the file (or URL) for the client.
func bootFile(r *Request, mac net.HardwareAddr, cfg *Config) (string, error) {
	if r.Class == pxeclass.IPXE && cfg.IPXEScript != "" {
		return cfg.IPXEScript, nil
	}
	if len(r.Archs) == 0 {
		return "", ErrNoArch
	}
	file, ok := cfg.File(r.Arch, r.HTTP, mac)
	if !ok {
		return "", fmt.Errorf("%w for arch %d", ErrNoBootFile, r.Arch)
	}
	return file, nil
}

// bootURL makes option 59 of a boot file: a URL with an IP literal, as RFC
// 5970 3.1 asks. A file that is already a URL is sent as it is.
func bootURL(file string, class pxeclass.Class, server net.IP, cfg *Config) (string, error) {
	if strings.Contains(file, "://") {
		return file, nil
	}
	if class != pxeclass.HTTP {
		// EDK2 reads tftp://[SERVER_ADDRESS]/BOOTFILE_NAME, takes everything
		// after the '/' as the name and decodes its %XX escapes
		// (PxeBcExtractBootFileUrl); a host name would need DNS it may not
		// have. iPXE reads the same URL.
		return "tftp://[" + server.String() + "]/" + pxeboot.EscapePath(strings.TrimLeft(file, "/")), nil
	}
	if u, ok := cfg.HTTPBootURL(file, server); ok {
		return u, nil
	}
	return "", ErrNoHTTP
}
