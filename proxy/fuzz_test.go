package proxy

import (
	"bytes"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxeproxy/pxeproxy/internal/golden"
)

// FuzzReply feeds arbitrary bytes through the codec and the decision on
// both ports. Invariants: no panic, and every reply keeps the contract
// checked by checkInvariants (yiaddr 0, xid/chaddr echoed, codec round trip).
func FuzzReply(f *testing.F) {
	seedCorpus(f)
	f.Add([]byte{})
	f.Add(make([]byte, 240))
	f.Fuzz(func(t *testing.T, b []byte) {
		qerr := quickCheck(b)
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		if got, want := AppendPacket(nil, req), req.ToBytes(); !bytes.Equal(got, want) {
			t.Fatalf("AppendPacket differs from ToBytes:\n%x\n%x", got, want)
		}
		for _, in := range []Ingress{ingress67, ingress4011} {
			cfg := testConfig()
			cfg.HTTPPort = 8080
			a, err := Reply(req, in, cfg)
			if err == nil && qerr != nil {
				t.Fatalf("quickCheck refused (%v) a request Reply answers", qerr)
			}
			if err != nil {
				if Reason(err) == "other" {
					t.Fatalf("error without a reason label: %v", err)
				}
				continue
			}
			checkInvariants(t, req, a.Packet)
			if in.Port == PortDHCP && req.MessageType() != dhcpv4.MessageTypeDiscover {
				t.Fatalf("answered a %s on port 67", req.MessageType())
			}
		}
	})
}

// FuzzDecode: the zero-copy Decoder reads every message exactly as the
// dhcpv4 codec does, and refuses exactly what it refuses.
func FuzzDecode(f *testing.F) {
	seedCorpus(f)
	var dec Decoder
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := dhcpv4.FromBytes(b)
		got, gerr := dec.Decode(b)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("codec error %v, Decoder error %v", werr, gerr)
		}
		if werr != nil {
			return
		}
		if render(got) != render(want) || got.HopCount != want.HopCount || got.NumSeconds != want.NumSeconds {
			t.Fatalf("Decoder:\n%s\ncodec:\n%s", render(got), render(want))
		}
		if len(got.Options) != len(want.Options) {
			t.Fatalf("%d options, codec %d", len(got.Options), len(want.Options))
		}
		for c, v := range want.Options {
			if gv, ok := got.Options[c]; !ok || !bytes.Equal(gv, v) {
				t.Fatalf("option %d: %x, codec %x", c, gv, v)
			}
		}
	})
}

// seedCorpus adds every table case and every captured firmware packet.
func seedCorpus(f *testing.F) {
	for _, c := range replyCases {
		f.Add(c.req.ToBytes())
	}
	golden.SeedHex(f)
}
