// Package feed feeds the boot journal from the services' plain-value hooks
// (the proxy, the conflict watcher, the TFTP and HTTP servers) and joins a
// transfer's peer to its MAC through the kernel's neighbour table. It is the
// only package that knows both journal and the services: no service package
// imports journal, and journal imports none of them.
package feed

import (
	"context"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/pxeproxy/pxeproxy/conflict"
	"github.com/pxeproxy/pxeproxy/httpd"
	"github.com/pxeproxy/pxeproxy/journal"
	"github.com/pxeproxy/pxeproxy/metrics"
	"github.com/pxeproxy/pxeproxy/neigh"
	"github.com/pxeproxy/pxeproxy/proxy"
	"github.com/pxeproxy/pxeproxy/tftpd"
)

// Config is what the feed keeps and where it looks.
type Config struct {
	// Clients is how many journeys the journal keeps (journal.Config).
	Clients int
	// Interfaces are the served interfaces, whose neighbours are looked up;
	// empty: all.
	Interfaces []string
	// Files is the boot folder, listed for the closest name of a missing
	// file and read for what a delivered boot file is (its PE/COFF
	// headers); nil: none (no TFTP server).
	Files fs.FS
	// ARPPath is the neighbour table to read; empty: the kernel's.
	ARPPath string
}

// Feed records what the services report in a journal.
type Feed struct {
	j     *journal.Journal
	neigh *neigh.Table
	files fs.FS
	imgs  *images
}

// New returns a Feed over a new journal.
func New(cfg Config, log *slog.Logger) *Feed {
	jw := &Feed{files: cfg.Files, imgs: &images{files: cfg.Files}}
	jw.j = journal.New(journal.Config{Clients: cfg.Clients, Names: jw.names, Image: jw.imgs.image}, log)
	jw.neigh = neigh.New(neigh.Config{Interfaces: cfg.Interfaces, Path: cfg.ARPPath, Found: func(ip netip.Addr, mac net.HardwareAddr) {
		jw.j.Join(mac, ip, journal.ViaNeighbour)
	}})
	return jw
}

// Journal is the journal fed, for its page and API.
func (jw *Feed) Journal() *journal.Journal { return jw.j }

// Run joins transfer peers to their MAC once the kernel has learnt it,
// until ctx ends.
func (jw *Feed) Run(ctx context.Context) error { return jw.neigh.Run(ctx) }

// Request records a PXE request the proxy handled.
func (jw *Feed) Request(s proxy.Seen) {
	if s.Port == proxy.PortDHCP && s.Type == dhcpv4.MessageTypeRequest {
		// The client's lease REQUEST, meant for the site's server: option
		// 50 (or ciaddr when renewing) is its address. Not a boot request.
		ip := s.Requested
		if !ip.IsValid() {
			ip = s.ClientIP
		}
		jw.j.Join(s.MAC, ip, journal.ViaRequest)
		if s.Reason == "" { // answered (PXE_ANSWER_REQUEST_67)
			jw.j.Reply(journal.Reply{MAC: s.MAC, Port: s.Port, File: s.File, Server: s.Server})
		}
		return
	}
	jw.j.Discover(journal.Discover{MAC: s.MAC, Port: s.Port, Arch: s.Arch, Vendor: string(s.Vendor),
		UUID: guid(s.UUID), IPXE: s.IPXE, ClientIP: s.ClientIP, Relay: s.Relay, Iface: s.Iface})
	jw.j.Reply(journal.Reply{MAC: s.MAC, Port: s.Port, File: s.File, Server: s.Server, Reason: s.Reason})
}

// guid formats option 97 (type 0 and 16 bytes) as 8-4-4-4-12 hex digits
// the way dmidecode, the firmware's setup screen and WDS show the machine's
// UUID. EDK2 (NetLibGetSystemGuid) and iPXE (uuid_mangle, after RFC 4578's
// hint) both send it as an EFI GUID: the first three fields little-endian.
func guid(b []byte) string {
	if len(b) == 17 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) != 16 {
		return ""
	}
	var u [16]byte
	copy(u[:], b)
	slices.Reverse(u[0:4])
	slices.Reverse(u[4:6])
	slices.Reverse(u[6:8])
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	hex.Encode(out[9:13], u[4:6])
	hex.Encode(out[14:18], u[6:8])
	hex.Encode(out[19:23], u[8:10])
	hex.Encode(out[24:36], u[10:16])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return string(out[:])
}

// Conflict records another server's answer to a client.
func (jw *Feed) Conflict(f conflict.Finding) {
	server, _ := netip.AddrFromSlice(f.Server.To4())
	jw.j.Conflict(journal.Conflict{MAC: f.MAC, Server: server, What: string(f.Kind), File: f.File})
}

// Lease joins a client's MAC and the address a DHCP server gives it.
func (jw *Feed) Lease(mac net.HardwareAddr, ip netip.Addr) {
	jw.j.Join(mac, ip, journal.ViaSiteReply)
}

// StartTFTP records a TFTP download and follows it.
func (jw *Feed) StartTFTP(s tftpd.Start) tftpd.Watch {
	if w := jw.start("tftp", s.Peer, s.File, s.Size, s.BlockSize, s.WindowSize); w != nil {
		return w
	}
	return nil
}

// StartHTTP records an HTTP download and follows it.
func (jw *Feed) StartHTTP(s httpd.Start) httpd.Watch {
	if w := jw.start("http", s.Peer, s.File, s.Size, 0, 0); w != nil {
		return w
	}
	return nil
}

// start records a download. The peer's MAC comes from the neighbour
// table when the kernel knows it; if not yet, the neighbour look-up joins
// it later, once the transfer's own traffic has made the kernel learn it.
func (jw *Feed) start(proto string, peer netip.AddrPort, file string, size int64, blksize, window int) *transfer {
	mac := jw.neigh.Lookup(peer.Addr())
	t := jw.j.StartTransfer(journal.TransferStart{Proto: proto, Peer: peer, MAC: mac, File: file, Size: size,
		BlockSize: blksize, WindowSize: window})
	if t == nil {
		return nil
	}
	return &transfer{t}
}

// transfer is a journal transfer as a tftpd.Watch and an httpd.Watch.
type transfer struct{ t *journal.Transfer }

func (t *transfer) Progress(bytes int64, retransmits int) { t.t.Progress(bytes, retransmits) }

func (t *transfer) End(result, detail string) { t.t.End(journal.Result(result), detail) }

// Stats is the journal's reading for the metrics.
func (jw *Feed) Stats() metrics.Journeys {
	st := jw.j.Stats()
	out := metrics.Journeys{Clients: map[string]int{}, Boots: map[string]uint64{}, Dropped: st.Dropped}
	for s, n := range st.Clients {
		out.Clients[string(s)] = n
	}
	for s, n := range st.Boots {
		out.Boots[string(s)] = n
	}
	return out
}

// States are the label values of the journal's metrics.
func States() []string {
	out := make([]string, len(journal.States))
	for i, s := range journal.States {
		out[i] = string(s)
	}
	return out
}

// Bounds of the boot folder listing for the closest name of a missing file.
const (
	maxListed  = 5000  // names returned
	maxVisited = 20000 // entries looked at
)

// names lists the boot folder's files (the journal asks at most every 10
// seconds, on a request for a missing file).
func (jw *Feed) names() []string {
	if jw.files == nil {
		return nil
	}
	var out []string
	visited := 0
	_ = fs.WalkDir(jw.files, ".", func(p string, d fs.DirEntry, err error) error {
		visited++
		if visited > maxVisited || len(out) >= maxListed {
			return fs.SkipAll
		}
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}
