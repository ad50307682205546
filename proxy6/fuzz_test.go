package proxy6

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/pxeproxy/pxeproxy/internal/golden"
)

// FuzzReply feeds arbitrary bytes through quickCheck, the codec and the
// decision on both ports and through a relay. Invariants: no panic; every
// reply keeps the contract checked by checkInvariants (no IA, no address,
// no status, only PXE or iPXE clients, echoes, codec round trip, quickCheck
// lets its request through); every refusal has a reason label.
func FuzzReply(f *testing.F) {
	seedCorpus(f)
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		qerr := quickCheck(b)
		if qerr != nil && Reason(qerr) == "other" {
			t.Fatalf("quickCheck error without a reason label: %v", qerr)
		}
		if qerr != nil && (errorIsRelayDepth(qerr) || len(b) > maxMessage) {
			return // the codec would work as hard as the bytes let it
		}
		req, err := dhcpv6.FromBytes(b)
		if err != nil {
			return
		}
		for _, in := range []Ingress{ingress547, ingress4011, ingressRelay} {
			cfg := testConfig()
			cfg.HTTPPort = 8080
			a, err := Reply(req, in, cfg)
			if err != nil {
				if Reason(err) == "other" {
					t.Fatalf("error without a reason label: %v", err)
				}
				continue
			}
			if qerr != nil {
				t.Fatalf("quickCheck refused (%v) a request Reply answers", qerr)
			}
			checkInvariants(t, b, req, a)
			if d := Destination(req, in); d == nil || d.Port == 0 {
				t.Fatalf("no destination for an answer: %v", d)
			}
		}
	})
}

func errorIsRelayDepth(err error) bool { return Reason(err) == ErrRelayTooDeep.Error() }

// seedCorpus adds every table case and every request under testdata.
func seedCorpus(f *testing.F) {
	for _, c := range replyCases {
		f.Add(c.req)
	}
	golden.SeedHex(f)
}
