package probe

// command.go is `pxeproxy probe`: flags in, a verdict and an exit code out.

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/pxeproxy/pxeproxy/internal/pxearch"
)

// usage is the text of `pxeproxy probe -h`.
const usage = `usage: pxeproxy probe [-arch N] [-timeout 4s] [-mac iface|random|MAC] IFACE

Sends one PXE DHCPDISCOVER, as the firmware of architecture N would (option 93:
0 x86 BIOS, 7 x86-64 UEFI, 11 ARM64 UEFI, 16 x86-64 UEFI HTTP), broadcast on
IFACE only, prints every reply that arrives within the timeout and what a PXE
client would do with them. Never sends a REQUEST, so no lease is taken.
Exit code 0 when a client would boot, 1 when it would not, 2 on bad usage.

-mac iface (the default) puts the interface's own MAC in the DISCOVER: switches
with DHCP snooping drop DHCP packets whose client MAC differs from the frame's
source (Cisco "ip dhcp snooping verify mac-address", on by default), so a made-up
MAC may get no answer at all. -mac random probes as an unknown new machine;
-mac 52:54:00:12:34:56 as a given one (reservations, PXE_ALLOW_MACS).
`

// Command runs `pxeproxy probe` with its arguments until ctx ends and
// returns the exit code: 0 when a client would boot, 1 when it would not,
// 2 on bad usage.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	arch := fs.Uint("arch", 0, "client architecture (option 93)")
	wait := fs.Duration("timeout", 4*time.Second, "how long to collect replies")
	macArg := fs.String("mac", "iface", "client MAC: iface, random or a MAC")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *arch > 0xffff || *wait <= 0 {
		fs.Usage()
		return 2
	}
	ifname := fs.Arg(0)
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		fmt.Fprintf(stderr, "pxeproxy probe: interface %q: %v\n", ifname, err)
		return 2
	}
	var mac net.HardwareAddr
	switch *macArg {
	case "iface":
		mac = ifc.HardwareAddr
		if len(mac) != 6 {
			mac = RandomMAC() // no Ethernet address (tun, ...)
		}
	case "random":
		mac = RandomMAC()
	default:
		if mac, err = net.ParseMAC(*macArg); err != nil || len(mac) != 6 {
			fmt.Fprintf(stderr, "pxeproxy probe: -mac %q: expected iface, random or a MAC such as 52:54:00:12:34:56\n", *macArg)
			return 2
		}
	}
	var xid dhcpv4.TransactionID
	var guid [16]byte
	_, _ = rand.Read(xid[:])
	_, _ = rand.Read(guid[:])
	a := uint16(*arch)
	req := Discover(a, mac, xid, guid)
	fmt.Fprintf(stdout, "probe: PXE DISCOVER on %s: arch %d (%s), mac %s, xid %s; collecting replies for %s\n",
		ifname, a, pxearch.Name(a), mac, xid, *wait)
	replies, err := Run(ctx, ifname, req, *wait)
	if err != nil {
		fmt.Fprintf(stderr, "pxeproxy probe: %v\n", err)
		return 1
	}
	marker := "PXEClient"
	if IsHTTPArch(a) {
		marker = "HTTPClient"
	}
	v := Judge(replies, marker)
	Print(stdout, replies, v)
	if !v.Boots {
		return 1
	}
	return 0
}
