package probe

import (
	"fmt"
	"io"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// portDHCP is the port a DHCP server answers from (RFC 2131).
const portDHCP = 67

// Print writes the replies and the verdict as `pxeproxy probe` shows them.
func Print(w io.Writer, replies []Reply, v Verdict) {
	if len(replies) == 0 {
		fmt.Fprintln(w, "no replies")
	}
	for i, r := range replies {
		p := r.Packet
		server := "-"
		if id := p.ServerIdentifier(); id != nil {
			server = id.String()
		}
		fmt.Fprintf(w, "reply %d: %s from %s, server %s, yiaddr %s  [%s]\n", i+1, p.MessageType(), r.From, server, p.YourIPAddr, v.Types[i])
		fmt.Fprintf(w, "    siaddr %s  file %s  60 %s  66 %s  67 %s  43 %s\n", p.ServerIPAddr, orDash(p.BootFileName),
			optText(p, dhcpv4.OptionClassIdentifier), optText(p, dhcpv4.OptionTFTPServerName),
			optText(p, dhcpv4.OptionBootfileName), optHex(p, dhcpv4.OptionVendorSpecificInformation))
		if v.Types[i] != ProxyPxe10 && v.Types[i] != ProxyBinl && r.From != nil && r.From.Port != portDHCP {
			// iPXE dhcp.c dhcp_discovery_rx takes a lease offer only from port 67.
			fmt.Fprintf(w, "    note: sent from port %d, not 67: iPXE ignores this offer\n", r.From.Port)
		}
	}
	switch {
	case v.Lease != nil && v.Boot != nil:
		fmt.Fprintf(w, "verdict: address %s from %s; boot file %s from %s (EDK2 rule %s)\n",
			v.Lease.Packet.YourIPAddr, v.Lease.Packet.ServerIdentifier(), orDash(v.File), v.Server, v.Rule)
	case v.Lease != nil:
		fmt.Fprintf(w, "verdict: address %s from %s; no boot instructions\n", v.Lease.Packet.YourIPAddr, v.Lease.Packet.ServerIdentifier())
	default:
		fmt.Fprintln(w, "verdict: no address")
	}
	fmt.Fprintf(w, "    %s\n", v.Why)
	for _, f := range v.Conflicts {
		fmt.Fprintf(w, "conflict: server %s (%s) sends %s\n    %s\n", f.Server, f.Kind, f.Sends, f.Effect)
	}
	if v.Boots {
		fmt.Fprintln(w, "result: a PXE client would boot")
	} else {
		fmt.Fprintln(w, "result: a PXE client would NOT boot")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return fmt.Sprintf("%q", s)
}

func optText(p *dhcpv4.DHCPv4, o dhcpv4.OptionCode) string {
	v := p.Options.Get(o)
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%q", strings.TrimRight(string(v), "\x00"))
}

func optHex(p *dhcpv4.DHCPv4, o dhcpv4.OptionCode) string {
	v := p.Options.Get(o)
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%x", v)
}
