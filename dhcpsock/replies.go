//go:build linux

package dhcpsock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ReplyReader is the receiving half of the conflict watcher's socket: a
// net.PacketConn, or the raw listener (Raw.ReadFrom). It has the method
// set of conflict.PacketReader.
type ReplyReader interface {
	ReadFrom(b []byte) (int, net.Addr, error)
	Close() error
}

// ListenReplies opens the conflict watcher's passive listener for other
// servers' replies on port 68 (ListenBroadcast68), falling back to the raw
// listener. When neither opens it logs why and returns nil: detection is a
// diagnostic, never a reason to stop answering.
//
// dropLocal says no DHCP server runs on this host (port 67 was free): the
// kernel then drops our own looped-back offers before they reach the
// listener.
func ListenReplies(ctx context.Context, dropLocal bool, log *slog.Logger) ReplyReader {
	conn, err := ListenBroadcast68(ctx, dropLocal)
	if err == nil {
		log.Info("watching for conflicting DHCP servers", "svc", "conflict", "mode", ModeUDP, "port", PortClient)
		return conn
	}
	raw, _, rerr := ListenRaw(PortClient, 0)
	if rerr != nil {
		log.Warn("conflict detection off: cannot listen for DHCP replies on port 68", "svc", "conflict", "err", err, "raw_err", rerr)
		return nil
	}
	log.Info("watching for conflicting DHCP servers", "svc", "conflict", "mode", ModeRaw, "port", PortClient)
	return raw
}

// ListenBroadcast68 opens UDP bound to 255.255.255.255:68, so it receives
// broadcast replies only, with SO_REUSEADDR and SO_REUSEPORT so a DHCP
// client on this host keeps its port and its unicast replies.
//
// dropLocal makes the kernel drop, with a socket filter, the copies of
// broadcasts sent by this host itself (the kernel loops every broadcast
// back to local listeners, skb pkt_type PACKET_LOOPBACK): pxeproxy's own
// offers, one per reply, which would otherwise wake this listener under a
// burst. Use it when no DHCP server runs on this host (port 67 was free):
// then everything looped back is ours.
func ListenBroadcast68(ctx context.Context, dropLocal bool) (net.PacketConn, error) {
	var loopFilter []bpf.RawInstruction
	if dropLocal {
		var err error
		loopFilter, err = bpf.Assemble([]bpf.Instruction{
			bpf.LoadExtension{Num: bpf.ExtType},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_LOOPBACK, SkipTrue: 1},
			bpf.RetConstant{Val: 0xffff},
			bpf.RetConstant{Val: 0},
		})
		if err != nil {
			return nil, fmt.Errorf("assemble loopback filter: %w", err)
		}
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = errors.Join(
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1))
			if serr == nil && loopFilter != nil {
				prog := unix.SockFprog{Len: uint16(len(loopFilter)), Filter: (*unix.SockFilter)(unsafe.Pointer(&loopFilter[0]))}
				serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(ctx, "udp4", fmt.Sprintf("255.255.255.255:%d", PortClient))
	if err != nil {
		return nil, fmt.Errorf("listen for dhcp replies on udp 255.255.255.255:%d: %w", PortClient, err)
	}
	return conn, nil
}
