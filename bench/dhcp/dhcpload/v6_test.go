package main

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxeproxy/pxeproxy/internal/pxeboot"
	"github.com/pxeproxy/pxeproxy/proxy6"
)

// TestCheck6 runs a filled SOLICIT through proxy6's decision: check6 takes
// its ADVERTISE, with the xid and Client ID of that request, and refuses
// one that leases or echoes another client.
func TestCheck6(t *testing.T) {
	s := newSolicit6(11)
	b := make([]byte, len(s.b))
	xid := makeXid6(4, 12345)
	s.fill(b, xid)
	if id, ctr := splitXid6(xid); id != 4 || ctr != 12345 {
		t.Fatalf("splitXid6 = %d %d", id, ctr)
	}
	req, err := dhcpv6.FromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &proxy6.Config{Settings: pxeboot.Settings{BootFiles: map[uint16]string{7: "snponly.efi", 11: "ipxe-arm64.efi"}}}
	in := proxy6.Ingress{Port: proxy6.PortDHCP, Addr: net.ParseIP("2001:db8::1"), HWAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		Src: &net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 546}}
	a, err := proxy6.Reply(req, in, cfg)
	if err != nil {
		t.Fatalf("the generator's SOLICIT is refused: %v", err)
	}
	if got, err := check6(a.Packet.ToBytes()); err != nil || got != xid {
		t.Fatalf("check6 = %x, %v; want %x", got, err, xid)
	}
	leasing := a.Reply
	leasing.AddOption(&dhcpv6.OptIANA{})
	if _, err := check6(leasing.ToBytes()); err != errLeases {
		t.Fatalf("check6 of an ADVERTISE with IA_NA: %v", err)
	}
	s.fill(b, xid+1)
	other, _ := dhcpv6.FromBytes(b)
	a, _ = proxy6.Reply(other, in, cfg)
	c := a.Packet.ToBytes()
	c[1], c[2], c[3] = byte(xid>>16), byte(xid>>8), byte(xid)
	if _, err := check6(c); err != errClientID {
		t.Fatalf("check6 of another client's Client ID: %v", err)
	}
}
