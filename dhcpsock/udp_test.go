//go:build linux

package dhcpsock_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/pxeproxy/pxeproxy/dhcpsock"
	"github.com/pxeproxy/pxeproxy/internal/dhcptest"
	"github.com/pxeproxy/pxeproxy/internal/netnstest"
	"github.com/pxeproxy/pxeproxy/internal/pxeboot"
	"github.com/pxeproxy/pxeproxy/probe"
	"github.com/pxeproxy/pxeproxy/proxy"
)

// startServer runs a proxy Server on tr for port, answering on ifaces,
// until the test ends.
func startServer(t *testing.T, tr proxy.Transport, port int, ifaces []string, log *slog.Logger) {
	t.Helper()
	s := proxy.New(proxy.ServerConfig{
		Config:     proxy.Config{Settings: pxeboot.Settings{BootFiles: map[uint16]string{0: "undionly.kpxe", 7: "snponly.efi", 9: "snponly.efi"}, IPXEScript: "boot.ipxe"}},
		Interfaces: ifaces,
	}, log)
	dhcptest.Serve(t, func(ctx context.Context) error { return s.Serve(ctx, tr, port) })
}

// listenIn opens a broadcasting UDP socket inside the peer namespace, bound
// to addr and to the peer's interface.
func listenIn(t *testing.T, p *netnstest.Peer, addr string) net.PacketConn {
	t.Helper()
	var conn net.PacketConn
	if err := p.Do(func() error {
		var err error
		conn, err = listenBcast(addr, p.PeerIf)
		return err
	}); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, p.NS, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func discover(arch uint16, xid dhcpv4.TransactionID) *dhcpv4.DHCPv4 {
	return probe.Discover(arch, net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}, xid, [16]byte{1})
}

// TestServeVeth is the recvmmsg transport's end-to-end test: the proxy
// listens on the real ports 67 and 4011 in a private namespace, the client
// sits in another one behind a veth pair, as on a LAN.
func TestServeVeth(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	lan := netnstest.Netns(t, "10.66.0.1/24", "10.66.0.57/24")
	other := netnstest.Netns(t, "10.67.0.1/24", "10.67.0.57/24")

	var logs *lockedBuffer
	for _, port := range []int{proxy.PortDHCP, proxy.PortPXE} {
		startLogs := &lockedBuffer{}
		tr, err := dhcpsock.ListenUDP(context.Background(), port, 4<<20, startLogs.Logger())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(startLogs.String(), "receive buffer smaller") {
			t.Errorf("receive buffer below 4 MiB (root has CAP_NET_ADMIN):\n%s", startLogs)
		}
		l := &lockedBuffer{}
		startServer(t, tr, port, []string{lan.HostIf}, l.Logger())
		if port == proxy.PortDHCP {
			logs = l
		}
	}
	bcast67 := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	c68 := listenIn(t, lan, ":68")

	t.Run("bios discover gets a broadcast offer", func(t *testing.T) {
		req := discover(0, dhcpv4.TransactionID{1, 1, 1, 1})
		rep, from := dhcptest.Exchange(t, c68, bcast67, req, 3*time.Second)
		if rep == nil {
			t.Fatalf("no offer; log:\n%s", logs)
		}
		if from.String() != "10.66.0.1:67" || !rep.ServerIPAddr.Equal(lan.HostAddr) ||
			!rep.ServerIdentifier().Equal(lan.HostAddr) || rep.BootFileName != "undionly.kpxe" ||
			!rep.Options.Has(dhcpv4.OptionVendorSpecificInformation) || !rep.IsBroadcast() {
			t.Fatalf("offer from %s:\n%s", from, rep.Summary())
		}
	})
	t.Run("uefi discover gets an offer without 43", func(t *testing.T) {
		rep, _ := dhcptest.Exchange(t, c68, bcast67, discover(7, dhcpv4.TransactionID{1, 2, 3, 4}), 3*time.Second)
		if rep == nil || rep.Options.Has(dhcpv4.OptionVendorSpecificInformation) || rep.BootFileName != "snponly.efi" {
			t.Fatalf("offer: %v", rep)
		}
	})
	t.Run("ordinary discover gets nothing", func(t *testing.T) {
		req := discover(0, dhcpv4.TransactionID{5, 6, 7, 8})
		req.UpdateOption(dhcpv4.OptClassIdentifier("MSFT 5.0"))
		req.Options.Del(dhcpv4.OptionClientSystemArchitectureType)
		if rep, _ := dhcptest.Exchange(t, c68, bcast67, req, 500*time.Millisecond); rep != nil {
			t.Fatalf("an ordinary DHCP client was answered:\n%s", rep.Summary())
		}
	})
	t.Run("4011 request from 4011 gets its ack on 4011", func(t *testing.T) {
		c4011 := listenIn(t, lan, lan.PeerAddr.String()+":4011")
		req := discover(7, dhcpv4.TransactionID{9, 9, 9, 9})
		req.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRequest))
		req.ClientIPAddr = lan.PeerAddr
		rep, from := dhcptest.Exchange(t, c4011, &net.UDPAddr{IP: lan.HostAddr, Port: proxy.PortPXE}, req, 3*time.Second)
		if rep == nil || rep.MessageType() != dhcpv4.MessageTypeAck || from.String() != "10.66.0.1:4011" {
			t.Fatalf("ack %v from %v", rep, from)
		}
	})
	t.Run("relayed discover is answered at giaddr:67", func(t *testing.T) {
		relay := listenIn(t, lan, lan.PeerAddr.String()+":67")
		req := discover(0, dhcpv4.TransactionID{7, 7, 7, 7})
		req.GatewayIPAddr = lan.PeerAddr
		req.HopCount = 1
		rep, from := dhcptest.Exchange(t, relay, &net.UDPAddr{IP: lan.HostAddr, Port: proxy.PortDHCP}, req, 3*time.Second)
		if rep == nil || from.String() != "10.66.0.1:67" || !rep.GatewayIPAddr.Equal(lan.PeerAddr) {
			t.Fatalf("relayed offer %v from %v", rep, from)
		}
	})
	t.Run("interface not in PXE_INTERFACES gets nothing", func(t *testing.T) {
		c := listenIn(t, other, ":68")
		if rep, _ := dhcptest.Exchange(t, c, bcast67, discover(0, dhcpv4.TransactionID{3, 3, 3, 3}), 500*time.Millisecond); rep != nil {
			t.Fatal("answered on an interface not listed")
		}
		if !strings.Contains(logs.String(), "reason=interface-not-served") {
			t.Fatalf("no debug line:\n%s", logs)
		}
	})
	t.Run("an oversize datagram is refused", func(t *testing.T) {
		req := discover(0, dhcpv4.TransactionID{4, 4, 4, 4}).ToBytes()
		req = append(req, make([]byte, 5000-len(req))...)
		if _, err := c68.WriteTo(req, bcast67); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for !strings.Contains(logs.String(), `err="oversize datagram"`) {
			if time.Now().After(deadline) {
				t.Fatalf("no line for the oversize datagram:\n%s", logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("a burst of 2000 discovers is answered completely", func(t *testing.T) {
		const n = 2000
		c := c68
		_ = c.(*net.UDPConn).SetReadBuffer(8 << 20)
		got := make(chan int)
		go func() {
			seen := map[dhcpv4.TransactionID]bool{}
			buf := make([]byte, 1500)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for len(seen) < n {
				k, _, err := c.ReadFrom(buf)
				if err != nil {
					break
				}
				if rep, err := dhcpv4.FromBytes(buf[:k]); err == nil && rep.TransactionID[0] == 0xaa {
					seen[rep.TransactionID] = true
				}
			}
			got <- len(seen)
		}()
		for i := range n {
			req := discover(0, dhcpv4.TransactionID{0xaa, 0xbb, byte(i >> 8), byte(i)})
			if _, err := c.WriteTo(req.ToBytes(), bcast67); err != nil {
				t.Fatal(err)
			}
		}
		if k := <-got; k != n {
			t.Fatalf("%d of %d answered", k, n)
		}
	})
}

// TestUDPAllocs guards the recvmmsg transport's allocations per datagram,
// in a burst and one at a time: the source address and the control message
// parse on reads, the sockaddr on writes.
func TestUDPAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	if !netnstest.Private(t) {
		return
	}
	conn, _, err := dhcpsock.Listen(context.Background(), "127.0.0.1:0", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr()
	u, err := dhcpsock.NewUDP(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	cli, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const runs = 200
	payload := bytes.Repeat([]byte{0x5a}, 300)
	for range runs + 1 {
		if _, err := cli.WriteTo(payload, addr); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 4097)
	dst := cli.LocalAddr().(*net.UDPAddr)
	loopback := net.IPv4(127, 0, 0, 1)
	read := func() {
		n, src, to, ifIndex, err := u.ReadPacket(buf)
		if err != nil || n != len(payload) || src.Port != dst.Port || !to.Equal(loopback) || ifIndex == 0 {
			t.Fatalf("read %d from %v to %v on %d: %v", n, src, to, ifIndex, err)
		}
	}
	reads := testing.AllocsPerRun(runs, read) // batches of 16
	send := func() {
		if _, err := cli.WriteTo(payload, addr); err != nil {
			t.Fatal(err)
		}
	}
	sends := testing.AllocsPerRun(runs, send)
	for range runs + 1 {
		read() // what send queued
	}
	// One at a time, as an idle server sees requests: a batch per datagram.
	lone := testing.AllocsPerRun(runs, func() { send(); read() }) - sends
	writes := testing.AllocsPerRun(runs, func() {
		if err := u.WritePacket(payload, loopback, 1, dst); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%.1f allocations per read in a burst, %.1f per lone read, %.1f per write", reads, lone, writes)
	if reads > 3 || lone > 3 || writes > 1 {
		t.Errorf("want at most 3 allocations per read and 1 per write")
	}
}

// TestUDPCloseEndsRead: Close wakes a ReadPacket blocked in recvmmsg, which
// then reports net.ErrClosed.
func TestUDPCloseEndsRead(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	u, err := dhcpsock.ListenUDP(context.Background(), 6767, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { _, _, _, _, err := u.ReadPacket(make([]byte, 1500)); got <- err }()
	time.Sleep(50 * time.Millisecond)
	u.Close()
	select {
	case err := <-got:
		if err != net.ErrClosed {
			t.Fatalf("read after close: %v, want net.ErrClosed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not end a blocked ReadPacket")
	}
}

// TestAddressChangeVeth: right after the interface is renumbered, a PXE
// client is answered from the new address (the kernel refuses the old one
// with ENETUNREACH, and the loop decides again), not only once the
// interface cache expires 10 s later.
func TestAddressChangeVeth(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	lan := netnstest.Netns(t, "10.75.0.1/24", "10.75.0.57/24")
	tr, err := dhcpsock.ListenUDP(context.Background(), proxy.PortDHCP, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	startServer(t, tr, proxy.PortDHCP, []string{lan.HostIf}, logs.Logger())
	c68 := listenIn(t, lan, ":68")
	bcast67 := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	if rep, _ := dhcptest.Exchange(t, c68, bcast67, discover(0, dhcpv4.TransactionID{0x75, 0, 0, 1}), 3*time.Second); rep == nil || !rep.ServerIdentifier().Equal(lan.HostAddr) {
		t.Fatalf("before the change: %v; log:\n%s", rep, logs)
	}
	for _, args := range [][]string{{"addr", "del", "10.75.0.1/24", "dev", lan.HostIf}, {"addr", "add", "10.75.0.2/24", "dev", lan.HostIf}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	// The cache is reloaded early at most once a second.
	time.Sleep(1100 * time.Millisecond)
	rep, from := dhcptest.Exchange(t, c68, bcast67, discover(0, dhcpv4.TransactionID{0x75, 0, 0, 2}), 3*time.Second)
	if rep == nil || from.String() != "10.75.0.2:67" || !rep.ServerIdentifier().Equal(net.IPv4(10, 75, 0, 2)) {
		t.Fatalf("after the change: %v from %v; log:\n%s", rep, from, logs)
	}
	if strings.Contains(logs.String(), "send failed") {
		t.Errorf("the retried reply was logged as failed:\n%s", logs)
	}
}
