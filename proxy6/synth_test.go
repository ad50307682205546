package proxy6

import (
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

var synth = flag.Bool("synth", false, "rewrite the synthesized requests testdata/synth-*.hex")

// synthesized are requests built from the firmware sources, byte by byte in
// their order, until captures from OVMF in the e2e IPv6 topology replace
// them (testdata/CAPTURES.md).
var synthesized = map[string]struct {
	how string
	raw []byte
}{
	"synth-edk2-x64-solicit": {
		"EDK2 UefiPxeBcDxe SOLICIT, x64 (arch 7), DUID-UUID: Dhcp6Io.c Dhcp6SendSolicitMsg + PxeBcDhcp6.c PxeBcBuildDhcp6Options",
		msgBytes(solicit, edk2Options(vendorPXE, 7)),
	},
	"synth-edk2-arm64-solicit": {
		"EDK2 SOLICIT, AArch64 (arch 11), as above",
		msgBytes(solicit, edk2Options(vendorPXE, 11)),
	},
	"synth-edk2-x64-4011-request": {
		"EDK2 boot-server REQUEST to port 4011 after its lease: PxeBcDhcp6.c PxeBcRequestBootService (our Server ID, the lease REQUEST's options but IA_NA/IA_TA/Server ID)",
		msgBytes(request, edk2Request4011(7, testServerID)),
	},
	"synth-edk2-x64-lease-request": {
		"EDK2 lease REQUEST to the site server on port 547 (Dhcp6SendRequestMsg): not ours",
		msgBytes(request, append([]opt{{dhcpv6.OptionServerID, siteServerID}}, with(edk2Options(vendorPXE, 7), dhcpv6.OptionIANA,
			append([]byte{0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 24}, append(testLease.To16(), 0, 0, 0x0e, 0x10, 0, 0, 0x1c, 0x20)...))...)),
	},
	"synth-edk2-httpboot-x64-solicit": {
		"EDK2 HttpBootDxe SOLICIT, x64 HTTP (arch 16): HttpBootDhcp6.c HttpBootBuildDhcp6Options, vendor class HTTPClient",
		msgBytes(solicit, edk2Options(vendorHTTP, 16)),
	},
	"synth-ipxe-information-request": {
		"iPXE INFORMATION-REQUEST (router advertisement with only the O flag): dhcpv6.c dhcpv6_tx, stateless state",
		msgBytes(infoReq, ipxeOptions(7)),
	},
	"synth-ipxe-solicit": {
		"iPXE SOLICIT (M flag): dhcpv6.c dhcpv6_tx, solicit state, empty IA_NA (IAID = CRC32 of the MAC)",
		msgBytes(solicit, append(ipxeOptions(7)[:1], append([]opt{{dhcpv6.OptionIANA, []byte{0x7e, 0x3b, 0x1a, 0x09, 0, 0, 0, 0, 0, 0, 0, 0}}}, ipxeOptions(7)[1:]...)...)),
	},
	"synth-relayed-edk2-x64-solicit": {
		"EDK2 SOLICIT through one relay (RFC 8415 19.1.1: link-address on the client's link, peer-address its link-local, Interface-Id)",
		relayFwd(msgBytes(solicit, edk2Options(vendorPXE, 7)), 0, net.ParseIP("2001:db8:3::1"), testLinkLocal, interfaceX),
	},
}

// TestSynthesize keeps the synthesized requests in testdata in step with
// the builders that describe them; -synth rewrites them.
func TestSynthesize(t *testing.T) {
	for name, s := range synthesized {
		path := filepath.Join("testdata", name+".hex")
		var b strings.Builder
		fmt.Fprintf(&b, "# %s\n# Synthesized by TestSynthesize (go test ./proxy6 -run TestSynthesize -synth), not captured.\n", s.how)
		for i := 0; i < len(s.raw); i += 16 {
			b.WriteString(hex.EncodeToString(s.raw[i:min(i+16, len(s.raw))]))
			b.WriteByte('\n')
		}
		if *synth {
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -synth)", err)
		}
		if string(got) != b.String() {
			t.Errorf("%s is not what its builder makes now (run with -synth and review)", path)
		}
	}
}
