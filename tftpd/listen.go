package tftpd

import "net"

// Listen opens the UDP socket Serve reads requests from. A host literal
// picks the family; with no host it listens on IPv4 and returns the port,
// for the caller to serve [::] on it too when IPv6 is on (a udp6 socket is
// IPv6 only: Go sets IPV6_V6ONLY, so the two do not clash).
func Listen(addr string) (conn net.PacketConn, wildcardPort string, err error) {
	host, port, _ := net.SplitHostPort(addr)
	network := "udp4"
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		network = "udp6"
	} else if host == "" {
		wildcardPort = port
	}
	conn, err = net.ListenPacket(network, addr)
	if err != nil {
		return nil, "", err
	}
	return conn, wildcardPort, nil
}
