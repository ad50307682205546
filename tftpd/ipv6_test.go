package tftpd

import (
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxeproxy/pxeproxy/bootfs"
)

// TestIPv6Listener: on a wildcard udp6 socket, each request's destination
// address and ingress interface come from IPV6_PKTINFO (IPv4 control
// messages carry nothing there), so the transfer is answered from the
// address the client asked and its block size fits the IPv6 header.
func TestIPv6Listener(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp6", "[::]:0")
	if err != nil {
		t.Skipf("no IPv6 here: %v", err)
	}
	defer conn.Close()
	r, err := bootfs.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := New(Config{Root: r}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	l := s.newListener(conn)
	if !l.v6 || l.p6 == nil || l.local != nil {
		t.Fatalf("listener on %v: v6 %v, ipv6 control messages %v, local %v", conn.LocalAddr(), l.v6, l.p6 != nil, l.local)
	}
	c, err := net.DialUDP("udp6", nil, &net.UDPAddr{IP: net.IPv6loopback, Port: conn.LocalAddr().(*net.UDPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	_, in, peer, err := l.read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !in.dst.Equal(net.IPv6loopback) || in.ifindex != lo.Index || !in.v6 {
		t.Fatalf("ingress %+v, want dst ::1 on %s (%d), v6", in, lo.Name, lo.Index)
	}
	if peer.String() != c.LocalAddr().String() {
		t.Fatalf("peer %v, want %v", peer, c.LocalAddr())
	}
	l.writeFrom([]byte("busy"), in, peer)
	n, from, err := c.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "busy" || !from.(*net.UDPAddr).IP.Equal(net.IPv6loopback) {
		t.Fatalf("refusal: %q from %v, %v", buf[:n], from, err)
	}
}

// TestRealClientsIPv6 downloads over [::1] with the real clients that speak
// TFTP over IPv6 (curl, atftp, tftp-hpa), through the same tree and limits.
func TestRealClientsIPv6(t *testing.T) {
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		c.Close()
	}
	dir := t.TempDir()
	want := randomFile(t, dir, "snponly.efi", 200*1024)
	ts := startServer6(t, dir)
	for name, c := range map[string]struct {
		get             getter
		blksize, window int
	}{
		"curl 1448":          {curlGet(1448), 1448, 1},
		"atftp window 16":    {atftpGet(1400, 16), 1400, 16},
		"atftp big blocks":   {atftpGet(65464, 4), 65464, 4},
		"tftp-hpa lock-step": {hpaGet("binary"), 512, 1},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			c.get(t, ts.addr, "SNPONLY.EFI", out)
			st := ts.next(t)
			if sum, _ := fileSum(t, out); sum != want {
				t.Fatal("sha256 mismatch")
			}
			if st.Err != nil || st.BlockSize != c.blksize || st.WindowSize != c.window || !strings.HasPrefix(st.Peer.String(), "[::1]:") {
				t.Fatalf("stats %+v; want blksize %d windowsize %d from [::1]", st, c.blksize, c.window)
			}
		})
	}
}

// startServer6 serves dir on a wildcard udp6 socket, the way pxeproxy opens
// [::]:69, with ts.addr set to [::1] and its port.
func startServer6(t *testing.T, dir string) *testServer {
	ts := startServerOn(t, "[::]:0", Config{}, dir)
	ts.addr = &net.UDPAddr{IP: net.IPv6loopback, Port: ts.addr.Port}
	return ts
}
