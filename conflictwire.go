package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/pxeproxy/pxeproxy/conflict"
	"github.com/pxeproxy/pxeproxy/proxy"
	"github.com/pxeproxy/pxeproxy/rawudp"
)

// Listening modes of port 67, named in the start line.
const (
	mode67UDP = "udp"           // an ordinary socket bound to :67
	mode67Raw = "raw-af-packet" // another program holds :67; AF_PACKET + BPF
)

// listen67 opens the DHCP port. When another program (the host's DHCP
// server) holds UDP 67, it falls back to the raw listener, which needs
// CAP_NET_RAW; without that, the error is one line saying what to do.
func listen67(ctx context.Context, rcvbuf int, log *slog.Logger) (proxy.Transport, string, error) {
	conn, granted, err := proxy.Listen(ctx, fmt.Sprintf(":%d", proxy.PortDHCP), rcvbuf)
	if err == nil {
		t, err := proxy.NewUDPTransport(conn)
		if err != nil {
			conn.Close()
			return nil, "", err
		}
		warnRcvbuf(log, proxy.PortDHCP, granted, rcvbuf, mode67UDP)
		return t, mode67UDP, nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, "", portHint(err, proxy.PortDHCP)
	}
	raw, granted, rerr := rawudp.Listen(proxy.PortDHCP, rcvbuf)
	if rerr != nil {
		if errors.Is(rerr, rawudp.ErrNotPermitted) {
			return nil, "", errors.New("port 67 is taken by another program (a DHCP server on this host?) and the raw fallback needs CAP_NET_RAW: stop the other server, or grant NET_RAW (docker run --cap-add NET_RAW; systemd AmbientCapabilities=CAP_NET_RAW)")
		}
		return nil, "", fmt.Errorf("port 67 is taken by another program and the raw fallback failed: %w", rerr)
	}
	log.Info("port 67 is taken by another program: receiving DHCP through a raw AF_PACKET listener (both answer every DISCOVER; pxeproxy only PXE clients)",
		"svc", "proxy", "mode", mode67Raw)
	warnRcvbuf(log, proxy.PortDHCP, granted, rcvbuf, mode67Raw)
	return raw, mode67Raw, nil
}

func warnRcvbuf(log *slog.Logger, port, granted, asked int, mode string) {
	if granted < asked {
		log.Warn("receive buffer smaller than asked: a burst of PXE clients may be dropped; raise net.core.rmem_max or grant CAP_NET_ADMIN",
			"port", port, "mode", mode, "asked", asked, "granted", granted)
	}
}

// conflictWatch opens the passive listener for other servers' replies and
// returns the service to run, or nil when no listener can be opened (the
// start goes on without detection: it is a diagnostic, never a reason to
// stop answering). serverIP is PXE_SERVER_IP (may be nil); onFinding may
// be nil.
//
// dropLocal says no DHCP server runs on this host (port 67 was free): the
// kernel then drops our own looped-back offers before they reach the
// listener (conflict.Listen).
func conflictWatch(ctx context.Context, log *slog.Logger, serverIP net.IP, onFinding func(conflict.Finding), dropLocal bool) func(context.Context) error {
	d := &conflict.Detector{Log: log, Ours: ourAddrs(serverIP), OnFinding: onFinding}
	conn, err := conflict.Listen(ctx, dropLocal)
	if err == nil {
		log.Info("watching for conflicting DHCP servers", "svc", "conflict", "mode", "udp", "port", conflict.Port)
		return func(ctx context.Context) error { return d.Serve(ctx, conn) }
	}
	raw, _, rerr := rawudp.Listen(conflict.Port, 0)
	if rerr != nil {
		log.Warn("conflict detection off: cannot listen for DHCP replies on port 68", "svc", "conflict", "err", err, "raw_err", rerr)
		return nil
	}
	log.Info("watching for conflicting DHCP servers", "svc", "conflict", "mode", "raw-af-packet", "port", conflict.Port)
	return func(ctx context.Context) error { return d.Serve(ctx, rawReader{raw}) }
}

// rawReader adapts the raw listener to conflict.PacketReader.
type rawReader struct{ c *rawudp.Conn }

func (r rawReader) ReadFrom(b []byte) (int, net.Addr, error) {
	n, in, err := r.c.ReadPacket(b)
	return n, in.Src, err
}

func (r rawReader) Close() error { return r.c.Close() }

// ourAddrs reports whether an address is ours: PXE_SERVER_IP or any
// address of this host. The host's addresses are cached for ten seconds so
// a busy LAN costs no netlink dump per reply.
func ourAddrs(serverIP net.IP) func(net.IP) bool {
	var (
		mu     sync.Mutex
		addrs  []net.IP
		loaded time.Time
	)
	return func(ip net.IP) bool {
		if serverIP != nil && serverIP.Equal(ip) {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		if time.Since(loaded) > 10*time.Second {
			loaded = time.Now()
			if as, err := net.InterfaceAddrs(); err == nil {
				addrs = addrs[:0]
				for _, a := range as {
					if n, ok := a.(*net.IPNet); ok {
						addrs = append(addrs, n.IP)
					}
				}
			}
		}
		for _, a := range addrs {
			if a.Equal(ip) {
				return true
			}
		}
		return false
	}
}
