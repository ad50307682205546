//go:build linux

package dhcpsock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func TestBuildParse(t *testing.T) {
	src, dst := net.IPv4(10, 0, 0, 1), net.IPv4(255, 255, 255, 255)
	payload := []byte("hello, odd length")
	p := buildIPv4UDP(src, 67, dst, 68, payload)
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
	d, err := parseIPv4UDP(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if !net.IP(d.src.AsSlice()).Equal(src) || !net.IP(d.dst.AsSlice()).Equal(dst) || d.srcPort != 67 || d.dstPort != 68 || !bytes.Equal(d.payload, payload) {
		t.Fatalf("round trip: %+v", d)
	}
	if p := buildIPv4UDP(nil, 67, dst, 68, payload); binary.BigEndian.Uint16(p[26:28]) != 0 {
		t.Error("no source: the udp checksum must be 0 (none)")
	}
}

// withIPChecksum sets p's IPv4 header checksum right after a change.
func withIPChecksum(p []byte) []byte {
	p[10], p[11] = 0, 0
	binary.BigEndian.PutUint16(p[10:12], checksum(p[:20], 0))
	return p
}

func TestParseRejects(t *testing.T) {
	good := buildIPv4UDP(net.IPv4(10, 0, 0, 1), 68, net.IPv4bcast, 67, make([]byte, 300))
	mod := func(f func(p []byte) []byte) []byte { return withIPChecksum(f(bytes.Clone(good))) }
	cases := map[string][]byte{
		"empty":            {},
		"ipv6":             mod(func(p []byte) []byte { p[0] = 0x65; return p }),
		"short ihl":        mod(func(p []byte) []byte { p[0] = 0x44; return p }),
		"truncated":        good[:100],
		"tcp":              mod(func(p []byte) []byte { p[9] = unix.IPPROTO_TCP; return p }),
		"fragment":         mod(func(p []byte) []byte { p[6] = 0x20; return p }),
		"later fragment":   mod(func(p []byte) []byte { p[7] = 0x10; return p }),
		"udp len short":    mod(func(p []byte) []byte { p[24], p[25] = 0, 4; return p }),
		"udp len long":     mod(func(p []byte) []byte { p[24], p[25] = 0xff, 0xff; return p }),
		"bad ip checksum":  func() []byte { p := bytes.Clone(good); p[10] ^= 0xff; return p }(),
		"bad udp checksum": mod(func(p []byte) []byte { p[26] ^= 0xff; return p }),
		"payload changed":  mod(func(p []byte) []byte { p[100] = 1; return p }),
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			if d, err := parseIPv4UDP(p, false); err == nil {
				t.Fatalf("parsed: %+v", d)
			}
		})
	}
	t.Run("udp checksum 0 is none", func(t *testing.T) {
		p := mod(func(p []byte) []byte { p[26], p[27], p[100] = 0, 0, 1; return p })
		if _, err := parseIPv4UDP(p, false); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("udp checksum the kernel vouches for", func(t *testing.T) {
		// CHECKSUM_PARTIAL over a veth: the field holds only the pseudo
		// header's sum, and the kernel's UDP takes it.
		p := mod(func(p []byte) []byte { p[26] ^= 0xff; return p })
		if _, err := parseIPv4UDP(p, true); err != nil {
			t.Fatal(err)
		}
		p[10] ^= 0xff // but never a bad IP header checksum
		if _, err := parseIPv4UDP(p, true); !errors.Is(err, errChecksum) {
			t.Fatalf("bad ip header checksum: %v", err)
		}
	})
}

func TestCsumTrusted(t *testing.T) {
	aux := func(level, typ int32, status uint32) []byte {
		b := make([]byte, unix.CmsgSpace(sizeofAuxdata))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = level, typ
		h.SetLen(unix.CmsgLen(sizeofAuxdata))
		(*unix.TpacketAuxdata)(unsafe.Pointer(&b[unix.CmsgLen(0)])).Status = status
		return b
	}
	cases := map[string]struct {
		oob  []byte
		want bool
	}{
		"none":                {nil, false},
		"status 0 (software)": {aux(unix.SOL_PACKET, unix.PACKET_AUXDATA, unix.TP_STATUS_USER), false},
		"checked by the nic":  {aux(unix.SOL_PACKET, unix.PACKET_AUXDATA, unix.TP_STATUS_CSUM_VALID), true},
		"sent on this host":   {aux(unix.SOL_PACKET, unix.PACKET_AUXDATA, unix.TP_STATUS_CSUMNOTREADY), true},
		"other message":       {aux(unix.SOL_SOCKET, unix.SCM_RIGHTS, unix.TP_STATUS_CSUM_VALID), false},
		"truncated":           {aux(unix.SOL_PACKET, unix.PACKET_AUXDATA, unix.TP_STATUS_CSUM_VALID)[:12], false},
	}
	for name, c := range cases {
		if got := csumTrusted(c.oob); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}

// TestAdmit: the raw listener takes exactly the datagrams Linux delivers
// to a UDP socket bound to the port on 0.0.0.0.
func TestAdmit(t *testing.T) {
	pf := netip.MustParsePrefix
	byIf := map[int][]netip.Prefix{
		1: {pf("127.0.0.1/8")},
		2: {pf("10.0.0.1/24"), pf("192.168.5.1/24")},
		3: {pf("10.9.0.1/24")},
		4: {pf("172.16.0.1/31")},
	}
	cases := map[string]struct {
		src, dst string
		ifIndex  int
		want     error
	}{
		"broadcast from a client without address": {"0.0.0.0", "255.255.255.255", 2, nil},
		"broadcast from a host":                   {"10.0.0.57", "255.255.255.255", 2, nil},
		"subnet broadcast":                        {"10.0.0.57", "10.0.0.255", 2, nil},
		"second subnet's broadcast":               {"192.168.5.20", "192.168.5.255", 2, nil},
		"unicast to us (relay)":                   {"10.1.0.1", "10.0.0.1", 2, nil},
		"unicast to our second address":           {"10.1.0.1", "192.168.5.1", 2, nil},
		"the far end of a /31":                    {"172.16.0.0", "172.16.0.1", 4, nil},
		"loopback on lo":                          {"127.0.0.1", "127.0.0.1", 1, nil},
		"to 8.8.8.8":                              {"10.0.0.57", "8.8.8.8", 2, errNotForUs},
		"to our address on another interface":     {"10.0.0.57", "10.9.0.1", 2, errNotForUs},
		"to another interface's broadcast":        {"10.0.0.57", "10.9.0.255", 2, errNotForUs},
		"to another host":                         {"10.0.0.57", "10.0.0.58", 2, errNotForUs},
		"to multicast":                            {"10.0.0.57", "224.0.0.1", 2, errNotForUs},
		"to the network address":                  {"10.0.0.57", "10.0.0.0", 2, errNotForUs},
		"to an interface without address":         {"10.0.0.57", "10.0.0.1", 9, errNotForUs},
		"from loopback":                           {"127.0.0.1", "255.255.255.255", 2, errMartian},
		"from multicast":                          {"224.0.0.1", "255.255.255.255", 2, errMartian},
		"from the limited broadcast":              {"255.255.255.255", "10.0.0.1", 2, errMartian},
		"from 0/8 to us":                          {"0.0.0.0", "10.0.0.1", 2, errMartian},
		"from 0.0.0.1 to the subnet broadcast":    {"0.0.0.1", "10.0.0.255", 2, errMartian},
		"from our own address":                    {"10.0.0.1", "255.255.255.255", 2, errMartian},
		"from our address on another interface":   {"10.9.0.1", "10.0.0.1", 2, errMartian},
		"from a subnet broadcast":                 {"10.0.0.255", "10.0.0.1", 2, errMartian},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := admit(netip.MustParseAddr(c.src), netip.MustParseAddr(c.dst), c.ifIndex, byIf)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("admit = %v, want %v", err, c.want)
			}
		})
	}
}

// TestLocalAddrsReload: the table is reloaded when an address may have
// just appeared, but a flood of datagrams that are not ours reloads it
// at most every addrsMinAge.
func TestLocalAddrsReload(t *testing.T) {
	now := time.Now()
	loads := 0
	ours := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}
	l := &localAddrs{now: func() time.Time { return now }, load: func() (map[int][]netip.Prefix, error) {
		loads++
		return map[int][]netip.Prefix{2: ours}, nil
	}}
	client, bad := netip.MustParseAddr("10.0.0.57"), netip.MustParseAddr("8.8.8.8")
	for range 10000 {
		if l.admit(client, bad, 2) == nil {
			t.Fatal("admitted a datagram to 8.8.8.8")
		}
	}
	if loads > 2 {
		t.Fatalf("%d reloads for a flood at one instant, want at most 2", loads)
	}
	// A new address is picked up on its first datagram after addrsMinAge.
	ours = append(ours, netip.MustParsePrefix("10.0.0.2/24"))
	now = now.Add(addrsMinAge)
	if err := l.admit(client, netip.MustParseAddr("10.0.0.2"), 2); err != nil {
		t.Fatalf("new address: %v", err)
	}
	if !l.local(netip.MustParseAddr("10.0.0.2")) || l.local(bad) {
		t.Fatal("local() is wrong")
	}
}

func TestFilter(t *testing.T) {
	vm, err := bpf.NewVM(program(67))
	if err != nil {
		t.Fatal(err)
	}
	to67 := buildIPv4UDP(net.IPv4(10, 0, 0, 1), 68, net.IPv4bcast, 67, make([]byte, 300))
	withOpts := append([]byte{0x46}, to67[1:20]...) // IHL 6: 4 bytes of IP options
	withOpts = append(withOpts, 1, 1, 1, 0)
	withOpts = append(withOpts, to67[20:]...)
	cases := map[string]struct {
		pkt  []byte
		pass bool
	}{
		"udp to 67":             {to67, true},
		"udp to 67, ip options": {withOpts, true},
		"udp to 68":             {buildIPv4UDP(nil, 67, net.IPv4bcast, 68, nil), false},
		"udp to 4011":           {buildIPv4UDP(nil, 4011, net.IPv4bcast, 4011, nil), false},
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
	if _, err := filter(67); err != nil {
		t.Fatal(err)
	}
}

// TestPortHint: a taken port names what can hold it. A DHCP server holds
// 67; only a PXE boot service (another pxeproxy) holds 4011.
func TestPortHint(t *testing.T) {
	inUse := fmt.Errorf("listen on udp: %w", syscall.EADDRINUSE)
	for port, c := range map[int]struct{ want, not string }{
		PortServer: {"a DHCP server or dnsmasq", "another pxeproxy"},
		PortPXE:    {"another pxeproxy", "DHCP server"},
		6767:       {"taken by another program", "DHCP server"},
	} {
		err := portHint(inUse, port)
		if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), c.not) {
			t.Errorf("port %d: %v; want it to say %q and not %q", port, err, c.want, c.not)
		}
	}
}
