package proxy

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxeproxy/pxeproxy/internal/macprefix"
)

// seenCopy is a Seen with its aliased slices copied, as a hook user keeps
// it.
func seenCopy(v Seen) Seen {
	v.MAC, v.Vendor, v.UUID = bytes.Clone(v.MAC), bytes.Clone(v.Vendor), bytes.Clone(v.UUID)
	return v
}

// TestOnRequest feeds one request per case through the loop and compares
// what OnRequest reports, whole.
func TestOnRequest(t *testing.T) {
	opt50 := dhcpv4.OptionRequestedIPAddress.Code()
	opt97 := dhcpv4.OptionClientMachineIdentifier.Code()
	cfg := *testConfig()
	cfg.Deny = []macprefix.Prefix{{0x52, 0x54, 0x00, 0xde}}
	denied := func(p *dhcpv4.DHCPv4) { p.ClientHWAddr = net.HardwareAddr{0x52, 0x54, 0x00, 0xde, 0, 1} }
	ipxe := withOpt(dhcpv4.OptionUserClassInformation.Code(), []byte("iPXE"))
	server := netip.MustParseAddr("10.0.0.1")
	cases := map[string]struct {
		port int
		req  *dhcpv4.DHCPv4
		want *Seen // nil: not reported
	}{
		"bios discover answered": {PortDHCP, pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withOpt(opt97, testGUID)),
			&Seen{MAC: testMAC, Port: PortDHCP, Type: dhcpv4.MessageTypeDiscover, HasArch: true, Vendor: []byte(vendorBIOS),
				UUID: testGUID, Iface: "eth0", File: "undionly.kpxe", Server: server}},
		"relayed uefi, first known arch": {PortDHCP, pkt(dhcpv4.MessageTypeDiscover, vendorUEFI, []uint16{300, 7}, withGiaddr("10.9.0.1")),
			&Seen{MAC: testMAC, Port: PortDHCP, Type: dhcpv4.MessageTypeDiscover, Arch: 7, HasArch: true, Vendor: []byte(vendorUEFI),
				Relay: netip.MustParseAddr("10.9.0.1"), Iface: "eth0", File: "snponly.efi", Server: server}},
		"ipxe discover": {PortDHCP, pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, ipxe),
			&Seen{MAC: testMAC, Port: PortDHCP, Type: dhcpv4.MessageTypeDiscover, HasArch: true, Vendor: []byte(vendorBIOS),
				IPXE: true, Iface: "eth0", File: "boot.ipxe", Server: server}},
		"4011 request joins ciaddr": {PortPXE, pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}, withCiaddr("10.0.0.50")),
			&Seen{MAC: testMAC, Port: PortPXE, Type: dhcpv4.MessageTypeRequest, Arch: 7, HasArch: true, Vendor: []byte(vendorUEFI),
				ClientIP: netip.MustParseAddr("10.0.0.50"), Iface: "eth0", File: "snponly.efi", Server: server}},
		"denied": {PortDHCP, pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, denied),
			&Seen{MAC: net.HardwareAddr{0x52, 0x54, 0x00, 0xde, 0, 1}, Port: PortDHCP, Type: dhcpv4.MessageTypeDiscover, HasArch: true,
				Vendor: []byte(vendorBIOS), Iface: "eth0", Reason: "mac-denied"}},
		"no boot file": {PortDHCP, pkt(dhcpv4.MessageTypeDiscover, vendorUEFI, []uint16{10}),
			&Seen{MAC: testMAC, Port: PortDHCP, Type: dhcpv4.MessageTypeDiscover, Arch: 10, HasArch: true, Vendor: []byte(vendorUEFI),
				Iface: "eth0", Reason: "no-bootfile"}},
		"lease request on 67: reported, not answered": {PortDHCP, pkt(dhcpv4.MessageTypeRequest, vendorBIOS, []uint16{0},
			withOpt(opt50, []byte{10, 0, 0, 77}), withOpt(dhcpv4.OptionServerIdentifier.Code(), []byte{10, 0, 0, 254})),
			&Seen{MAC: testMAC, Port: PortDHCP, Type: dhcpv4.MessageTypeRequest, HasArch: true, Vendor: []byte(vendorBIOS),
				Requested: netip.MustParseAddr("10.0.0.77"), Iface: "eth0", Reason: "message-type"}},
		"ordinary dhcp: left out":           {PortDHCP, pkt(dhcpv4.MessageTypeDiscover, "MSFT 5.0", nil), nil},
		"split option 60 not pxe: left out": {PortDHCP, pkt(dhcpv4.MessageTypeDiscover, "PXE", []uint16{0}), nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var got []Seen
			s := testLoop(t, ServerConfig{Config: cfg, OnRequest: func(v Seen) { got = append(got, seenCopy(v)) }}, slog.LevelWarn)
			var wrote int
			var dec Decoder
			s.handle(context.Background(), nopWriter{&wrote}, nil, c.port, c.req.ToBytes(),
				&net.UDPAddr{IP: net.IPv4(10, 0, 0, 50), Port: 68}, net.IPv4bcast, 2, &dec, nil)
			switch {
			case c.want == nil && len(got) != 0:
				t.Fatalf("reported %+v, want nothing", got)
			case c.want == nil:
			case len(got) != 1:
				t.Fatalf("reported %d times, want once", len(got))
			case !reflect.DeepEqual(got[0], *c.want):
				t.Fatalf("reported\n%+v\nwant\n%+v", got[0], *c.want)
			}
			if answered := c.want != nil && c.want.Reason == ""; answered != (wrote == 1) {
				t.Fatalf("%d replies written, reported %+v", wrote, got)
			}
		})
	}
}

// TestOnRequestDelayed: with ReplyDelay the request is reported when its
// reply is queued, and a reply refused by the full queue is reported with
// ReasonDelayFull.
func TestOnRequestDelayed(t *testing.T) {
	var got []string
	s := testLoop(t, ServerConfig{Config: *testConfig(), ReplyDelay: time.Hour,
		OnRequest: func(v Seen) { got = append(got, v.File+"|"+v.Reason) }}, slog.LevelWarn)
	dq := newDelayQueue(1)
	var wrote int
	var dec Decoder
	b := pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}).ToBytes()
	for range 2 {
		s.handle(context.Background(), nopWriter{&wrote}, dq, PortDHCP, bytes.Clone(b),
			&net.UDPAddr{IP: net.IPv4zero, Port: 68}, net.IPv4bcast, 2, &dec, nil)
	}
	if want := []string{"undionly.kpxe|", "|" + ReasonDelayFull}; !reflect.DeepEqual(got, want) {
		t.Fatalf("reported %q, want %q", got, want)
	}
}

// TestOnRequestAllocs: the hook costs the loop no allocation of its own,
// answered or refused.
func TestOnRequestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	cfg := *testConfig()
	src := &net.UDPAddr{IP: net.IPv4zero, Port: 68}
	for name, req := range map[string][]byte{
		"answered": pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withOpt(dhcpv4.OptionClientMachineIdentifier.Code(), testGUID)).ToBytes(),
		"refused":  pkt(dhcpv4.MessageTypeDiscover, vendorUEFI, []uint16{7}, func(p *dhcpv4.DHCPv4) { p.ClientHWAddr = net.HardwareAddr{1, 2, 3, 4, 5, 6} }).ToBytes(),
		"request":  pkt(dhcpv4.MessageTypeRequest, vendorBIOS, []uint16{0}, withOpt(dhcpv4.OptionRequestedIPAddress.Code(), []byte{10, 0, 0, 9})).ToBytes(),
	} {
		allocs := func(hook func(Seen)) float64 {
			c := cfg
			if name == "refused" {
				c.Allow = []macprefix.Prefix{macprefix.Prefix(testMAC)}
			}
			s := testLoop(t, ServerConfig{Config: c, OnRequest: hook}, slog.LevelWarn)
			buf := make([]byte, maxDatagram+1)
			out := make([]byte, 0, 1024)
			var dec Decoder
			var wrote int
			return testing.AllocsPerRun(200, func() {
				k := copy(buf, req)
				out = s.handle(context.Background(), nopWriter{&wrote}, nil, PortDHCP, buf[:k], src, net.IPv4bcast, 2, &dec, out)
			})
		}
		calls := 0
		without, with := allocs(nil), allocs(func(Seen) { calls++ })
		if calls == 0 {
			t.Fatalf("%s: hook never called", name)
		}
		if with != without {
			t.Errorf("%s: %.1f allocations per request with the hook, %.1f without", name, with, without)
		}
	}
}
