package proxy

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./proxy -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from what Reply builds now (-want +got):\n%s", path, diff(string(want), got))
	}
}

// TestReply runs every case of replyCases and compares the whole rendered
// reply with testdata/replies.golden, reviewed by hand when written.
func TestReply(t *testing.T) {
	var names []string
	for n := range replyCases {
		names = append(names, n)
	}
	slices.Sort(names)
	var all strings.Builder
	for _, name := range names {
		c := replyCases[name]
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			if c.cfg != nil {
				c.cfg(cfg)
			}
			a, err := Reply(c.req, c.in, cfg)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				if a != nil {
					t.Fatalf("an ignored request got a reply")
				}
				fmt.Fprintf(&all, "== %s\nignored: %s\n", name, Reason(err))
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			checkInvariants(t, c.req, a.Packet)
			fmt.Fprintf(&all, "== %s\n%s", name, render(a.Packet))
		})
	}
	golden(t, "replies.golden", all.String())
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

func TestDestination(t *testing.T) {
	client := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 57), Port: 4011}
	cases := map[string]struct {
		req       *dhcpv4.DHCPv4
		in        Ingress
		want      string
		broadcast bool
	}{
		"discover is broadcast to :68": {
			req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}), in: ingress67,
			want: "255.255.255.255:68", broadcast: true,
		},
		"relayed discover goes to giaddr:67": {
			req: pkt(dhcpv4.MessageTypeDiscover, vendorBIOS, []uint16{0}, withGiaddr("10.1.0.1")), in: ingress67,
			want: "10.1.0.1:67",
		},
		"4011 goes back to source address and port": {
			req: pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}), in: Ingress{Port: PortPXE, Src: client},
			want: "10.0.0.57:4011",
		},
		"4011 from port 68 goes back to 68": {
			req: pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}), in: Ingress{Port: PortPXE, Src: &net.UDPAddr{IP: client.IP, Port: 68}},
			want: "10.0.0.57:68",
		},
		"4011 giaddr is not used": {
			req: pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}, withGiaddr("10.1.0.1")), in: Ingress{Port: PortPXE, Src: client},
			want: "10.0.0.57:4011",
		},
		"4011 from 0.0.0.0 is broadcast to its port": {
			req: pkt(dhcpv4.MessageTypeRequest, vendorUEFI, []uint16{7}), in: Ingress{Port: PortPXE, Src: &net.UDPAddr{IP: net.IPv4zero, Port: 4011}},
			want: "255.255.255.255:4011", broadcast: true,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dst, b := Destination(c.req, c.in)
			if dst.String() != c.want || b != c.broadcast {
				t.Fatalf("Destination = %s broadcast=%v, want %s broadcast=%v", dst, b, c.want, c.broadcast)
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
				dst, bcast := Destination(req, in)
				fmt.Fprintf(&out, "reply (class %s, arch %d) to %s broadcast=%v:\n%s", a.Class, a.Arch, dst, bcast, render(a.Packet))
			}
			golden(t, name+".golden", out.String())
		})
	}
}

func loadHex(t testing.TB, path string) *dhcpv4.DHCPv4 {
	t.Helper()
	b, err := readHex(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dhcpv4.FromBytes(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// readHex reads a capture: hex digits, white space ignored.
func readHex(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// diff is a minimal line diff, enough to read a golden mismatch.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n-%s\n+%s\n", i+1, wl, gl)
		}
	}
	return b.String()
}
