//go:build linux

package dhcpsock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Raw is a listener that receives and sends UDP datagrams of one port without
// binding that port, for hosts where another program (the site's DHCP
// server, dnsmasq, systemd-networkd's server) already holds UDP 67. It is
// pixiecore's "no-bind" mode (docs/pxe-notes.md §8).
//
// Receiving: an AF_PACKET socket of type SOCK_DGRAM for ETH_P_IP, with a
// classic BPF filter that passes only unfragmented IPv4/UDP to the port.
// SOCK_DGRAM strips the link header, so the filter and the parser see the
// IP header at offset 0 on Ethernet, veth, bridges and tun alike, and the
// sockaddr_ll names the ingress interface. Packets we send ourselves
// (PACKET_OUTGOING) and frames for other hosts seen in promiscuous mode
// (PACKET_OTHERHOST) are dropped. The kernel still delivers every datagram
// to the program holding the port too: both see each DISCOVER.
//
// Sending: a raw IPv4 socket (IPPROTO_RAW, which implies IP_HDRINCL) with
// the IP and UDP headers built here, so replies leave from source port 67
// as RFC 2131 4.1 requires (iPXE drops a lease offer whose source port is
// not 67, iPXE dhcp.c dhcp_discovery_rx). It is used instead of an
// AF_PACKET socket with a hand-built Ethernet frame because the kernel
// still routes, resolves the relay agent's MAC by ARP for giaddr replies,
// fills in the IP checksum, length and id, and works on any link type; the
// outgoing interface of a broadcast is chosen per packet with IP_PKTINFO.
// An IPPROTO_RAW socket never receives, so it queues nothing.
//
// What the kernel's IP layer would drop before a bound UDP socket, Raw
// drops itself: bad IP header and UDP checksums, fragments, datagrams not
// addressed to us on the ingress interface (ours, its subnet broadcast,
// the limited broadcast) and martian sources (admit). It sends only from
// our own addresses.
//
// Both sockets need CAP_NET_RAW.
type Raw struct {
	port  int
	rx    *os.File // AF_PACKET, non-blocking, in Go's poller
	rc    syscall.RawConn
	tx    int // raw IPv4 socket
	oob   []byte
	addrs *localAddrs

	closeOnce sync.Once
	closeErr  error
}

// ErrNotPermitted wraps the error of a socket call refused for lack of
// CAP_NET_RAW.
var ErrNotPermitted = errors.New("raw sockets need CAP_NET_RAW")

// ListenRaw opens the raw listener for UDP port on every interface.
// rcvbuf > 0 asks for that receive buffer (SO_RCVBUFFORCE, else
// SO_RCVBUF); ListenRaw returns the size granted.
func ListenRaw(port, rcvbuf int) (*Raw, int, error) {
	if port <= 0 || port > 65535 {
		return nil, 0, fmt.Errorf("raw listen: bad port %d", port)
	}
	// Protocol 0 first: the socket receives nothing until the filter is
	// attached and it is bound to ETH_P_IP, so no unfiltered packet queues.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, 0, sockErr("open packet socket", err)
	}
	closeFd := func() { unix.Close(fd) }
	prog, err := filter(port)
	if err != nil {
		closeFd()
		return nil, 0, err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		closeFd()
		return nil, 0, fmt.Errorf("attach bpf filter: %w", err)
	}
	// PACKET_AUXDATA says whether the kernel vouches for the UDP checksum
	// (checked by the NIC, or not yet computed because the sender is on
	// this host, as over a veth): else ReadPacket checks it.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		closeFd()
		return nil, 0, fmt.Errorf("packet socket: PACKET_AUXDATA: %w", err)
	}
	granted := setRcvbuf(fd, rcvbuf)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP)}); err != nil {
		closeFd()
		return nil, 0, sockErr("bind packet socket", err)
	}

	tx, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		closeFd()
		return nil, 0, sockErr("open raw ip socket", err)
	}
	if err := unix.SetsockoptInt(tx, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		closeFd()
		unix.Close(tx)
		return nil, 0, fmt.Errorf("raw ip socket: SO_BROADCAST: %w", err)
	}

	f := os.NewFile(uintptr(fd), fmt.Sprintf("packet:udp%d", port))
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		unix.Close(tx)
		return nil, 0, fmt.Errorf("packet socket: %w", err)
	}
	return &Raw{port: port, rx: f, rc: rc, tx: tx, oob: make([]byte, unix.CmsgSpace(sizeofAuxdata)), addrs: newLocalAddrs()}, granted, nil
}

func sockErr(op string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%s: %w: %w", op, ErrNotPermitted, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// filter returns the classic BPF program that passes IPv4 packets (as
// seen by a SOCK_DGRAM packet socket: IP header at offset 0) carrying an
// unfragmented UDP datagram to port.
func filter(port int) ([]unix.SockFilter, error) {
	raw, err := bpf.Assemble(program(port))
	if err != nil {
		return nil, fmt.Errorf("assemble bpf filter: %w", err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

func program(port int) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 1},                       // version/IHL
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},      // version
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 4, SkipTrue: 8}, // not IPv4: drop
		bpf.LoadAbsolute{Off: 9, Size: 1},                       // protocol
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_UDP, SkipTrue: 6},
		bpf.LoadAbsolute{Off: 6, Size: 2},                           // flags + fragment offset
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x3fff, SkipTrue: 4}, // MF or offset: a fragment
		bpf.LoadMemShift{Off: 0},                                    // X = IHL*4
		bpf.LoadIndirect{Off: 2, Size: 2},                           // UDP destination port
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipFalse: 1},
		bpf.RetConstant{Val: 0x40000},
		bpf.RetConstant{Val: 0},
	}
}

// ReadPacket returns the UDP payload of the next datagram to the port,
// moved to the front of b, with its source, destination and ingress
// interface. A datagram whose IP packet does not fit in b is dropped, and
// so is one a bound UDP socket would never receive.
func (c *Raw) ReadPacket(b []byte) (n int, src *net.UDPAddr, dst net.IP, ifIndex int, err error) {
	for {
		var (
			k, oobn int
			from    unix.Sockaddr
			rerr    error
		)
		err := c.rc.Read(func(fd uintptr) bool {
			k, oobn, _, from, rerr = unix.Recvmsg(int(fd), b, c.oob, 0)
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			return 0, nil, nil, 0, fmt.Errorf("raw read: %w", err)
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype == unix.PACKET_OUTGOING || ll.Pkttype == unix.PACKET_OTHERHOST {
			continue
		}
		d, err := parseIPv4UDP(b[:k], csumTrusted(c.oob[:oobn]))
		if err != nil || d.dstPort != c.port || c.addrs.admit(d.src, d.dst, ll.Ifindex) != nil {
			continue // the filter passed it, but the kernel would not deliver it
		}
		s4, d4 := d.src.As4(), d.dst.As4()
		// The payload moves to the front of b (copy handles the overlap);
		// the addresses were copied out of b by the parser.
		return copy(b, d.payload), &net.UDPAddr{IP: net.IP(s4[:]), Port: d.srcPort}, net.IP(d4[:]), ll.Ifindex, nil
	}
}

const sizeofAuxdata = int(unsafe.Sizeof(unix.TpacketAuxdata{}))

// csumTrusted reads PACKET_AUXDATA: the kernel has checked the transport
// checksum (TP_STATUS_CSUM_VALID), or it is not computed yet because the
// packet comes from this host, over a veth say (TP_STATUS_CSUMNOTREADY,
// CHECKSUM_PARTIAL), which the kernel's UDP accepts too.
func csumTrusted(oob []byte) bool {
	for len(oob) >= unix.CmsgLen(0) {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < unix.CmsgLen(0) || n > len(oob) {
			return false
		}
		if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && n >= unix.CmsgLen(sizeofAuxdata) {
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			return aux.Status&(unix.TP_STATUS_CSUM_VALID|unix.TP_STATUS_CSUMNOTREADY) != 0
		}
		oob = oob[min(unix.CmsgSpace(n-unix.CmsgLen(0)), len(oob)):]
	}
	return false
}

// ReadFrom is ReadPacket for readers that want only the source (the
// conflict watcher: ReplyReader).
func (c *Raw) ReadFrom(b []byte) (int, net.Addr, error) {
	n, src, _, _, err := c.ReadPacket(b)
	if err != nil {
		return n, nil, err
	}
	return n, src, nil
}

// WritePacket sends b from src:port to dst, through interface ifIndex
// when non-zero. It is safe for concurrent use.
func (c *Raw) WritePacket(b []byte, src net.IP, ifIndex int, dst *net.UDPAddr) error {
	d4 := dst.IP.To4()
	if d4 == nil {
		return fmt.Errorf("raw write: %s is not IPv4", dst.IP)
	}
	if s4 := src.To4(); s4 != nil && !s4.IsUnspecified() && !c.addrs.local(netip.AddrFrom4([4]byte(s4))) {
		// The raw socket would send from any address it is given: only
		// ours, as a UDP socket would (which says EINVAL or ENETUNREACH).
		return fmt.Errorf("raw write from %s: %w", src, syscall.EADDRNOTAVAIL)
	}
	pkt := buildIPv4UDP(src, c.port, d4, dst.Port, b)
	to := &unix.SockaddrInet4{}
	copy(to.Addr[:], d4)
	var oob []byte
	if ifIndex != 0 {
		// IP_PKTINFO picks the outgoing interface per packet: a broadcast
		// must leave where the request came in, not where the routing
		// table sends 255.255.255.255.
		oob = pktinfo(ifIndex)
	}
	if err := unix.Sendmsg(c.tx, pkt, oob, to, 0); err != nil {
		return fmt.Errorf("raw write to %s: %w", dst, err)
	}
	return nil
}

func pktinfo(ifIndex int) []byte {
	oob := make([]byte, unix.CmsgSpace(unix.SizeofInet4Pktinfo))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.IPPROTO_IP
	h.Type = unix.IP_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
	pi.Ifindex = int32(ifIndex)
	return oob
}

// Close closes both sockets; a ReadPacket blocked on c returns.
func (c *Raw) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = errors.Join(c.rx.Close(), unix.Close(c.tx))
	})
	return c.closeErr
}

// datagram is a parsed IPv4/UDP packet.
type datagram struct {
	src, dst         netip.Addr
	srcPort, dstPort int
	payload          []byte
}

// parseIPv4UDP parses an IPv4 packet holding a whole UDP datagram and
// checks what ip_rcv and udp4_csum_init check: the lengths, the IP header
// checksum and, unless udpOK says the kernel vouches for it, the UDP
// checksum (0 is "none", RFC 768).
func parseIPv4UDP(p []byte, udpOK bool) (*datagram, error) {
	if len(p) < 20 || p[0]>>4 != 4 {
		return nil, errors.New("not ipv4")
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if ihl < 20 || total < ihl+8 || total > len(p) {
		return nil, fmt.Errorf("bad ipv4 lengths: ihl %d total %d have %d", ihl, total, len(p))
	}
	if checksum(p[:ihl], 0) != 0 {
		return nil, fmt.Errorf("%w: ipv4 header", errChecksum)
	}
	if p[9] != unix.IPPROTO_UDP {
		return nil, errors.New("not udp")
	}
	if binary.BigEndian.Uint16(p[6:8])&0x3fff != 0 {
		return nil, errors.New("ipv4 fragment")
	}
	u := p[ihl:total]
	ulen := int(binary.BigEndian.Uint16(u[4:6]))
	if ulen < 8 || ulen > len(u) {
		return nil, fmt.Errorf("bad udp length %d of %d", ulen, len(u))
	}
	u = u[:ulen]
	if !udpOK && binary.BigEndian.Uint16(u[6:8]) != 0 && checksum(u, pseudoHeader(p[12:20], ulen)) != 0 {
		return nil, fmt.Errorf("%w: udp", errChecksum)
	}
	return &datagram{
		src:     netip.AddrFrom4([4]byte(p[12:16])),
		dst:     netip.AddrFrom4([4]byte(p[16:20])),
		srcPort: int(binary.BigEndian.Uint16(u[0:2])),
		dstPort: int(binary.BigEndian.Uint16(u[2:4])),
		payload: u[8:],
	}, nil
}

// pseudoHeader is the sum of the UDP pseudo header: source and
// destination (addrs, 8 bytes), zero, protocol, UDP length.
func pseudoHeader(addrs []byte, ulen int) uint32 {
	var sum uint32
	for i := 0; i < 8; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(addrs[i : i+2]))
	}
	return sum + unix.IPPROTO_UDP + uint32(ulen)
}

// buildIPv4UDP builds an IPv4 packet (no options) holding payload as a UDP
// datagram. A nil src leaves the source 0.0.0.0 for the kernel to fill in
// and the UDP checksum 0 ("none", RFC 768), since it covers the source.
func buildIPv4UDP(src net.IP, sport int, dst net.IP, dport int, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:4], uint16(len(p)))
	p[8] = 64 // TTL
	p[9] = unix.IPPROTO_UDP
	s4 := src.To4()
	if s4 != nil {
		copy(p[12:16], s4)
	}
	copy(p[16:20], dst.To4())
	binary.BigEndian.PutUint16(p[10:12], checksum(p[:20], 0))
	u := p[20:]
	binary.BigEndian.PutUint16(u[0:2], uint16(sport))
	binary.BigEndian.PutUint16(u[2:4], uint16(dport))
	binary.BigEndian.PutUint16(u[4:6], uint16(len(u)))
	copy(u[8:], payload)
	if s4 != nil {
		c := checksum(u, pseudoHeader(p[12:20], len(u)))
		if c == 0 {
			c = 0xffff // 0 means "no checksum" in UDP over IPv4
		}
		binary.BigEndian.PutUint16(u[6:8], c)
	}
	return p
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i : i+2]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
