package main

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

func TestTemplateFill(t *testing.T) {
	ts, err := newTemplates()
	if err != nil {
		t.Fatal(err)
	}
	for _, ctr := range []uint32{0, 1, 0xabcde} {
		xid := makeXid(7, ctr)
		b := make([]byte, len(ts.pick(ctr).b))
		ts.pick(ctr).fill(b, xid)
		d, err := dhcpv4.FromBytes(b)
		if err != nil {
			t.Fatalf("ctr %d: decode: %v", ctr, err)
		}
		if got := d.ClientArch(); len(got) != 1 || got[0] != archFor(ctr) {
			t.Errorf("ctr %d: arch %v, want %v", ctr, got, archFor(ctr))
		}
		if d.MessageType() != dhcpv4.MessageTypeDiscover || !d.IsBroadcast() {
			t.Errorf("ctr %d: type %v broadcast %v", ctr, d.MessageType(), d.IsBroadcast())
		}
		if d.ClientHWAddr.String() != macFor(xid).String() {
			t.Errorf("ctr %d: chaddr %s, want %s", ctr, d.ClientHWAddr, macFor(xid))
		}
		if got := binary.BigEndian.Uint32(d.TransactionID[:]); got != xid || counterOf(d) != ctr {
			t.Errorf("ctr %d: xid %#x (counter %d), want %#x", ctr, got, counterOf(d), xid)
		}
		if guid := d.GetOneOption(dhcpv4.OptionClientMachineIdentifier); len(guid) != 17 || guid[4] != byte(xid) {
			t.Errorf("ctr %d: guid %x not patched", ctr, guid)
		}
	}
}

func offerFor(t *testing.T, discover []byte, mods ...dhcpv4.Modifier) []byte {
	t.Helper()
	req, err := dhcpv4.FromBytes(discover)
	if err != nil {
		t.Fatal(err)
	}
	base := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient")),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 99, 0, 1))),
	}
	rep, err := dhcpv4.NewReplyFromRequest(req, append(base, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return rep.ToBytes()
}

func TestChecks(t *testing.T) {
	tpl, err := newTemplate(iana.INTEL_X86PC)
	if err != nil {
		t.Fatal(err)
	}
	disc := make([]byte, len(tpl.b))
	tpl.fill(disc, makeXid(2, 4))
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"proxy offer": {offerFor(t, disc), nil},
		"the request": {disc, errNotRep},
		"short":       {disc[:100], errShort},
		"yiaddr set":  {offerFor(t, disc, dhcpv4.WithYourIP(net.IPv4(10, 99, 0, 50))), errYiaddr},
		"chaddr":      {offerFor(t, disc, dhcpv4.WithHwAddr(net.HardwareAddr{2, 0, 0, 0, 0, 1})), errChaddr},
		"ack":         {offerFor(t, disc, dhcpv4.WithMessageType(dhcpv4.MessageTypeAck)), errMsgType},
		"no class":    {offerFor(t, disc, dhcpv4.WithoutOption(dhcpv4.OptionClassIdentifier)), errClass},
		"no server":   {offerFor(t, disc, dhcpv4.WithoutOption(dhcpv4.OptionServerIdentifier)), errNoSrvID},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d, err := fullCheck(c.b)
			if !errors.Is(err, c.want) {
				t.Fatalf("fullCheck: %v, want %v", err, c.want)
			}
			if c.want == nil && hasBootFile(d) {
				t.Errorf("offer without file reported as having one")
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	// comm with a space and a parenthesis, as a process may name itself.
	line := []byte("4242 (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 7 0 12345 1000 200\n")
	got, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := (cpuUse{250 * clockTick, 75 * clockTick}); got != want {
		t.Errorf("cpu %+v, want %+v", got, want)
	}
	if _, err := parseStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("truncated stat line accepted")
	}
}

func TestParseHWM(t *testing.T) {
	got, err := parseHWM([]byte("Name:\tpxeproxy\nVmPeak:\t 1000 kB\nVmHWM:\t    8344 kB\nVmRSS:\t 8000 kB\n"))
	if err != nil || got != 8344*1024 {
		t.Errorf("parseHWM = %d, %v; want %d", got, err, 8344*1024)
	}
	if _, err := parseHWM([]byte("Name:\tx\n")); err == nil {
		t.Error("status without VmHWM accepted")
	}
}

func TestTable(t *testing.T) {
	// rate and pct guard against empty phases (a skipped phase prints 0, not NaN).
	if r := rate(PhaseResult{}); r != 0 {
		t.Errorf("rate of empty phase %v", r)
	}
	if p := pct(PhaseResult{Sent: 4, Answered: 3}); p != 75 {
		t.Errorf("pct %v", p)
	}
	if us(1500*time.Nanosecond) != 1.5 {
		t.Error("us conversion")
	}
}
