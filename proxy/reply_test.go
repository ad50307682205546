package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxeproxy/pxeproxy/internal/golden"
)

// TestReply runs every case of replyCases and compares the whole rendered
// reply with testdata/replies.golden, reviewed by hand when written.
func TestReply(t *testing.T) {
	golden.Table(t, "replies.golden", replyCases, func(t *testing.T, name string, c replyCase, all io.Writer) {
		cfg := testConfig(c.cfg)
		a, err := Reply(c.req, c.in, cfg)
		if golden.Refused(t, all, name, err, c.err, a != nil, Reason) {
			return
		}
		checkInvariants(t, c.req, a.Packet)
		fmt.Fprintf(all, "== %s\n%s", name, render(a.Packet))
	})
}

// checkInvariants holds for every reply: no address is ever leased, the
// transaction is echoed, option 43 fits, and the packet survives the codec.
func checkInvariants(t *testing.T, req, rep *dhcpv4.DHCPv4) {
	t.Helper()
	if y := rep.YourIPAddr; y != nil && !y.IsUnspecified() {
		t.Fatalf("yiaddr = %s: a proxy never leases", y)
	}
	if rep.TransactionID != req.TransactionID {
		t.Fatalf("xid %s, want %s", rep.TransactionID, req.TransactionID)
	}
	if !bytes.Equal(rep.ClientHWAddr, req.ClientHWAddr) || rep.HWType != req.HWType {
		t.Fatalf("chaddr/htype not echoed: %s/%d, want %s/%d", rep.ClientHWAddr, rep.HWType, req.ClientHWAddr, req.HWType)
	}
	if rep.OpCode != dhcpv4.OpcodeBootReply {
		t.Fatalf("op = %s", rep.OpCode)
	}
	if v := rep.Options.Get(dhcpv4.OptionVendorSpecificInformation); len(v) > 255 {
		t.Fatalf("option 43 is %d bytes", len(v))
	}
	if rep.Options.Has(dhcpv4.OptionOptionOverload) {
		t.Fatal("option overload (52) must never be used")
	}
	if v := rep.Options.Get(dhcpv4.OptionClassIdentifier); string(v) != vendorPXE && string(v) != vendorHTTP {
		t.Fatalf("option 60 = %q", v)
	}
	back, err := dhcpv4.FromBytes(rep.ToBytes())
	if err != nil {
		t.Fatalf("reply does not decode: %v", err)
	}
	if render(back) != render(rep) {
		t.Fatalf("reply changes through the codec:\n%s\nvs\n%s", render(rep), render(back))
	}
}

// TestDestination: replies go to the relay agent, the broadcast of the
// ingress interface or the 4011 client, never to an address a request
// names that is not a PXE client or relay (docs/pxe-notes.md §2, §3).
func TestDestination(t *testing.T) {
	nets := []*net.IPNet{
		{IP: testServer, Mask: net.CIDRMask(24, 32)},
		{IP: net.IPv4(192, 168, 5, 1).To4(), Mask: net.CIDRMask(24, 32)}, // a second address on the interface
		{IP: net.IPv4(172, 16, 0, 1).To4(), Mask: net.CIDRMask(31, 32)},  // a point-to-point /31
	}
	on67 := Ingress{Port: PortDHCP, IfIndex: 2, IfName: "eth0", Addr: testServer, Src: &net.UDPAddr{IP: net.IPv4zero, Port: 68}, Nets: nets}
	on4011 := func(src string, port int) Ingress {
		return Ingress{Port: PortPXE, IfIndex: 2, IfName: "eth0", Addr: testServer, Src: &net.UDPAddr{IP: net.ParseIP(src), Port: port}, Nets: nets}
	}
	disc := func(mods ...func(*dhcpv4.DHCPv4)) *dhcpv4.DHCPv4 {
		return pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, mods...)
	}
	req := func(mods ...func(*dhcpv4.DHCPv4)) *dhcpv4.DHCPv4 {
		return pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}, mods...)
	}
	cases := map[string]struct {
		req       *dhcpv4.DHCPv4
		in        Ingress
		want      string // destination, or the reason it is refused
		broadcast bool
	}{
		"discover is broadcast to :68":          {req: disc(), in: on67, want: "255.255.255.255:68", broadcast: true},
		"relayed discover goes to giaddr:67":    {req: disc(withGiaddr("10.1.0.1")), in: on67, want: "10.1.0.1:67"},
		"relay agent on our own segment":        {req: disc(withGiaddr("10.0.0.201")), in: on67, want: "10.0.0.201:67"},
		"relay agent at the other end of a /31": {req: disc(withGiaddr("172.16.0.0")), in: on67, want: "172.16.0.0:67"},
		"giaddr limited broadcast":              {req: disc(withGiaddr("255.255.255.255")), in: on67, want: "bad-giaddr"},
		"giaddr subnet broadcast":               {req: disc(withGiaddr("10.0.0.255")), in: on67, want: "bad-giaddr"},
		"giaddr subnet broadcast, second net":   {req: disc(withGiaddr("192.168.5.255")), in: on67, want: "bad-giaddr"},
		"giaddr network address":                {req: disc(withGiaddr("10.0.0.0")), in: on67, want: "bad-giaddr"},
		"giaddr multicast":                      {req: disc(withGiaddr("224.0.0.1")), in: on67, want: "bad-giaddr"},
		"giaddr loopback":                       {req: disc(withGiaddr("127.0.0.1")), in: on67, want: "bad-giaddr"},
		"giaddr is our address":                 {req: disc(withGiaddr("10.0.0.1")), in: on67, want: "bad-giaddr"},
		"giaddr is our second address":          {req: disc(withGiaddr("192.168.5.1")), in: on67, want: "bad-giaddr"},
		"giaddr in this network (0/8)":          {req: disc(withGiaddr("0.0.0.1")), in: on67, want: "bad-giaddr"},
		"giaddr reserved (240/4)":               {req: disc(withGiaddr("240.0.0.1")), in: on67, want: "bad-giaddr"},

		"4011 goes back to source address and port": {req: req(), in: on4011("10.0.0.57", 4011), want: "10.0.0.57:4011"},
		"4011 from port 68 goes back to 68":         {req: req(), in: on4011("10.0.0.57", 68), want: "10.0.0.57:68"},
		"4011 on the segment, any port":             {req: req(), in: on4011("192.168.5.20", 40000), want: "192.168.5.20:40000"},
		"4011 giaddr is not used":                   {req: req(withGiaddr("10.1.0.1")), in: on4011("10.0.0.57", 4011), want: "10.0.0.57:4011"},
		"4011 from this host":                       {req: req(), in: on4011("10.0.0.1", 4011), want: "10.0.0.1:4011"},
		"4011 routed client sends from ciaddr":      {req: req(withCiaddr("10.9.0.50")), in: on4011("10.9.0.50", 4011), want: "10.9.0.50:4011"},
		"4011 routed client through a relay":        {req: req(withGiaddr("10.9.0.1")), in: on4011("10.9.0.50", 68), want: "10.9.0.50:68"},
		"4011 from 0.0.0.0:4011":                    {req: req(), in: on4011("0.0.0.0", 4011), want: "bad-source"},
		"4011 from 0.0.0.0:68":                      {req: req(), in: on4011("0.0.0.0", 68), want: "bad-source"},
		"4011 from 0.0.0.0 to another port":         {req: req(), in: on4011("0.0.0.0", 137), want: "bad-source"},
		"4011 off the segment at a service port":    {req: req(withCiaddr("8.8.8.8")), in: on4011("8.8.8.8", 53), want: "bad-source"},
		"4011 off the segment, not ciaddr":          {req: req(), in: on4011("8.8.8.8", 4011), want: "bad-source"},
		"4011 off the segment, bad relay":           {req: req(withGiaddr("10.0.0.255")), in: on4011("10.9.0.50", 4011), want: "bad-giaddr"},
		"4011 from a subnet broadcast":              {req: req(withCiaddr("10.0.0.255")), in: on4011("10.0.0.255", 4011), want: "bad-source"},
		"4011 from source port 0":                   {req: req(), in: on4011("10.0.0.57", 0), want: "bad-source"},
		"4011 from multicast":                       {req: req(withCiaddr("224.0.0.1")), in: on4011("224.0.0.1", 4011), want: "bad-source"},
		"4011 from loopback on eth0":                {req: req(withCiaddr("127.0.0.1")), in: on4011("127.0.0.1", 4011), want: "bad-source"},
		"4011 from 240/4":                           {req: req(withCiaddr("240.0.0.1")), in: on4011("240.0.0.1", 4011), want: "bad-source"},
		"4011 without a source":                     {req: req(), in: Ingress{Port: PortPXE, Nets: nets}, want: "bad-source"},
		"4011 on a served loopback": {req: req(), in: Ingress{Port: PortPXE, Addr: net.IPv4(127, 0, 0, 1), Src: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000},
			Nets: []*net.IPNet{{IP: net.IPv4(127, 0, 0, 1).To4(), Mask: net.CIDRMask(8, 32)}}}, want: "127.0.0.1:50000"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dst, b, err := Destination(c.req, c.in)
			got := Reason(err)
			if err == nil {
				got = dst.String()
			}
			if got != c.want || b != c.broadcast {
				t.Fatalf("Destination = %s broadcast=%v (%v), want %s broadcast=%v", got, b, err, c.want, c.broadcast)
			}
		})
	}
}

// TestCaptures builds the reply to every request captured from real
// firmware (testdata/*.hex, see testdata/CAPTURES.md) and compares it with
// testdata/<name>.golden.
func TestCaptures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hex"))
	if len(files) == 0 {
		t.Fatal("no captures in testdata/")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".hex")
		t.Run(name, func(t *testing.T) {
			req := loadHex(t, f)
			in := ingress67
			if mt := req.MessageType(); mt == dhcpv4.MessageTypeRequest || mt == dhcpv4.MessageTypeInform {
				in = ingress4011
			}
			cfg := testConfig()
			cfg.HTTPPort = 8080 // so HTTPClient captures show their reply
			var out strings.Builder
			fmt.Fprintf(&out, "request (%s, port %d):\n%s\n", req.MessageType(), in.Port, render(req))
			a, err := Reply(req, in, cfg)
			if err != nil {
				fmt.Fprintf(&out, "ignored: %v\n", err)
			} else {
				checkInvariants(t, req, a.Packet)
				fmt.Fprintf(&out, "reply (class %s, arch %d) to %s broadcast=%v:\n%s", a.Class, a.Arch, a.Dst, a.Broadcast, render(a.Packet))
			}
			golden.Check(t, name+".golden", out.String())
		})
	}
}

func loadHex(t testing.TB, path string) *dhcpv4.DHCPv4 {
	t.Helper()
	b, err := golden.ReadHex(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dhcpv4.FromBytes(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}
