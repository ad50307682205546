//go:build linux

package dhcpsock

import (
	"errors"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pxeproxy/pxeproxy/internal/netnstest"
)

// TestRawAdmitsWhatUDPWould sends hand-made frames from a client namespace
// (an AF_PACKET socket there, so nothing in its IP stack fixes them) to
// port 67 of the test's namespace, where an ordinary UDP socket bound to
// :67 and the raw listener both read: the raw listener gets exactly what
// the UDP socket gets. Then it refuses to send from an address that is not
// ours.
func TestRawAdmitsWhatUDPWould(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	lan := netnstest.Netns(t, "10.69.0.1/24", "10.69.0.9/24")
	holder, err := net.ListenPacket("udp4", ":67")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	c, _, err := ListenRaw(67, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hostIf, err := net.InterfaceByName(lan.HostIf)
	if err != nil {
		t.Fatal(err)
	}

	ip := net.ParseIP
	type sent struct {
		name string
		pkt  []byte
	}
	mk := func(name, src, dst string, breakIt func(p []byte)) sent {
		s4 := ip(src).To4()
		if s4.IsUnspecified() {
			s4 = nil
		}
		p := buildIPv4UDP(s4, 68, ip(dst), 67, []byte(name))
		if breakIt != nil {
			breakIt(p)
			withIPChecksum(p)
		}
		return sent{name, p}
	}
	frames := []sent{
		mk("broadcast", "10.69.0.9", "255.255.255.255", nil),
		mk("from-0.0.0.0", "0.0.0.0", "255.255.255.255", nil),
		mk("subnet-broadcast", "10.69.0.9", "10.69.0.255", nil),
		mk("unicast-to-us", "10.69.0.9", "10.69.0.1", nil),
		mk("no-udp-checksum", "10.69.0.9", "10.69.0.1", func(p []byte) { p[26], p[27] = 0, 0 }),
		mk("to-8.8.8.8", "10.69.0.9", "8.8.8.8", nil),
		mk("to-another-host", "10.69.0.9", "10.69.0.77", nil),
		mk("bad-udp-checksum", "10.69.0.9", "10.69.0.1", func(p []byte) { p[26] ^= 0x5a }),
		mk("from-loopback", "127.0.0.1", "255.255.255.255", nil),
		mk("from-multicast", "224.0.0.1", "255.255.255.255", nil),
		mk("from-our-address", "10.69.0.1", "255.255.255.255", nil),
		mk("from-0.0.0.0-unicast", "0.0.0.0", "10.69.0.1", nil),
		mk("fragment", "10.69.0.9", "10.69.0.1", func(p []byte) { p[6] |= 0x20 }),
	}
	badIP := mk("bad-ip-checksum", "10.69.0.9", "10.69.0.1", nil)
	badIP.pkt[10] ^= 0x5a
	frames = append(frames, badIP, mk("end", "10.69.0.9", "255.255.255.255", nil))

	if err := lan.Do(func() error {
		peer, err := net.InterfaceByName(lan.PeerIf)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		to := &unix.SockaddrLinklayer{Ifindex: peer.Index, Protocol: htons(unix.ETH_P_IP), Halen: 6}
		copy(to.Addr[:], hostIf.HardwareAddr)
		for _, f := range frames {
			if err := unix.Sendto(fd, f.pkt, 0, to); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	collect := func(read func(b []byte) (int, error)) []string {
		var got []string
		b := make([]byte, 2048)
		for {
			n, err := read(b)
			if err != nil {
				t.Fatalf("after %v: %v", got, err)
			}
			if string(b[:n]) == "end" {
				return got
			}
			got = append(got, string(b[:n]))
		}
	}
	_ = holder.SetReadDeadline(time.Now().Add(5 * time.Second))
	byUDP := collect(func(b []byte) (int, error) { n, _, err := holder.ReadFrom(b); return n, err })
	done := make(chan []string, 1)
	go func() {
		done <- collect(func(b []byte) (int, error) { n, _, _, _, err := c.ReadPacket(b); return n, err })
	}()
	var byRaw []string
	select {
	case byRaw = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the raw listener never got the end marker")
	}
	want := []string{"broadcast", "from-0.0.0.0", "subnet-broadcast", "unicast-to-us", "no-udp-checksum"}
	if !slices.Equal(byUDP, want) {
		t.Errorf("the kernel's UDP socket got %v; the test expects %v", byUDP, want)
	}
	if !slices.Equal(byRaw, byUDP) {
		t.Errorf("the raw listener got %v, a bound UDP socket %v", byRaw, byUDP)
	}

	// Replies leave only from our own addresses.
	dst := &net.UDPAddr{IP: lan.PeerAddr, Port: 68}
	for _, from := range []net.IP{net.IPv4(8, 8, 8, 8), net.IPv4(10, 69, 0, 77), net.IPv4(10, 69, 0, 255)} {
		if err := c.WritePacket([]byte("x"), from, 0, dst); !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Errorf("reply from %s: %v, want EADDRNOTAVAIL", from, err)
		}
	}
	if err := c.WritePacket([]byte("x"), lan.HostAddr, 0, dst); err != nil {
		t.Errorf("reply from our address: %v", err)
	}
	if err := c.WritePacket([]byte("x"), nil, 0, dst); err != nil {
		t.Errorf("reply with the source left to the kernel: %v", err)
	}
}
