package conflict

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/netnstest"
	"golang.org/x/sys/unix"
)

// TestListenDropLocal: with dropLocal the listener never sees broadcasts
// sent by this host (our own offers, looped back by the kernel) but still
// sees those of another host on the link.
func TestListenDropLocal(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	peer := netnstest.Netns(t, "10.72.0.1/24", "10.72.0.2/24")
	for _, drop := range []bool{true, false} {
		conn, err := Listen(context.Background(), drop)
		if err != nil {
			t.Fatal(err)
		}
		local := broadcaster(t, peer.HostIf)
		var remote net.PacketConn
		if err := peer.Do(func() error { remote = broadcaster(t, peer.PeerIf); return nil }); err != nil {
			t.Fatal(err)
		}
		dst := &net.UDPAddr{IP: net.IPv4bcast, Port: Port}
		if _, err := local.WriteTo([]byte("local"), dst); err != nil {
			t.Fatal(err)
		}
		if _, err := remote.WriteTo([]byte("remote"), dst); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		buf := make([]byte, 64)
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				break
			}
			got[string(buf[:n])] = true
		}
		conn.Close()
		local.Close()
		remote.Close()
		if !got["remote"] || got["local"] == drop {
			t.Fatalf("dropLocal=%v: received %v", drop, got)
		}
	}
}

// broadcaster opens a UDP socket that sends broadcasts out of ifname.
func broadcaster(t *testing.T, ifname string) net.PacketConn {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			_ = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
		})
	}}
	c, err := lc.ListenPacket(context.Background(), "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
