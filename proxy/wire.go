package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"slices"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// BOOTP layout (RFC 951, RFC 2131 section 2).
const (
	bootpOptionsAt = 240 // fixed header (236) + magic cookie (4)
	bootpMinLen    = 300 // BOOTP minimum; some relays drop shorter messages
	optOverload    = 52
)

var magicCookie = [4]byte{99, 130, 83, 99}

// quickCheck refuses, without decoding, what is certainly not a PXE
// request: not a BOOTREQUEST, no DHCP magic cookie, or an option 60 that is
// missing or not PXEClient/HTTPClient. Anything it lets through is decoded
// and judged by Parse; it never refuses a packet Parse would answer.
func quickCheck(pkt []byte) error {
	if len(pkt) < bootpOptionsAt {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(pkt))
	}
	if pkt[0] != byte(dhcpv4.OpcodeBootRequest) {
		return ErrNotRequest
	}
	if !bytes.Equal(pkt[236:240], magicCookie[:]) {
		return fmt.Errorf("%w: no DHCP magic cookie", ErrMalformed)
	}
	opts := pkt[bootpOptionsAt:]
	for i := 0; i < len(opts); {
		code := opts[i]
		switch code {
		case 0:
			i++
			continue
		case 255:
			return fmt.Errorf("%w: no option 60", ErrNotPXE)
		}
		if i+1 >= len(opts) || i+2+int(opts[i+1]) > len(opts) {
			return nil // let the codec name what is wrong
		}
		v := opts[i+2 : i+2+int(opts[i+1])]
		switch code {
		case optOverload:
			return nil // options continue in file/sname: decode fully
		case dhcpv4.OptionClassIdentifier.Code():
			// RFC 3396 concatenation could split "PXEClient" over two
			// instances; the prefix check then happens after decoding.
			if bytes.HasPrefix(v, []byte(vendorPXE)) || bytes.HasPrefix(v, []byte(vendorHTTP)) || len(v) < len(vendorHTTP) {
				return nil
			}
			return fmt.Errorf("%w: option 60 %q", ErrNotPXE, truncate(v))
		}
		i += 2 + len(v)
	}
	return nil
}

// AppendPacket appends the wire form of d to b: the same bytes as
// dhcpv4.(*DHCPv4).ToBytes (header, options in code order with option 82
// last, values over 255 bytes split as RFC 3396 says, End, padding to 300),
// without its per-packet buffer growth. It never writes option overload.
func AppendPacket(b []byte, d *dhcpv4.DHCPv4) []byte {
	b = append(b, byte(d.OpCode), byte(d.HWType), byte(len(d.ClientHWAddr)), d.HopCount)
	b = append(b, d.TransactionID[:]...)
	b = binary.BigEndian.AppendUint16(b, d.NumSeconds)
	b = binary.BigEndian.AppendUint16(b, d.Flags)
	for _, ip := range []net.IP{d.ClientIPAddr, d.YourIPAddr, d.ServerIPAddr, d.GatewayIPAddr} {
		b = appendIP4(b, ip)
	}
	var chaddr [16]byte
	copy(chaddr[:], d.ClientHWAddr)
	b = append(b, chaddr[:]...)
	var sname [64]byte
	copy(sname[:63], d.ServerHostName)
	b = append(b, sname[:]...)
	var file [128]byte
	copy(file[:127], d.BootFileName)
	b = append(b, file[:]...)
	b = append(b, magicCookie[:]...)

	var codes [255]uint8
	k := 0
	for c := range d.Options {
		if c != 0 && c != 255 && c != 82 {
			codes[k] = c
			k++
		}
	}
	slices.Sort(codes[:k])
	if _, ok := d.Options[82]; ok {
		// RFC 3046 2.1: relay agent information comes last.
		codes[k] = 82
		k++
	}
	for _, c := range codes[:k] {
		v := d.Options[c]
		if len(v) == 0 {
			b = append(b, c, 0)
			continue
		}
		for len(v) > 0 {
			n := min(len(v), 255)
			b = append(b, c, byte(n))
			b = append(b, v[:n]...)
			v = v[n:]
		}
	}
	b = append(b, 255)
	for len(b) < bootpMinLen {
		b = append(b, 0)
	}
	return b
}

func appendIP4(b []byte, ip net.IP) []byte {
	if ip4 := ip.To4(); ip4 != nil {
		return append(b, ip4...)
	}
	return append(b, 0, 0, 0, 0)
}
