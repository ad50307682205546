package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"slices"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
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

// Decoder reads DHCP messages into one reused dhcpv4.DHCPv4 without
// copying: header fields and option values are slices of the packet
// buffer, and the options map is cleared and reused. It gives the same
// message as dhcpv4.FromBytes (FuzzDecode checks it byte for byte), for a
// fraction of the allocations: FromBytes copies every option into a fresh
// map, which was the largest cost per reply under a burst. The message is
// valid only until the buffer is reused: answer it, encode the reply, then
// read the next one.
type Decoder struct {
	msg dhcpv4.DHCPv4
}

// errShort mirrors the codec's complaint about a truncated message.
var errShort = fmt.Errorf("%w: message shorter than its fixed header", ErrMalformed)

// Decode parses b. The result aliases b and is overwritten by the next call.
func (d *Decoder) Decode(b []byte) (*dhcpv4.DHCPv4, error) {
	if len(b) < bootpOptionsAt {
		return nil, errShort
	}
	if !bytes.Equal(b[236:240], magicCookie[:]) {
		return nil, fmt.Errorf("%w: got magic cookie %v", ErrMalformed, b[236:240])
	}
	if d.msg.Options == nil {
		d.msg.Options = make(dhcpv4.Options, 24)
	}
	opts := d.msg.Options
	clear(opts)
	m := &d.msg
	*m = dhcpv4.DHCPv4{Options: opts}
	m.OpCode = dhcpv4.OpcodeType(b[0])
	m.HWType = iana.HWType(b[1])
	hlen := min(int(b[2]), 16)
	m.HopCount = b[3]
	copy(m.TransactionID[:], b[4:8])
	m.NumSeconds = binary.BigEndian.Uint16(b[8:10])
	m.Flags = binary.BigEndian.Uint16(b[10:12])
	m.ClientIPAddr = net.IP(b[12:16:16])
	m.YourIPAddr = net.IP(b[16:20:20])
	m.ServerIPAddr = net.IP(b[20:24:24])
	m.GatewayIPAddr = net.IP(b[24:28:28])
	m.ClientHWAddr = net.HardwareAddr(b[28 : 28+hlen : 28+hlen])
	m.ServerHostName = cString(b[44:108])
	m.BootFileName = cString(b[108:236])

	data := b[bootpOptionsAt:]
	if len(data) == 0 {
		return m, nil // the codec accepts a message with no options at all
	}
	for i := 0; i < len(data); {
		code := data[i]
		i++
		switch code {
		case 0:
			continue
		case 255:
			return m, nil
		}
		if i >= len(data) {
			return nil, fmt.Errorf("%w: option %d has no length", ErrMalformed, code)
		}
		n := int(data[i])
		i++
		if i+n > len(data) {
			return nil, fmt.Errorf("%w: option %d: %d bytes, %d left", ErrMalformed, code, n, len(data)-i)
		}
		v := data[i : i+n : i+n]
		i += n
		if prev, ok := opts[code]; ok {
			// RFC 3396: repeated options concatenate (a copy: rare).
			v = append(bytes.Clone(prev), v...)
		}
		opts[code] = v
	}
	return nil, fmt.Errorf("%w: no End option", ErrMalformed)
}

// cString is the text before the first NUL, as the codec reads sname/file.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return ""
	}
	return string(b)
}
