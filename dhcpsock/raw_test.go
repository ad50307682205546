//go:build linux

package dhcpsock_test

import (
	"bytes"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/dhcpsock"
	"github.com/pxeproxy/pxeproxy/internal/netnstest"
)

// TestRawVeth holds UDP 67 with an ordinary socket, then receives a
// broadcast DISCOVER-sized datagram from a client namespace through the raw
// listener and answers it by broadcast and by unicast to a relay port: the
// client sees source port 67 and our address both times.
func TestRawVeth(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	lan := netnstest.Netns(t, "10.68.0.1/24", "10.68.0.9/24")
	holder, err := net.ListenPacket("udp4", ":67")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := net.ListenPacket("udp4", ":67"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second bind of :67: %v, want EADDRINUSE", err)
	}
	c, granted, err := dhcpsock.ListenRaw(67, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if granted < 1<<20 {
		t.Errorf("rcvbuf granted %d, asked 1 MiB", granted)
	}
	defer c.Close()

	var cli68, cli67 net.PacketConn
	if err := lan.Do(func() error {
		var err error
		if cli68, err = listenBcast(":68", lan.PeerIf); err != nil {
			return err
		}
		cli67, err = listenBcast(lan.PeerAddr.String()+":67", lan.PeerIf)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cli68.Close()
	defer cli67.Close()

	req := bytes.Repeat([]byte{0xab}, 300)
	if _, err := cli68.WriteTo(req, &net.UDPAddr{IP: net.IPv4bcast, Port: 67}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	got := make(chan error, 1)
	var n int
	var rcv struct {
		ifIndex int
		dst     net.IP
		src     *net.UDPAddr
	}
	go func() {
		var err error
		n, rcv.src, rcv.dst, rcv.ifIndex, err = c.ReadPacket(buf)
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("raw listener received nothing")
	}
	if !bytes.Equal(buf[:n], req) || rcv.ifIndex != lan.HostIndex || !rcv.dst.Equal(net.IPv4bcast) ||
		rcv.src.String() != "10.68.0.9:68" {
		t.Fatalf("received %d bytes ifindex %d (want %d) dst %s src %s", n, rcv.ifIndex, lan.HostIndex, rcv.dst, rcv.src)
	}
	// The ordinary socket holding the port got its copy too.
	_ = holder.SetReadDeadline(time.Now().Add(2 * time.Second))
	if k, _, err := holder.ReadFrom(make([]byte, 1500)); err != nil || k != len(req) {
		t.Errorf("the port holder did not get the datagram: %d %v", k, err)
	}

	for _, tc := range []struct {
		name    string
		conn    net.PacketConn
		dst     *net.UDPAddr
		ifIndex int
	}{
		{"broadcast out the ingress interface", cli68, &net.UDPAddr{IP: net.IPv4bcast, Port: 68}, lan.HostIndex},
		{"unicast to a relay", cli67, &net.UDPAddr{IP: lan.PeerAddr, Port: 67}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply := []byte("reply " + tc.name)
			if err := c.WritePacket(reply, lan.HostAddr, tc.ifIndex, tc.dst); err != nil {
				t.Fatal(err)
			}
			_ = tc.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			b := make([]byte, 1500)
			k, from, err := tc.conn.ReadFrom(b)
			if err != nil {
				t.Fatalf("client got nothing: %v", err)
			}
			if from.String() != "10.68.0.1:67" || !bytes.Equal(b[:k], reply) {
				t.Fatalf("client got %q from %s, want %q from 10.68.0.1:67", b[:k], from, reply)
			}
		})
	}

	// Close ends a blocked read.
	go func() { _, _, _, _, err := c.ReadPacket(buf); got <- err }()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-got:
		if err == nil {
			t.Fatal("read after close returned no error")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not end a blocked ReadPacket")
	}
}
