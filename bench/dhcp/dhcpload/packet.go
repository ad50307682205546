package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Offsets in the fixed BOOTP header (RFC 2131 section 2).
const (
	offOp     = 0
	offXid    = 4
	offYiaddr = 16
	offChaddr = 28
	offCookie = 236
	hdrLen    = 240
)

var cookie = []byte{99, 130, 83, 99}

// A xid carries the phase in its top byte and a per-phase counter in the rest,
// so that a late reply from an earlier phase is recognised and not counted twice.
func makeXid(phase uint8, ctr uint32) uint32 { return uint32(phase)<<24 | ctr&0xffffff }

func splitXid(xid uint32) (phase uint8, ctr uint32) { return uint8(xid >> 24), xid & 0xffffff }

// macFor derives a distinct, locally administered MAC from the xid, so that every
// DISCOVER of a run comes from a different "machine" and the reply's chaddr can be
// checked without a table.
func macFor(xid uint32) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x50, byte(xid >> 24), byte(xid >> 16), byte(xid >> 8), byte(xid)}
}

// archFor alternates BIOS (0) and x86-64 UEFI (7) clients.
func archFor(ctr uint32) iana.Arch {
	if ctr%2 == 0 {
		return iana.INTEL_X86PC
	}
	return iana.EFI_X86_64
}

// template is one encoded PXE DISCOVER whose xid, chaddr and GUID are patched per
// packet: encoding with the dhcpv4 codec per packet would make the generator
// slower than the servers it measures.
type template struct {
	b       []byte
	guidOff int // offset of option 97's 16 GUID bytes
}

func newTemplate(arch iana.Arch) (*template, error) {
	// Option 60 as PXE 2.1 firmware sends it (arch field matching option 93,
	// UNDI 2.1 for BIOS, 3.16 for UEFI as EDK2 does).
	class := "PXEClient:Arch:00000:UNDI:002001"
	if arch != iana.INTEL_X86PC {
		class = fmt.Sprintf("PXEClient:Arch:%05d:UNDI:003016", arch)
	}
	guid := append([]byte{0}, bytes.Repeat([]byte{0xaa}, 16)...)
	d, err := dhcpv4.New(
		dhcpv4.WithTransactionID(dhcpv4.TransactionID{}),
		dhcpv4.WithHwAddr(make(net.HardwareAddr, 6)),
		dhcpv4.WithBroadcast(true),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover),
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(1260)),
		dhcpv4.WithRequestedOptions(prl...),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(class)),
		dhcpv4.WithOption(dhcpv4.OptClientArch(arch)),
		dhcpv4.WithGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1}),
		dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, guid),
	)
	if err != nil {
		return nil, fmt.Errorf("build discover: %w", err)
	}
	b := d.ToBytes()
	off, err := findOption(b, 97)
	if err != nil {
		return nil, err
	}
	return &template{b: b, guidOff: off + 1}, nil // skip the GUID type byte
}

// prl is option 55 as PXE 2.1 ROMs send it (Intel UNDI 2.1 and EDK2 ask for
// the same list).
var prl = func() []dhcpv4.OptionCode {
	var l []dhcpv4.OptionCode
	for _, c := range []uint8{1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135} {
		l = append(l, dhcpv4.GenericOptionCode(c))
	}
	return l
}()

// findOption returns the offset of option code's value in an encoded packet.
func findOption(b []byte, code byte) (int, error) {
	for i := hdrLen; i < len(b); {
		switch b[i] {
		case 0:
			i++
			continue
		case 255:
			return 0, fmt.Errorf("option %d not found", code)
		}
		if i+1 >= len(b) {
			break
		}
		if b[i] == code {
			return i + 2, nil
		}
		i += 2 + int(b[i+1])
	}
	return 0, fmt.Errorf("option %d not found", code)
}

// fill writes the DISCOVER for xid into dst (len(dst) == len(t.b)).
func (t *template) fill(dst []byte, xid uint32) {
	copy(dst, t.b)
	binary.BigEndian.PutUint32(dst[offXid:], xid)
	copy(dst[offChaddr:], macFor(xid))
	binary.BigEndian.PutUint32(dst[t.guidOff:], xid)
}

// templates holds one template per client class; pick chooses by counter.
type templates [2]*template

func newTemplates() (templates, error) {
	var ts templates
	for i, arch := range []iana.Arch{iana.INTEL_X86PC, iana.EFI_X86_64} {
		t, err := newTemplate(arch)
		if err != nil {
			return ts, err
		}
		ts[i] = t
	}
	return ts, nil
}

func (ts templates) pick(ctr uint32) *template { return ts[ctr%2] }

// wire4 is the DHCPv4 load: BIOS and UEFI DISCOVERs in turn.
func wire4() (wire, error) {
	ts, err := newTemplates()
	if err != nil {
		return wire{}, err
	}
	return wire{
		size:     len(ts[0].b),
		counters: 1 << 24,
		fill:     func(dst []byte, id uint8, ctr uint32) { ts.pick(ctr).fill(dst, makeXid(id, ctr)) },
		check:    checkXid(quickCheck, splitXid),
	}, nil
}

var (
	errShort   = errors.New("shorter than a BOOTP header")
	errNotRep  = errors.New("not a BOOTREPLY")
	errCookie  = errors.New("bad magic cookie")
	errYiaddr  = errors.New("non-zero yiaddr in a proxy reply")
	errChaddr  = errors.New("chaddr does not echo the request")
	errMsgType = errors.New("not a DHCPOFFER")
	errClass   = errors.New("option 60 does not start with PXEClient")
	errNoSrvID = errors.New("no option 54")
)

// quickCheck validates what can be checked without decoding options, cheaply
// enough to run on every reply at full rate, and returns the xid.
func quickCheck(b []byte) (uint32, error) {
	if len(b) < hdrLen {
		return 0, errShort
	}
	if b[offOp] != 2 {
		return 0, errNotRep
	}
	if !bytes.Equal(b[offCookie:hdrLen], cookie) {
		return 0, errCookie
	}
	if !bytes.Equal(b[offYiaddr:offYiaddr+4], []byte{0, 0, 0, 0}) {
		return 0, errYiaddr
	}
	xid := binary.BigEndian.Uint32(b[offXid:])
	if !bytes.Equal(b[offChaddr:offChaddr+6], macFor(xid)) {
		return 0, errChaddr
	}
	return xid, nil
}

// fullCheck decodes a reply with the dhcpv4 codec and checks that it is a proxy
// offer a PXE ROM would accept (PXE-NOTES section 2).
func fullCheck(b []byte) (*dhcpv4.DHCPv4, error) {
	if _, err := quickCheck(b); err != nil {
		return nil, err
	}
	d, err := dhcpv4.FromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	switch {
	case d.MessageType() != dhcpv4.MessageTypeOffer:
		return d, errMsgType
	case !strings.HasPrefix(d.ClassIdentifier(), "PXEClient"):
		return d, errClass
	case d.ServerIdentifier() == nil:
		return d, errNoSrvID
	}
	return d, nil
}

// hasBootFile says whether an offer names a boot file itself. A menu-style
// offer (dnsmasq with a PXE menu) may not: the ROM then asks on port 4011.
func hasBootFile(d *dhcpv4.DHCPv4) bool {
	return d.BootFileName != "" || d.BootFileNameOption() != ""
}
