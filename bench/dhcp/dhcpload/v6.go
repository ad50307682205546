package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
)

// The IPv6 mode (-v6): EDK2-shaped DHCPv6 SOLICITs to ff02::1:2 on each
// target's link, ADVERTISEs back to the generator's link-local :546. The
// same closed-loop and burst phases and the same Result as IPv4, so that
// -table compares an IPv6 run with an IPv4 one. The one-at-a-time phase is
// not run: its blocking second socket relies on broadcast replies reaching
// every socket on :68, and unicast replies to :546 reach one.
var v6Mode = flag.Bool("v6", false, "send DHCPv6 SOLICITs to ff02::1:2 on each target's link instead of DHCPv4 DISCOVERs (-seq is not run)")

// A DHCPv6 transaction id has 24 bits: the phase takes the top 4, the
// counter the other 20 (a million requests a phase).
func makeXid6(phase uint8, ctr uint32) uint32 { return uint32(phase&0xf)<<20 | ctr&0xfffff }

func splitXid6(xid uint32) (uint8, uint32) { return uint8(xid >> 20 & 0xf), xid & 0xfffff }

// solicit6 is an EDK2 SOLICIT (Dhcp6Io.c Dhcp6SendSolicitMsg and
// PxeBcDhcp6.c PxeBcBuildDhcp6Options, in their order): Client ID
// (DUID-UUID, its last 4 bytes the counter: every request is another
// machine), Elapsed Time, empty IA_NA, ORO 59 60 23 16, UNDI, arch, vendor
// class 343 PXEClient. Its xid and UUID are patched per packet.
type solicit6 struct {
	b       []byte
	uuidEnd int // offset just past the DUID-UUID
}

func newSolicit6(arch uint16) solicit6 {
	opt := func(b []byte, code uint16, v ...byte) []byte {
		b = binary.BigEndian.AppendUint16(b, code)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		return append(b, v...)
	}
	b := []byte{1, 0, 0, 0}
	b = opt(b, 1, append([]byte{0, 4}, bytes.Repeat([]byte{0xaa}, 16)...)...)
	end := len(b)
	b = opt(b, 8, 0, 0)
	b = opt(b, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)
	b = opt(b, 6, 0, 59, 0, 60, 0, 23, 0, 16)
	b = opt(b, 62, 1, 3, 0)
	b = opt(b, 61, byte(arch>>8), byte(arch))
	class := fmt.Sprintf("PXEClient:Arch:%05d:UNDI:003000", arch)
	vc := binary.BigEndian.AppendUint32(nil, 343)
	vc = binary.BigEndian.AppendUint16(vc, uint16(len(class)))
	b = opt(b, 16, append(vc, class...)...)
	return solicit6{b: b, uuidEnd: end}
}

func (s solicit6) fill(dst []byte, xid uint32) {
	copy(dst, s.b)
	dst[1], dst[2], dst[3] = byte(xid>>16), byte(xid>>8), byte(xid)
	binary.BigEndian.PutUint32(dst[s.uuidEnd-4:], xid)
}

// wire6 is the DHCPv6 load: x86-64 (7) and AArch64 (11) UEFI SOLICITs in
// turn.
func wire6() wire {
	ss := [2]solicit6{newSolicit6(7), newSolicit6(11)}
	return wire{
		size:     len(ss[0].b),
		counters: 1 << 20,
		fill:     func(dst []byte, id uint8, ctr uint32) { ss[ctr%2].fill(dst, makeXid6(id, ctr)) },
		check:    checkXid(check6, splitXid6),
	}
}

var (
	errNotAdv     = errors.New("not an ADVERTISE")
	errLeases     = errors.New("an IA, address, status code or preference in a proxy ADVERTISE")
	errClientID   = errors.New("client id does not echo the request")
	errNoBootURL6 = errors.New("no tftp:// option 59")
	errOptions6   = errors.New("option list overruns the message")
)

// check6 validates an ADVERTISE without a decoder, cheaply enough for every
// reply at full rate, and returns its xid: ADVERTISE, no IA_NA/IA_TA/IA_PD/
// IAADDR/Status/Preference, Client ID echoing the DUID of that request,
// option 59 a tftp:// URL.
func check6(b []byte) (uint32, error) {
	if len(b) < 4 {
		return 0, errShort
	}
	if b[0] != 2 {
		return 0, errNotAdv
	}
	xid := uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	var clientOK, urlOK bool
	for o := b[4:]; len(o) > 0; {
		if len(o) < 4 {
			return 0, errOptions6
		}
		code, n := binary.BigEndian.Uint16(o), int(binary.BigEndian.Uint16(o[2:]))
		if len(o) < 4+n {
			return 0, errOptions6
		}
		v := o[4 : 4+n]
		o = o[4+n:]
		switch code {
		case 3, 4, 5, 7, 13, 25:
			return 0, errLeases
		case 1:
			clientOK = n == 18 && v[0] == 0 && v[1] == 4 && binary.BigEndian.Uint32(v[14:]) == xid
		case 59:
			urlOK = bytes.HasPrefix(v, []byte("tftp://["))
		}
	}
	if !clientOK {
		return 0, errClientID
	}
	if !urlOK {
		return 0, errNoBootURL6
	}
	return xid, nil
}
