package conflict

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var (
	us    = net.IPv4(10, 0, 0, 2).To4()
	other = net.IPv4(10, 0, 0, 1).To4()
	mac   = net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
)

func ours(ip net.IP) bool { return ip.Equal(us) }

// reply builds a BOOTREPLY from server with the given changes.
func reply(mt dhcpv4.MessageType, server net.IP, mods ...func(*dhcpv4.DHCPv4)) *dhcpv4.DHCPv4 {
	p := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        1,
		TransactionID: dhcpv4.TransactionID{1, 2, 3, 4},
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		ClientHWAddr:  mac,
		Options:       dhcpv4.Options{},
	}
	p.Options.Update(dhcpv4.OptMessageType(mt))
	if server != nil {
		p.Options.Update(dhcpv4.OptServerIdentifier(server))
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func lease(p *dhcpv4.DHCPv4)   { p.YourIPAddr = net.IPv4(10, 0, 0, 100) }
func pxe(p *dhcpv4.DHCPv4)     { p.Options.Update(dhcpv4.OptClassIdentifier("PXEClient")) }
func file(p *dhcpv4.DHCPv4)    { p.BootFileName = "pxelinux.0" }
func opt67(p *dhcpv4.DHCPv4)   { p.Options.Update(dhcpv4.OptBootFileName("boot.efi")) }
func opt66(p *dhcpv4.DHCPv4)   { p.Options.Update(dhcpv4.OptTFTPServerName("10.0.0.9")) }
func siaddr(p *dhcpv4.DHCPv4)  { p.ServerIPAddr = net.IPv4(10, 0, 0, 9) }
func opt43(p *dhcpv4.DHCPv4)   { p.Options[43] = []byte{6, 1, 8, 255} }
func request(p *dhcpv4.DHCPv4) { p.OpCode = dhcpv4.OpcodeBootRequest }

func TestClassify(t *testing.T) {
	cases := map[string]struct {
		p    *dhcpv4.DHCPv4
		want Kind // "" for no finding
		// sends must appear in the description
		sends string
	}{
		"plain lease offer":                  {reply(dhcpv4.MessageTypeOffer, other, lease), "", ""},
		"lease offer with siaddr only":       {reply(dhcpv4.MessageTypeOffer, other, lease, siaddr), "", ""},
		"lease offer with PXEClient":         {reply(dhcpv4.MessageTypeOffer, other, lease, pxe), KindPXEClientLease, `option 60 "PXEClient"`},
		"lease ack with PXEClient":           {reply(dhcpv4.MessageTypeAck, other, lease, pxe), KindPXEClientLease, "ACK"},
		"PXEClient, 43 and file":             {reply(dhcpv4.MessageTypeOffer, other, lease, pxe, opt43, file, siaddr), KindPXEClientLease, `option 43 060108ff, siaddr 10.0.0.9, file "pxelinux.0"`},
		"lease offer with header file":       {reply(dhcpv4.MessageTypeOffer, other, lease, file), KindBootOptions, `file "pxelinux.0"`},
		"lease offer with option 67":         {reply(dhcpv4.MessageTypeOffer, other, lease, opt67), KindBootOptions, `option 67 "boot.efi"`},
		"lease offer with option 66":         {reply(dhcpv4.MessageTypeOffer, other, lease, opt66), KindBootOptions, `option 66 "10.0.0.9"`},
		"second proxy offer":                 {reply(dhcpv4.MessageTypeOffer, other, pxe, file, siaddr), KindProxy, "yiaddr 0.0.0.0"},
		"our own proxy offer":                {reply(dhcpv4.MessageTypeOffer, us, pxe, file, siaddr), "", ""},
		"DHCP server on our host, PXEClient": {reply(dhcpv4.MessageTypeOffer, us, lease, pxe), KindPXEClientLease, "yiaddr 10.0.0.100"},
		"proxy offer without option 54":      {reply(dhcpv4.MessageTypeOffer, nil, pxe, file), KindProxy, ""},
		"zero yiaddr without PXEClient":      {reply(dhcpv4.MessageTypeOffer, other, file), "", ""},
		"nak":                                {reply(dhcpv4.MessageTypeNak, other, lease, pxe), "", ""},
		"a request is not a reply":           {reply(dhcpv4.MessageTypeOffer, other, lease, pxe, request), "", ""},
		"HTTPClient is not PXEClient":        {reply(dhcpv4.MessageTypeOffer, other, lease, func(p *dhcpv4.DHCPv4) { p.Options.Update(dhcpv4.OptClassIdentifier("HTTPClient")) }), "", ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := Classify(c.p, ours)
			if c.want == "" {
				if len(got) != 0 {
					t.Fatalf("findings %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Kind != c.want {
				t.Fatalf("findings %+v, want one %s", got, c.want)
			}
			f := got[0]
			if !strings.Contains(f.Sends, c.sends) || f.Effect == "" || f.MAC.String() != mac.String() {
				t.Fatalf("finding %+v, sends should contain %q", f, c.sends)
			}
			if sid := c.p.ServerIdentifier(); !f.Server.Equal(sid) {
				t.Fatalf("server %v, want %v", f.Server, sid)
			}
		})
	}
	if Classify(nil, ours) != nil {
		t.Fatal("nil packet")
	}
}

func TestDetectorRateLimit(t *testing.T) {
	var logs bytes.Buffer
	now := time.Unix(1000, 0)
	var counted []Kind
	d := New(Config{
		Ours:      ours,
		OnFinding: func(f Finding) { counted = append(counted, f.Kind) },
		Now:       func() time.Time { return now },
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	pxeLease := reply(dhcpv4.MessageTypeOffer, other, lease, pxe).ToBytes()
	bootLease := reply(dhcpv4.MessageTypeOffer, other, lease, opt67).ToBytes()
	third := reply(dhcpv4.MessageTypeOffer, net.IPv4(10, 0, 0, 3), lease, pxe).ToBytes()
	noID := reply(dhcpv4.MessageTypeOffer, nil, pxe, file).ToBytes()

	d.Handle(pxeLease, other)
	d.Handle(pxeLease, other) // same server and kind: counted, not logged
	d.Handle(bootLease, other)
	d.Handle(third, net.IPv4(10, 0, 0, 3))
	now = now.Add(9 * time.Minute)
	d.Handle(pxeLease, other) // still quiet
	now = now.Add(2 * time.Minute)
	d.Handle(pxeLease, other) // 11 minutes after the first: logged again
	if fs := d.Handle(noID, us); len(fs) != 0 {
		t.Errorf("no option 54 and sent from our address: %+v", fs)
	}
	if fs := d.Handle(noID, other); len(fs) != 1 || !fs[0].Server.Equal(other) {
		t.Errorf("no option 54: the sender names the server: %+v", fs)
	}
	if fs := d.Handle([]byte("garbage"), other); fs != nil {
		t.Errorf("garbage: %+v", fs)
	}

	if len(counted) != 7 {
		t.Errorf("OnFinding called %d times, want 7 (every finding): %v", len(counted), counted)
	}
	out := logs.String()
	if n := strings.Count(out, "server=10.0.0.1 kind=pxeclient-on-lease"); n != 2 {
		t.Errorf("%d warnings for 10.0.0.1/pxeclient-on-lease, want 2:\n%s", n, out)
	}
	for _, want := range []string{
		"level=WARN", "server=10.0.0.1 kind=boot-options-on-lease", "server=10.0.0.3", "PXE-E55",
		`sends="OFFER, yiaddr 10.0.0.100, option 60 \"PXEClient\""`, "mac=52:54:00:12:34:56",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 5 {
		t.Errorf("%d log lines, want 5:\n%s", n, out)
	}
}

// TestDetectorFlood: made-up server identifiers (option 54 comes from the
// LAN) never grow the warning memory past maxServers; once the quiet period
// has passed, a new server is warned about again.
func TestDetectorFlood(t *testing.T) {
	var logs bytes.Buffer
	now := time.Unix(1000, 0)
	d := New(Config{Now: func() time.Time { return now }}, slog.New(slog.NewTextHandler(&logs, nil)))
	for i := range 5 * maxServers {
		p := reply(dhcpv4.MessageTypeOffer, net.IPv4(10, 1, byte(i>>8), byte(i)), lease, pxe)
		if fs := d.Handle(p.ToBytes(), nil); len(fs) != 1 {
			t.Fatalf("packet %d: %d findings", i, len(fs))
		}
	}
	if n := len(d.last); n > maxServers {
		t.Fatalf("%d servers remembered, bound %d", n, maxServers)
	}
	if n := strings.Count(logs.String(), "another DHCP server conflicts"); n != maxServers {
		t.Errorf("%d warnings during the flood, want %d", n, maxServers)
	}
	if n := strings.Count(logs.String(), "too many different DHCP servers"); n != 1 {
		t.Errorf("%d lines say the bound was reached, want 1", n)
	}
	now = now.Add(11 * time.Minute)
	logs.Reset()
	d.Handle(reply(dhcpv4.MessageTypeOffer, net.IPv4(10, 2, 0, 1), lease, pxe).ToBytes(), nil)
	if !strings.Contains(logs.String(), "server=10.2.0.1") || len(d.last) > maxServers {
		t.Errorf("after the quiet period: %d remembered, log %q", len(d.last), logs.String())
	}
}

func TestOwnAddrs(t *testing.T) {
	server := net.IPv4(192, 0, 2, 7)
	ours := OwnAddrs(server)
	ifs, err := net.InterfaceAddrs()
	if err != nil || len(ifs) == 0 {
		t.Skipf("no interface address to check: %v", err)
	}
	host := ifs[0].(*net.IPNet).IP
	for ip, want := range map[string]bool{server.String(): true, host.String(): true, "198.51.100.200": false} {
		if got := ours(net.ParseIP(ip)); got != want {
			t.Errorf("ours(%s) = %v, want %v", ip, got, want)
		}
	}
	if OwnAddrs(nil)(server) {
		t.Error("without PXE_SERVER_IP, 192.0.2.7 is not ours")
	}
}

// TestFindingFile: a finding names the boot file the other server offers,
// option 67 first.
func TestFindingFile(t *testing.T) {
	for want, p := range map[string]*dhcpv4.DHCPv4{
		"boot.efi":   reply(dhcpv4.MessageTypeOffer, other, lease, file, opt67),
		"pxelinux.0": reply(dhcpv4.MessageTypeOffer, other, lease, file),
		"":           reply(dhcpv4.MessageTypeOffer, other, lease, pxe),
	} {
		if fs := Classify(p, ours); len(fs) != 1 || fs[0].File != want {
			t.Errorf("findings %+v, want one with file %q", fs, want)
		}
	}
}

// TestOnLease: every OFFER or ACK that gives an address reports chaddr and
// yiaddr, whether or not it is a finding; proxy offers, NAKs and requests
// do not.
func TestOnLease(t *testing.T) {
	var got []string
	d := New(Config{Ours: ours, OnLease: func(m net.HardwareAddr, ip netip.Addr) { got = append(got, m.String()+" "+ip.String()) }},
		slog.New(slog.DiscardHandler))
	for _, p := range []*dhcpv4.DHCPv4{
		reply(dhcpv4.MessageTypeOffer, other, lease),
		reply(dhcpv4.MessageTypeAck, other, lease, pxe),
		reply(dhcpv4.MessageTypeAck, us, lease), // a DHCP server on this host
		reply(dhcpv4.MessageTypeOffer, other, pxe, file),
		reply(dhcpv4.MessageTypeNak, other, lease),
		reply(dhcpv4.MessageTypeOffer, other, lease, request),
	} {
		d.Handle(p.ToBytes(), other)
	}
	want := []string{"52:54:00:12:34:56 10.0.0.100", "52:54:00:12:34:56 10.0.0.100", "52:54:00:12:34:56 10.0.0.100"}
	if !slices.Equal(got, want) {
		t.Fatalf("OnLease got %q, want %q", got, want)
	}
}
