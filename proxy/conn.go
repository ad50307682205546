package proxy

import (
	"fmt"
	"net"

	"golang.org/x/net/ipv4"
)

// ConnTransport is the portable Transport: any UDP net.PacketConn, with
// the ingress interface and destination address read from IPv4 control
// messages (golang.org/x/net/ipv4) and the source address and interface
// of each reply chosen the same way. It needs an OS where x/net/ipv4
// supports control messages (Linux, the BSDs, macOS). On Linux, package
// dhcpsock has the faster recvmmsg transport and the raw fallback.
type ConnTransport struct {
	pc *ipv4.PacketConn
}

// NewConnTransport wraps conn, an IPv4 UDP socket, and asks the kernel for
// the control messages. The caller keeps conn: closing the transport
// closes it.
func NewConnTransport(conn net.PacketConn) (*ConnTransport, error) {
	pc := ipv4.NewPacketConn(conn)
	if err := pc.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true); err != nil {
		return nil, fmt.Errorf("enable ipv4 control messages: %w", err)
	}
	return &ConnTransport{pc: pc}, nil
}

// ReadPacket implements Transport.
func (c *ConnTransport) ReadPacket(b []byte) (n int, src *net.UDPAddr, dst net.IP, ifIndex int, err error) {
	n, cm, from, err := c.pc.ReadFrom(b)
	if err != nil {
		return 0, nil, nil, 0, err
	}
	src, _ = from.(*net.UDPAddr)
	if cm != nil {
		dst, ifIndex = cm.Dst, cm.IfIndex
	}
	return n, src, dst, ifIndex, nil
}

// WritePacket implements Transport.
func (c *ConnTransport) WritePacket(b []byte, src net.IP, ifIndex int, dst *net.UDPAddr) error {
	if dst.IP.To4() == nil {
		return fmt.Errorf("not an IPv4 destination: %s", dst)
	}
	if _, err := c.pc.WriteTo(b, &ipv4.ControlMessage{Src: src, IfIndex: ifIndex}, dst); err != nil {
		return fmt.Errorf("send to %s: %w", dst, err)
	}
	return nil
}

// Close implements Transport.
func (c *ConnTransport) Close() error { return c.pc.Close() }
