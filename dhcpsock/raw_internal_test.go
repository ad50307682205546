//go:build linux

package dhcpsock

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

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
	d, err := parseIPv4UDP(p)
	if err != nil {
		t.Fatal(err)
	}
	if !d.src.Equal(src) || !d.dst.Equal(dst) || d.srcPort != 67 || d.dstPort != 68 || !bytes.Equal(d.payload, payload) {
		t.Fatalf("round trip: %+v", d)
	}
	if p := buildIPv4UDP(nil, 67, dst, 68, payload); binary.BigEndian.Uint16(p[26:28]) != 0 {
		t.Error("no source: the udp checksum must be 0 (none)")
	}
}

func TestParseRejects(t *testing.T) {
	good := buildIPv4UDP(net.IPv4(10, 0, 0, 1), 68, net.IPv4bcast, 67, make([]byte, 300))
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
			if d, err := parseIPv4UDP(p); err == nil {
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
