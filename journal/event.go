package journal

import (
	"net"
	"net/netip"
	"time"
)

// Kind says what an Event records.
type Kind string

// Event kinds.
const (
	KindDiscover Kind = "discover" // a boot request: DISCOVER on 67, REQUEST on 4011, SOLICIT on 547
	KindReply    Kind = "reply"    // our answer was sent
	KindIgnored  Kind = "ignored"  // the request was not answered, with a reason
	KindTransfer Kind = "transfer" // a TFTP or HTTP download
	KindJoin     Kind = "join"     // the client's IP address became known
	KindConflict Kind = "conflict" // another server answered this client's boot request
)

// Ports as they appear in Discover and Reply.
const (
	PortDHCP  = 67   // DHCPv4 DISCOVER, broadcast or relayed
	PortPXE   = 4011 // PXE boot-server REQUEST/ACK
	PortDHCP6 = 547  // DHCPv6 SOLICIT (PXE over IPv6)
)

// Result is how a transfer ended; empty while it runs.
type Result string

// Transfer results.
const (
	ResultOK       Result = "ok"
	ResultNotFound Result = "not-found"
	ResultAborted  Result = "aborted" // the client stopped it (TFTP ERROR, closed connection)
	ResultTimeout  Result = "timeout" // the client stopped answering or made no progress
	ResultError    Result = "error"   // the server could not go on (read error, shutdown, busy)
)

// Reasons for not answering that the verdict understands. They are the
// proxy's reason labels, so a caller can pass its label through unchanged;
// any other text is kept and shown as it is.
const (
	ReasonDenied     = "mac-denied"
	ReasonNotAllowed = "mac-not-allowed"
	ReasonNoBootFile = "no-bootfile"
)

// Ways a MAC and an IP address are joined, for Join's via.
const (
	ViaPXERequest = "4011-request" // ciaddr and chaddr of a port-4011 request
	ViaRequest    = "dhcp-request" // option 50 of a broadcast DHCPREQUEST seen on port 67
	ViaSiteReply  = "site-reply"   // yiaddr of the site server's OFFER or ACK seen on port 68
	ViaNeighbour  = "neighbour"    // the kernel's neighbour table for a transfer peer
)

// Discover is a boot request seen from a client.
type Discover struct {
	MAC net.HardwareAddr
	// Port is PortDHCP, PortPXE or PortDHCP6.
	Port int
	// Arch is option 93 (DHCPv6: option 61), the first known value.
	Arch uint16
	// Vendor is option 60 (DHCPv6: option 16's text) as received, e.g.
	// "PXEClient:Arch:00007:UNDI:003016"; its prefix gives the class.
	Vendor string
	// UUID is option 97 (the client's GUID) formatted by the caller.
	UUID string
	// IPXE is true when the request comes from iPXE (user class "iPXE" or
	// option 175).
	IPXE bool
	// ClientIP is ciaddr of a port-4011 request: it joins MAC and address.
	ClientIP netip.Addr
	// Relay is giaddr of a relayed request.
	Relay netip.Addr
	// Iface is the interface the request came in on. With Relay it names the
	// source that new journeys are rate-limited by.
	Iface string
}

// Reply is our answer to a boot request, or the reason none was sent.
type Reply struct {
	MAC net.HardwareAddr
	// Port is the port the request came to: PortDHCP, PortPXE or PortDHCP6.
	Port int
	// File is the boot file or URL offered.
	File string
	// Server is the boot server offered (siaddr).
	Server netip.Addr
	// Reason is empty when the reply was sent, else why not: ReasonDenied,
	// ReasonNotAllowed, ReasonNoBootFile or any short label.
	Reason string
}

// Conflict is another server's answer to this client's boot request, as the
// conflict watcher sees it on port 68.
type Conflict struct {
	MAC net.HardwareAddr
	// Server is the other server's address (option 54 or the source).
	Server netip.Addr
	// What says what it is, e.g. "proxydhcp" or "pxeclient-lease"; shown as it is.
	What string
	// File is the boot file it offered, if any.
	File string
}

// TransferStart describes a download as it begins.
type TransferStart struct {
	// Proto is "tftp" or "http".
	Proto string
	// Peer is the client's address and port.
	Peer netip.AddrPort
	// MAC is the client's MAC when the caller knows it (neighbour table);
	// it joins MAC and address like Join(MAC, Peer's address, ViaNeighbour).
	MAC net.HardwareAddr
	// File is the name the client asked for.
	File string
	// Size is the file's size in bytes; 0 when unknown.
	Size int64
	// BlockSize and WindowSize are the negotiated TFTP options; 0 when not used.
	BlockSize, WindowSize int
}

// Event is one step of a journey. Fields that do not apply to its Kind are
// zero and left out of the JSON.
type Event struct {
	// Seq numbers the events of all journeys in the order they were recorded.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Kind Kind      `json:"kind"`
	// Count is how many identical events this one stands for (a firmware
	// repeats its DISCOVER), Last when the latest of them came; 0 for one.
	Count int       `json:"count,omitempty"`
	Last  time.Time `json:"last,omitzero"`

	Port   int        `json:"port,omitempty"`
	Arch   *uint16    `json:"arch,omitempty"`
	Vendor string     `json:"vendor,omitempty"`
	Class  string     `json:"class,omitempty"` // PXEClient, HTTPClient
	UUID   string     `json:"uuid,omitempty"`
	IPXE   bool       `json:"ipxe,omitempty"`
	Relay  netip.Addr `json:"relay,omitzero"`
	IP     netip.Addr `json:"ip,omitzero"`     // join: the address; discover: ciaddr
	Via    string     `json:"via,omitempty"`   // join: how
	File   string     `json:"file,omitempty"`  // reply, transfer, conflict
	Server netip.Addr `json:"server,omitzero"` // reply: siaddr; conflict: the other server
	Reason string     `json:"reason,omitempty"`
	What   string     `json:"what,omitempty"` // conflict

	Proto       string         `json:"proto,omitempty"`
	Peer        netip.AddrPort `json:"peer,omitzero"`
	Size        int64          `json:"size,omitempty"`
	Bytes       int64          `json:"bytes,omitempty"`
	BlockSize   int            `json:"blksize,omitempty"`
	WindowSize  int            `json:"windowsize,omitempty"`
	Retransmits int            `json:"retransmits,omitempty"`
	Millis      int64          `json:"ms,omitempty"` // transfer duration so far
	Result      Result         `json:"result,omitempty"`
	Running     bool           `json:"running,omitempty"`
	Moved       time.Time      `json:"moved,omitzero"`    // running: when its bytes last moved
	Closest     string         `json:"closest,omitempty"` // not-found: the nearest existing name
	Image       *Image         `json:"image,omitempty"`   // ok: what the delivered file is, when known
	Detail      string         `json:"detail,omitempty"`
}
