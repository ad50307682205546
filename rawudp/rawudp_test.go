package rawudp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/pxeproxy/pxeproxy/internal/netnstest"
)

func TestBuildParse(t *testing.T) {
	src, dst := net.IPv4(10, 0, 0, 1), net.IPv4(255, 255, 255, 255)
	payload := []byte("hello, odd length")
	p := BuildIPv4UDP(src, 67, dst, 68, payload)
	if c := checksum(p[:20], 0); c != 0 {
		t.Errorf("ip header checksum does not verify: %#x", c)
	}
	// The UDP checksum verifies over the pseudo header.
	var sum uint32
	for i := 12; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	sum += unix.IPPROTO_UDP + uint32(len(p)-20)
	if c := checksum(p[20:], sum); c != 0 {
		t.Errorf("udp checksum does not verify: %#x", c)
	}
	d, err := ParseIPv4UDP(p)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Src.Equal(src) || !d.Dst.Equal(dst) || d.SrcPort != 67 || d.DstPort != 68 || !bytes.Equal(d.Payload, payload) {
		t.Fatalf("round trip: %+v", d)
	}
	if p := BuildIPv4UDP(nil, 67, dst, 68, payload); binary.BigEndian.Uint16(p[26:28]) != 0 {
		t.Error("no source: the udp checksum must be 0 (none)")
	}
}

func TestParseRejects(t *testing.T) {
	good := BuildIPv4UDP(net.IPv4(10, 0, 0, 1), 68, net.IPv4bcast, 67, make([]byte, 300))
	mod := func(f func(p []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"empty":         {},
		"ipv6":          mod(func(p []byte) []byte { p[0] = 0x65; return p }),
		"short ihl":     mod(func(p []byte) []byte { p[0] = 0x44; return p }),
		"truncated":     good[:100],
		"tcp":           mod(func(p []byte) []byte { p[9] = unix.IPPROTO_TCP; return p }),
		"fragment":      mod(func(p []byte) []byte { p[6] = 0x20; return p }),
		"udp len short": mod(func(p []byte) []byte { p[24], p[25] = 0, 4; return p }),
		"udp len long":  mod(func(p []byte) []byte { p[24], p[25] = 0xff, 0xff; return p }),
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			if d, err := ParseIPv4UDP(p); err == nil {
				t.Fatalf("parsed: %+v", d)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	vm, err := bpf.NewVM(program(67))
	if err != nil {
		t.Fatal(err)
	}
	to67 := BuildIPv4UDP(net.IPv4(10, 0, 0, 1), 68, net.IPv4bcast, 67, make([]byte, 300))
	withOpts := append([]byte{0x46}, to67[1:20]...) // IHL 6: 4 bytes of IP options
	withOpts = append(withOpts, 1, 1, 1, 0)
	withOpts = append(withOpts, to67[20:]...)
	cases := map[string]struct {
		pkt  []byte
		pass bool
	}{
		"udp to 67":             {to67, true},
		"udp to 67, ip options": {withOpts, true},
		"udp to 68":             {BuildIPv4UDP(nil, 67, net.IPv4bcast, 68, nil), false},
		"udp to 4011":           {BuildIPv4UDP(nil, 4011, net.IPv4bcast, 4011, nil), false},
		"tcp":                   {func() []byte { p := bytes.Clone(to67); p[9] = 6; return p }(), false},
		"first fragment":        {func() []byte { p := bytes.Clone(to67); p[6] = 0x20; return p }(), false},
		"later fragment":        {func() []byte { p := bytes.Clone(to67); p[7] = 0x10; return p }(), false},
		"ipv6":                  {func() []byte { p := bytes.Clone(to67); p[0] = 0x60; return p }(), false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			n, err := vm.Run(c.pkt)
			if err != nil {
				t.Fatal(err)
			}
			if (n > 0) != c.pass {
				t.Fatalf("filter returned %d, want pass=%v", n, c.pass)
			}
		})
	}
	if _, err := Filter(67); err != nil {
		t.Fatal(err)
	}
}

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
	c, granted, err := Listen(67, 1<<20)
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
		k, r, err := c.ReadPacket(buf)
		n, rcv.ifIndex, rcv.dst, rcv.src = k, r.IfIndex, r.Dst, r.Src
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
	go func() { _, _, err := c.ReadPacket(buf); got <- err }()
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

func listenBcast(addr, dev string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			if serr == nil {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return lc.ListenPacket(context.Background(), "udp4", addr)
}
