// Package conflict finds other DHCP servers whose answers to PXE clients
// defeat ours, by listening to the replies they broadcast. It never sends.
//
// What is detected (Classify), and why it matters:
//   - KindPXEClientLease: a lease offer (yiaddr set) carrying option 60
//     "PXEClient". PXE firmware then takes its boot instructions from that
//     server: EDK2 ranks such an offer first ("DhcpPxe10"/"DhcpBinl",
//     PxeBcSelectDhcp4Offer, above any DHCP-only + ProxyDHCP pair) and asks
//     that server's port 4011, which fails with PXE-E55 when it runs no boot
//     service (Microsoft KB 259670). Ours is ignored.
//   - KindBootOptions: a lease offer without "PXEClient" carrying a boot
//     file (option 67 or the header's file field) or option 66. EDK2 uses
//     it when no ProxyDHCP offer came in time (rank 7, "DhcpOnly offer with
//     bootfilename"), U-Boot and some legacy ROMs boot it straight away: a
//     client boots the other server's file instead of ours.
//   - KindProxy: a second ProxyDHCP (yiaddr 0 with "PXEClient"). Which one
//     a client follows depends on arrival order and firmware: machines boot
//     from one or the other at random.
//
// A lone siaddr is not reported: firmware takes the boot server from the
// offer whose boot file it uses, and many servers fill siaddr routinely.
// Our own replies, which we broadcast too, are recognised by their server
// identifier (option 54) and zero yiaddr, and skipped; a lease offer from
// one of our addresses comes from a DHCP server on this host and is judged.
//
// What is reliable: offers are seen when they are broadcast to
// 255.255.255.255:68, which is what servers do for PXE firmware (it sets
// the broadcast flag: EDK2 PxeBcDhcp4Discover, iPXE dhcp.c) and what relay
// agents do on the client's segment. Offers unicast to a client's MAC are
// not seen (a switch does not flood them to us), so detection covers
// clients that ask for broadcast replies, and a quiet LAN yields no
// findings until a PXE client boots. The listener (package dhcpsock) binds
// 255.255.255.255:68 with SO_REUSEADDR and SO_REUSEPORT: it shares the
// port with a DHCP client on this host and never takes that client's
// unicast replies. This package opens no socket: Detector reads the one
// it is given.
package conflict

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Kind names a kind of conflict; the texts are stable metric labels.
type Kind string

// Conflict kinds.
const (
	KindPXEClientLease Kind = "pxeclient-on-lease"
	KindBootOptions    Kind = "boot-options-on-lease"
	KindProxy          Kind = "second-proxydhcp"
)

// Finding is one conflicting reply.
type Finding struct {
	Server net.IP           // option 54; nil when the reply has none
	Kind   Kind             // what is wrong
	Sends  string           // what the server sends, for the log
	Effect string           // the consequence for clients, for the log
	MAC    net.HardwareAddr // the client the reply was for
	XID    dhcpv4.TransactionID
	File   string // the boot file it offers (option 67, else the header's), if any
}

var effects = map[Kind]string{
	KindPXEClientLease: "PXE clients take boot instructions from this server instead of pxeproxy and ask its port 4011; without a PXE boot service there they fail with PXE-E55 (Microsoft KB 259670); remove option 60 from its scope",
	KindBootOptions:    "clients that take the boot file from the lease offer (U-Boot, some legacy ROMs, EDK2 when the ProxyDHCP offer is late) boot this server's file instead of pxeproxy's; remove options 66/67 and the file name from its scope",
	KindProxy:          "two ProxyDHCP servers answer PXE clients: each machine boots from whichever answer it takes first; stop one of them or split them by interface",
}

const vendorPXE = "PXEClient"

// Classify says what is wrong with a DHCP reply from another server, or
// nil. ours reports whether a server identifier is one of our addresses;
// replies from us are never findings.
func Classify(offer *dhcpv4.DHCPv4, ours func(net.IP) bool) []Finding {
	if offer == nil || offer.OpCode != dhcpv4.OpcodeBootReply {
		return nil
	}
	if mt := offer.MessageType(); mt != dhcpv4.MessageTypeOffer && mt != dhcpv4.MessageTypeAck {
		return nil
	}
	server := offer.ServerIdentifier()
	lease := offer.YourIPAddr != nil && !offer.YourIPAddr.IsUnspecified()
	// We never lease: a lease offer from one of our addresses comes from a
	// DHCP server on this host (the raw-listener case) and is judged.
	if !lease && server != nil && ours != nil && ours(server) {
		return nil
	}
	// EDK2 and iPXE compare the first 9 bytes of option 60.
	pxe := bytes.HasPrefix(offer.Options.Get(dhcpv4.OptionClassIdentifier), []byte(vendorPXE))
	hasBoot := offer.BootFileName != "" || offer.Options.Has(dhcpv4.OptionBootfileName) ||
		offer.Options.Has(dhcpv4.OptionTFTPServerName)
	var kind Kind
	switch {
	case lease && pxe:
		kind = KindPXEClientLease
	case lease && hasBoot:
		kind = KindBootOptions
	case !lease && pxe:
		kind = KindProxy
	default:
		return nil
	}
	return []Finding{{
		Server: server,
		Kind:   kind,
		Sends:  Describe(offer),
		Effect: effects[kind],
		MAC:    offer.ClientHWAddr,
		XID:    offer.TransactionID,
		File:   bootFile(offer),
	}}
}

// bootFile is the boot file a reply offers: option 67 as PXE firmware
// prefers it, else the header's file field.
func bootFile(p *dhcpv4.DHCPv4) string {
	if v := bytes.TrimRight(p.Options.Get(dhcpv4.OptionBootfileName), "\x00"); len(v) > 0 {
		return string(v)
	}
	return p.BootFileName
}

// Describe renders the PXE-relevant fields of a reply in one line.
func Describe(p *dhcpv4.DHCPv4) string {
	var parts []string
	add := func(f string, a ...any) { parts = append(parts, fmt.Sprintf(f, a...)) }
	add("%s", p.MessageType())
	if p.YourIPAddr != nil && !p.YourIPAddr.IsUnspecified() {
		add("yiaddr %s", p.YourIPAddr)
	} else {
		add("yiaddr 0.0.0.0")
	}
	if v := p.Options.Get(dhcpv4.OptionClassIdentifier); v != nil {
		add("option 60 %q", v)
	}
	if v := p.Options.Get(dhcpv4.OptionVendorSpecificInformation); v != nil {
		add("option 43 %x", v)
	}
	if v := p.Options.Get(dhcpv4.OptionTFTPServerName); v != nil {
		add("option 66 %q", bytes.TrimRight(v, "\x00"))
	}
	if v := p.Options.Get(dhcpv4.OptionBootfileName); v != nil {
		add("option 67 %q", bytes.TrimRight(v, "\x00"))
	}
	if p.ServerIPAddr != nil && !p.ServerIPAddr.IsUnspecified() {
		add("siaddr %s", p.ServerIPAddr)
	}
	if p.BootFileName != "" {
		add("file %q", p.BootFileName)
	}
	return strings.Join(parts, ", ")
}

// Config configures a Detector. Zero values mean the documented defaults.
type Config struct {
	// Ours reports whether an address is one of ours (OwnAddrs); nil: none.
	Ours func(net.IP) bool
	// OnFinding, when set, gets every finding (metrics count them all).
	OnFinding func(Finding)
	// OnLease, when set, gets the client MAC (chaddr) and address (yiaddr)
	// of every OFFER or ACK seen that gives an address, from any server:
	// which address a PXE client is getting, learned without sending
	// anything (the boot journal joins the two).
	OnLease func(mac net.HardwareAddr, ip netip.Addr)
	// Every is the quiet period per server and kind; zero means 10 minutes.
	Every time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Detector logs findings, one Warn per server and kind per Every, and
// passes every finding to OnFinding.
type Detector struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	last   map[string]time.Time // last warning per server and kind
	pruned time.Time            // last sweep of last
	full   time.Time            // last "too many servers" warning
}

// New returns a Detector that logs to log.
func New(cfg Config, log *slog.Logger) *Detector {
	if cfg.Every <= 0 {
		cfg.Every = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Detector{cfg: cfg, log: log, last: map[string]time.Time{}}
}

// Handle classifies one datagram received from src and reports what is
// wrong with it. It returns the findings (for tests).
func (d *Detector) Handle(pkt []byte, src net.IP) []Finding {
	// Our own broadcast offers come back to this socket (the kernel loops
	// broadcasts to local listeners): skip them before decoding.
	ours := d.cfg.Ours
	if len(pkt) >= 20 && src != nil && ours != nil && bytes.Equal(pkt[16:20], []byte{0, 0, 0, 0}) && ours(src) {
		return nil
	}
	p, err := dhcpv4.FromBytes(pkt)
	if err != nil {
		return nil // not DHCP, or broken: nothing to say about a server
	}
	d.lease(p)
	var out []Finding
	for _, f := range Classify(p, ours) {
		if f.Server == nil {
			// No option 54 (BOOTP-style): the sender is the best name.
			// With a relay in between, that is the relay agent.
			if ours != nil && src != nil && ours(src) {
				continue
			}
			f.Server = src
		}
		out = append(out, f)
		if d.cfg.OnFinding != nil {
			d.cfg.OnFinding(f)
		}
		if d.due(&f) {
			d.log.Warn("another DHCP server conflicts with pxeproxy", "svc", "conflict",
				"server", serverName(f.Server), "kind", string(f.Kind), "mac", f.MAC.String(),
				"xid", f.XID.String(), "sends", f.Sends, "effect", f.Effect)
		}
	}
	return out
}

// lease passes the address a reply gives its client to OnLease.
func (d *Detector) lease(p *dhcpv4.DHCPv4) {
	if d.cfg.OnLease == nil || p.OpCode != dhcpv4.OpcodeBootReply {
		return
	}
	if mt := p.MessageType(); mt != dhcpv4.MessageTypeOffer && mt != dhcpv4.MessageTypeAck {
		return
	}
	if ip, ok := netip.AddrFromSlice(p.YourIPAddr.To4()); ok && !ip.IsUnspecified() && len(p.ClientHWAddr) > 0 {
		d.cfg.OnLease(p.ClientHWAddr, ip)
	}
}

func serverName(ip net.IP) string {
	if ip == nil {
		return "unknown"
	}
	return ip.String()
}

// maxServers bounds the servers whose last warning is remembered: option
// 54 comes from the LAN, and a flood of made-up server identifiers must not
// grow the map without end.
const maxServers = 1024

func (d *Detector) due(f *Finding) bool {
	key := serverName(f.Server) + "/" + string(f.Kind)
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.cfg.Now()
	if prev, ok := d.last[key]; ok && t.Sub(prev) < d.cfg.Every {
		return false
	}
	if len(d.last) >= maxServers && t.Sub(d.pruned) >= time.Second {
		// At most once a second: a flood must not cost a scan per packet.
		d.pruned = t
		for k, prev := range d.last {
			if t.Sub(prev) >= d.cfg.Every {
				delete(d.last, k)
			}
		}
	}
	if len(d.last) >= maxServers {
		// A flood: the servers warned about already stand; say once per
		// period that more are not named one by one.
		if t.Sub(d.full) >= d.cfg.Every {
			d.full = t
			d.log.Warn("too many different DHCP servers conflict with pxeproxy: further ones are not logged one by one (a flood of made-up server identifiers?)",
				"svc", "conflict", "servers", maxServers)
		}
		return false
	}
	d.last[key] = t
	return true
}

// PacketReader is the receiving half of a socket: a net.PacketConn, or
// the raw listener of package dhcpsock.
type PacketReader interface {
	ReadFrom(b []byte) (int, net.Addr, error)
	Close() error
}

// Serve reads replies from conn until ctx ends (a clean exit) and hands
// them to d.
func (d *Detector) Serve(ctx context.Context, conn PacketReader) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("read dhcp replies: %w", err)
		}
		var src net.IP
		if u, ok := from.(*net.UDPAddr); ok {
			src = u.IP
		}
		d.Handle(buf[:n], src)
	}
}
