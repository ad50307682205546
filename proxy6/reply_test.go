package proxy6

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxeproxy/pxeproxy/internal/golden"
)

// TestReply runs every case of replyCases through Reply and compares what
// each gives with testdata/replies.golden, reviewed by hand when written:
// the reply rendered whole, with the class, arch, MAC (and where it was
// found), relay depth and destination; or why the request is not answered.
func TestReply(t *testing.T) {
	golden.Table(t, "replies.golden", replyCases, func(t *testing.T, name string, c replyCase, all io.Writer) {
		cfg := testConfig(c.cfg)
		req, err := dhcpv6.FromBytes(c.req)
		if err != nil {
			if !errors.Is(c.err, ErrMalformed) {
				t.Fatalf("the case's request does not decode: %v", err)
			}
			fmt.Fprintf(all, "== %s\nundecodable: %v\n", name, err)
			return
		}
		a, err := Reply(req, c.in, cfg)
		if golden.Refused(t, all, name, err, c.err, a != nil, Reason) {
			return
		}
		checkInvariants(t, c.req, req, a)
		fmt.Fprintf(all, "== %s\nclass %s arch %d mac %s (%s) relays %d to %s\n%s", name, a.Class, a.Arch,
			a.MAC, a.MACFrom, a.Relays, Destination(req, c.in), render(a.Packet))
	})
}

// checkInvariants holds for every reply: no address, no IA, no status
// other than Success, only to PXE clients; the transaction, the Client ID
// and the relay envelopes are echoed; it survives the codec; and quickCheck
// would have let the request through.
func checkInvariants(t testing.TB, raw []byte, req dhcpv6.DHCPv6, a *Answer) {
	t.Helper()
	if err := quickCheck(raw); err != nil {
		t.Fatalf("quickCheck refuses (%v) a request Reply answers", err)
	}
	relays, m, err := unwrap(req)
	if err != nil {
		t.Fatalf("Reply answered what unwrap refuses: %v", err)
	}
	if !isPXEClient(m) {
		t.Fatalf("answered a client that is neither PXE nor iPXE:\n%s", render(m))
	}
	rep := a.Reply
	want := dhcpv6.MessageTypeReply
	if m.MessageType == dhcpv6.MessageTypeSolicit {
		want = dhcpv6.MessageTypeAdvertise
	}
	if rep.MessageType != want {
		t.Fatalf("%s answered with %s", m.MessageType, rep.MessageType)
	}
	if rep.TransactionID != m.TransactionID {
		t.Fatalf("xid %x, want %x", rep.TransactionID, m.TransactionID)
	}
	for _, o := range rep.Options.Options {
		switch o.Code() {
		case dhcpv6.OptionIANA, dhcpv6.OptionIATA, dhcpv6.OptionIAPD, dhcpv6.OptionIAAddr, dhcpv6.OptionIAPrefix:
			t.Fatalf("reply carries %s: a proxy never leases", o.Code())
		case dhcpv6.OptionStatusCode:
			t.Fatalf("reply carries a status code: EDK2 drops any but Success, and absent is Success")
		case dhcpv6.OptionPreference, dhcpv6.OptionRapidCommit, dhcpv6.OptionUnicast:
			t.Fatalf("reply carries %s", o.Code())
		}
	}
	if got, want := rawOption(rep, dhcpv6.OptionClientID), rawOption(m, dhcpv6.OptionClientID); !bytes.Equal(got, want) {
		t.Fatalf("Client ID %x, want %x echoed", got, want)
	}
	if len(rawOption(rep, dhcpv6.OptionServerID)) == 0 {
		t.Fatal("no Server ID")
	}
	vc := pxeVendorClass(rep)
	if string(vc) != vendorPXE && string(vc) != vendorHTTP {
		t.Fatalf("vendor class %q", vc)
	}
	if u := rep.Options.BootFileURL(); u == "" || u != a.File {
		t.Fatalf("option 59 %q, Answer.File %q", u, a.File)
	}
	// Relays: one RELAY-REPL per RELAY-FORW, same envelope.
	p := a.Packet
	for i, fw := range relays {
		rr, ok := p.(*dhcpv6.RelayMessage)
		if !ok || rr.MessageType != dhcpv6.MessageTypeRelayReply {
			t.Fatalf("relay level %d: %T", i, p)
		}
		if rr.HopCount != fw.HopCount || !rr.LinkAddr.Equal(fw.LinkAddr) || !rr.PeerAddr.Equal(fw.PeerAddr) {
			t.Fatalf("relay level %d: envelope not mirrored", i)
		}
		if !bytes.Equal(rr.Options.InterfaceID(), fw.Options.InterfaceID()) {
			t.Fatalf("relay level %d: interface-id %x, want %x", i, rr.Options.InterfaceID(), fw.Options.InterfaceID())
		}
		p = rr.Options.RelayMessage()
	}
	if p != dhcpv6.DHCPv6(rep) {
		t.Fatal("the innermost message is not Answer.Reply")
	}
	back, err := dhcpv6.FromBytes(a.Packet.ToBytes())
	if err != nil {
		t.Fatalf("reply does not decode: %v", err)
	}
	if render(back) != render(a.Packet) {
		t.Fatalf("reply changes through the codec:\n%s\nvs\n%s", render(a.Packet), render(back))
	}
}

// isPXEClient is the test's own idea of who may be answered, written apart
// from Parse: a vendor class of enterprise 343 starting PXEClient or
// HTTPClient, or the iPXE user class.
func isPXEClient(m *dhcpv6.Message) bool {
	for _, o := range m.Options.Get(dhcpv6.OptionVendorClass) {
		v := o.ToBytes()
		if len(v) > 6 && v[0] == 0 && v[1] == 0 && v[2] == 1 && v[3] == 0x57 &&
			(bytes.HasPrefix(v[6:], []byte("PXEClient")) || bytes.HasPrefix(v[6:], []byte("HTTPClient"))) {
			return true
		}
	}
	for _, o := range m.Options.Get(dhcpv6.OptionUserClass) {
		if bytes.Contains(o.ToBytes(), []byte("iPXE")) {
			return true
		}
	}
	return false
}

func TestDestination(t *testing.T) {
	sol := decode(t, msgBytes(solicit, edk2x64))
	relayed := decode(t, relayFwd(msgBytes(solicit, edk2x64), 0, testServer, testLinkLocal))
	relayedPort := decode(t, relayFwd(msgBytes(solicit, edk2x64), 0, testServer, testLinkLocal, opt{dhcpv6.OptionRelayPort, u16(3547)}))
	cases := map[string]struct {
		req  dhcpv6.DHCPv6
		in   Ingress
		want string
	}{
		"solicit goes to the client's link-local :546": {sol, ingress547, "[fe80::5054:ff:fe12:3456%eth0]:546"},
		"4011 goes back to source address and port":    {sol, ingress4011, "[2001:db8:1::1c3]:4011"},
		"4011 from another port goes back there":       {sol, withSrc(ingress4011, testLease, 4012), "[2001:db8:1::1c3]:4012"},
		"relay-repl goes to the relay's :547":          {relayed, withSrc(ingressRelay, testRelayAddr, 3547), "[2001:db8:2::fe]:547"},
		"relay with a source port option":              {relayedPort, withSrc(ingressRelay, testRelayAddr, 3547), "[2001:db8:2::fe]:3547"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Destination(c.req, c.in).String(); got != c.want {
				t.Fatalf("Destination = %s, want %s", got, c.want)
			}
		})
	}
}

func TestClientMAC(t *testing.T) {
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}
	cases := map[string]struct {
		clientID []byte
		relay    []opt // options of one relay; nil: not relayed
		peer     net.IP
		src      net.IP
		learnt   net.HardwareAddr
		want     string
		from     MACSource
	}{
		"duid-ll":                                   {duidLL, nil, nil, privacyLL, other, testMAC.String(), MACFromDUID},
		"duid-llt":                                  {duidLLT, nil, nil, privacyLL, nil, testMAC.String(), MACFromDUID},
		"duid-llt of another hardware type":         {[]byte{0, 1, 0, 6, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6}, nil, nil, privacyLL, nil, "", MACUnknown},
		"duid-uuid, eui-64 link-local":              {testUUID, nil, nil, testLinkLocal, other, testMAC.String(), MACFromEUI64},
		"duid-uuid, privacy link-local, learnt":     {testUUID, nil, nil, privacyLL, other, other.String(), MACFromTransport},
		"duid-uuid, privacy link-local":             {testUUID, nil, nil, privacyLL, nil, "", MACUnknown},
		"global eui-64 looking address is not read": {testUUID, nil, nil, net.ParseIP("2001:db8:1:0:5054:ff:fe12:3456"), nil, "", MACUnknown},
		"relay option 79 wins over peer":            {testUUID, []opt{optLinkMAC}, testLinkLocal, testRelayAddr, nil, "52:54:00:77:88:99", MACFromRelay},
		"relay peer-address eui-64":                 {testUUID, []opt{}, testLinkLocal, testRelayAddr, nil, testMAC.String(), MACFromEUI64},
		"relay source is not the client":            {testUUID, []opt{}, privacyLL, testLinkLocal, nil, "", MACUnknown},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			raw := msgBytes(solicit, with(edk2x64, dhcpv6.OptionClientID, c.clientID))
			if c.relay != nil {
				raw = relayFwd(raw, 0, testServer, c.peer, c.relay...)
			}
			relays, m, err := unwrap(decode(t, raw))
			if err != nil {
				t.Fatal(err)
			}
			in := Ingress{Src: &net.UDPAddr{IP: c.src, Port: PortClient}, MAC: c.learnt}
			mac, from := ClientMAC(m, relays, in)
			if mac.String() != c.want || from != c.from {
				t.Fatalf("ClientMAC = %s (%s), want %s (%s)", mac, from, c.want, c.from)
			}
		})
	}
}

// TestCaptures builds the reply to every request under testdata/*.hex (see
// testdata/CAPTURES.md for how each was made) and compares it with
// testdata/<name>.golden.
func TestCaptures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hex"))
	if len(files) == 0 {
		t.Fatal("no captures in testdata/")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".hex")
		t.Run(name, func(t *testing.T) {
			raw, err := golden.ReadHex(f)
			if err != nil {
				t.Fatal(err)
			}
			req := decode(t, raw)
			in := ingress547
			switch {
			case strings.Contains(name, "4011"):
				in = ingress4011
			case req.IsRelay():
				in = ingressRelay
			}
			if src, err := captureSrc(f); err != nil {
				t.Fatal(err)
			} else if src != nil {
				if src.IP.IsLinkLocalUnicast() {
					src.Zone = in.IfName // as the Server fills it in
				}
				in.Src = src
			}
			cfg := testConfig()
			cfg.HTTPPort = 8080 // so HTTPClient captures show their reply
			if m, ok := req.(*dhcpv6.Message); ok && in.Port == PortPXE && !strings.HasPrefix(name, "synth-") {
				// A captured 4011 REQUEST names the pxeproxy of the capture run:
				// answer as that server.
				if id := m.Options.GetOne(dhcpv6.OptionServerID); id != nil {
					cfg.ServerID = id.ToBytes()
				}
			}
			var out strings.Builder
			fmt.Fprintf(&out, "request (port %d, from %s):\n%s\n", in.Port, in.Src, render(req))
			a, err := Reply(req, in, cfg)
			if err != nil {
				fmt.Fprintf(&out, "ignored: %v\n", err)
			} else {
				checkInvariants(t, raw, req, a)
				fmt.Fprintf(&out, "reply (class %s, arch %d, mac %s from %s) to %s:\n%s", a.Class, a.Arch, a.MAC, a.MACFrom,
					Destination(req, in), render(a.Packet))
			}
			golden.Check(t, name+".golden", out.String())
		})
	}
}

// captureSrc reads the "# src [addr]:port" line of a capture, where the
// request came from; nil when there is none.
func captureSrc(path string) (*net.UDPAddr, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "# src "); ok {
			ap, err := netip.ParseAddrPort(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return net.UDPAddrFromAddrPort(ap), nil
		}
	}
	return nil, nil
}
