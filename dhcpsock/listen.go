//go:build linux

package dhcpsock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// DHCP ports (RFC 2131 4.1).
const (
	PortServer = 67   // requests from clients and relay agents
	PortClient = 68   // replies to clients: what the conflict watcher hears
	PortPXE    = 4011 // PXE boot-server requests (only a PXE boot service binds it)
)

// Listening modes, named in the start lines.
const (
	ModeUDP = "udp"           // an ordinary socket bound to the port
	ModeRaw = "raw-af-packet" // another program holds the port; AF_PACKET + BPF
)

// Transport is what both kinds of port-67 socket offer. Its method set is
// proxy.Transport's, which uses standard types only, so a UDP or a Raw
// satisfies that interface without this package importing proxy.
type Transport interface {
	ReadPacket(b []byte) (n int, src *net.UDPAddr, dst net.IP, ifIndex int, err error)
	WritePacket(b []byte, src net.IP, ifIndex int, dst *net.UDPAddr) error
	Close() error
}

var (
	_ Transport = (*UDP)(nil)
	_ Transport = (*Raw)(nil)
)

// Listen opens the UDP socket for addr with a large receive buffer: a lab
// of machines powered on together sends thousands of DISCOVERs at once,
// and the kernel's default buffer (208 KiB) drops most of them. It returns
// the buffer size the kernel granted; rcvbuf 0 keeps the kernel's default.
// The socket can broadcast and has IP_PKTINFO on; NewUDP takes it over.
func Listen(ctx context.Context, addr string, rcvbuf int) (net.PacketConn, int, error) {
	return listen(ctx, "udp4", addr, rcvbuf, func(fd int) error {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
			return err
		}
		// From the first packet on: a datagram queued before IP_PKTINFO is
		// enabled carries no ingress interface.
		return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	})
}

// Listen6 opens a UDP socket on addr ("[::]:547" or "[::]:4011") for
// proxy6.Server.Serve, IPv6 only, with a receive buffer of rcvbuf bytes:
// machines powered on together send thousands of SOLICITs at once, and the
// kernel's default buffer drops most of them (bench/dhcp/run6.sh). It
// returns the size the kernel granted; rcvbuf 0 keeps the default.
func Listen6(ctx context.Context, addr string, rcvbuf int) (net.PacketConn, int, error) {
	return listen(ctx, "udp6", addr, rcvbuf, func(fd int) error {
		// From the first datagram on: one queued before Serve asks for
		// IPV6_RECVPKTINFO would carry no ingress interface.
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
	})
}

// listen opens a UDP socket of network on addr with a receive buffer of
// rcvbuf bytes and the options set by opts before it is bound, and returns
// the buffer size granted.
func listen(ctx context.Context, network, addr string, rcvbuf int, opts func(fd int) error) (net.PacketConn, int, error) {
	var granted int
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			granted = setRcvbuf(int(fd), rcvbuf)
			serr = opts(int(fd))
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(ctx, network, addr)
	if err != nil {
		// "udp" for IPv4, as the start error has always said.
		return nil, 0, fmt.Errorf("listen on %s %s: %w", strings.TrimSuffix(network, "4"), addr, err)
	}
	return conn, granted, nil
}

// setRcvbuf asks for a receive buffer of rcvbuf bytes (none when 0) and
// returns the size granted. SO_RCVBUFFORCE passes net.core.rmem_max with
// CAP_NET_ADMIN; without it SO_RCVBUF is capped by rmem_max.
func setRcvbuf(fd, rcvbuf int) int {
	if rcvbuf > 0 && unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		return 0
	}
	return v / 2 // the kernel reports twice the usable size
}

// ListenUDP opens UDP port on all addresses for the recvmmsg transport,
// with a receive buffer of rcvbuf bytes; it warns when the kernel grants
// less. A port that cannot be bound gives an error saying what to do.
func ListenUDP(ctx context.Context, port, rcvbuf int, log *slog.Logger) (*UDP, error) {
	conn, granted, err := Listen(ctx, ":"+strconv.Itoa(port), rcvbuf)
	if err != nil {
		return nil, portHint(err, port)
	}
	u, err := NewUDP(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("port %d: %w", port, err)
	}
	warnRcvbuf(log, port, granted, rcvbuf, ModeUDP)
	return u, nil
}

// Listen67 opens the DHCP port and says in which mode. When another
// program (the host's DHCP server) holds UDP 67, it falls back to the raw
// listener, which needs CAP_NET_RAW (docs/pxe-notes.md §8); without that,
// the error is one line saying what to do.
func Listen67(ctx context.Context, rcvbuf int, log *slog.Logger) (Transport, string, error) {
	u, err := ListenUDP(ctx, PortServer, rcvbuf, log)
	if err == nil {
		return u, ModeUDP, nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, "", err
	}
	raw, granted, rerr := ListenRaw(PortServer, rcvbuf)
	if rerr != nil {
		if errors.Is(rerr, ErrNotPermitted) {
			return nil, "", errors.New("port 67 is taken by another program (a DHCP server on this host?) and the raw fallback needs CAP_NET_RAW: stop the other server, or grant NET_RAW (docker run --cap-add NET_RAW; systemd AmbientCapabilities=CAP_NET_RAW)")
		}
		return nil, "", fmt.Errorf("port 67 is taken by another program and the raw fallback failed: %w", rerr)
	}
	log.Info("port 67 is taken by another program: receiving DHCP through a raw AF_PACKET listener (both answer every DISCOVER; pxeproxy only PXE clients)",
		"svc", "proxy", "mode", ModeRaw)
	warnRcvbuf(log, PortServer, granted, rcvbuf, ModeRaw)
	return raw, ModeRaw, nil
}

func warnRcvbuf(log *slog.Logger, port, granted, asked int, mode string) {
	if granted < asked {
		log.Warn("receive buffer smaller than asked: a burst of PXE clients may be dropped; raise net.core.rmem_max or grant CAP_NET_ADMIN",
			"port", port, "mode", mode, "asked", asked, "granted", granted)
	}
}

// portHint adds what to do when a DHCP port cannot be bound, naming what
// can hold that port: a DHCP server holds 67, never 4011, which only a PXE
// boot service binds (another pxeproxy, dnsmasq with pxe-service, WDS).
func portHint(err error, port int) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE) && port == PortServer:
		return fmt.Errorf("%w: port %d is taken by another program (a DHCP server or dnsmasq on this host?); stop it or run pxeproxy on another host", err, port)
	case errors.Is(err, syscall.EADDRINUSE) && port == PortPXE:
		return fmt.Errorf("%w: port %d is taken by another program: another pxeproxy, or a PXE boot service (dnsmasq with pxe-service or a proxy dhcp-range, WDS) on this host; stop it, or run only one", err, port)
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%w: port %d is taken by another program; stop it or choose another port", err, port)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w: binding port %d needs root or CAP_NET_BIND_SERVICE", err, port)
	}
	return err
}
