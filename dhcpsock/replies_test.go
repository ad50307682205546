//go:build linux

package dhcpsock_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/dhcpsock"
	"github.com/pxeproxy/pxeproxy/internal/netnstest"
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
		conn, err := dhcpsock.ListenBroadcast68(context.Background(), drop)
		if err != nil {
			t.Fatal(err)
		}
		local := broadcaster(t, peer.HostIf)
		var remote net.PacketConn
		if err := peer.Do(func() error { remote = broadcaster(t, peer.PeerIf); return nil }); err != nil {
			t.Fatal(err)
		}
		dst := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpsock.PortClient}
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
	c, err := listenBcast(":0", ifname)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestListenRepliesFallback: when another program holds UDP 68 without
// SO_REUSEPORT, the watcher's socket falls back to the raw listener, which
// names the sender of a broadcast reply; the start lines say which.
func TestListenRepliesFallback(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	peer := netnstest.Netns(t, "10.73.0.1/24", "10.73.0.2/24")
	holder, err := net.ListenPacket("udp4", "255.255.255.255:68")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if c, err := dhcpsock.ListenBroadcast68(context.Background(), false); err == nil {
		c.Close()
		t.Fatal("port 68 shared with a socket without SO_REUSEPORT")
	}
	logs := &lockedBuffer{}
	r := dhcpsock.ListenReplies(context.Background(), true, logs.Logger())
	if r == nil {
		t.Fatalf("no listener:\n%s", logs)
	}
	defer r.Close()
	if !strings.Contains(logs.String(), "mode=raw-af-packet port=68") {
		t.Fatalf("start line:\n%s", logs)
	}
	var remote net.PacketConn
	if err := peer.Do(func() error { remote = broadcaster(t, peer.PeerIf); return nil }); err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	if _, err := remote.WriteTo([]byte("offer"), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpsock.PortClient}); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 1500)
		n, from, err := r.ReadFrom(buf)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(buf[:n]) + " from " + from.(*net.UDPAddr).IP.String()
	}()
	select {
	case s := <-got:
		if s != "offer from 10.73.0.2" {
			t.Fatalf("raw watcher read %q", s)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("raw watcher read nothing")
	}
}
