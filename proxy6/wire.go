package proxy6

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// DHCPv6 layout (RFC 8415 8 and 9).
const (
	msgHeaderLen   = 4  // msg-type, transaction-id
	relayHeaderLen = 34 // msg-type, hop-count, link-address, peer-address
)

// maxMessage bounds what is decoded. EDK2 sends and accepts at most 1472
// bytes (PXEBC_DHCP6_PACKET_MAX_SIZE), iPXE a few hundred; eight relay
// envelopes add some hundreds more. The codec decodes option 9 wherever it
// appears, recursively and copying at every level: a 64 KiB datagram of
// nested envelopes costs it tens of milliseconds, a 4 KiB one little.
const maxMessage = 4096

// quickCheck refuses, without decoding, what is certainly not ours: a
// message longer than maxMessage, a message type no client sends us, relays
// nested deeper than maxRelays, or a client message with neither a PXE
// vendor class nor the iPXE user class.
// Everything on ff02::1:2 reaches us (every RENEW, REBIND, CONFIRM of the
// LAN), and most of it is refused here. It never refuses a packet Reply
// would answer (FuzzReply checks it); what it lets through is decoded and
// judged by Reply.
func quickCheck(b []byte) error {
	if len(b) > maxMessage {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(b), maxMessage)
	}
	for depth := 0; ; depth++ {
		if len(b) < msgHeaderLen {
			return fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
		}
		switch dhcpv6.MessageType(b[0]) {
		case dhcpv6.MessageTypeRelayForward:
			if depth == maxRelays {
				return fmt.Errorf("%w: more than %d relays", ErrRelayTooDeep, maxRelays)
			}
			if len(b) < relayHeaderLen {
				return fmt.Errorf("%w: relay header of %d bytes", ErrMalformed, len(b))
			}
			inner, ok := findOption(b[relayHeaderLen:], dhcpv6.OptionRelayMsg)
			if !ok {
				return nil // let the codec name what is wrong
			}
			b = inner
		case dhcpv6.MessageTypeSolicit, dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeInformationRequest:
			return pxeClass(b[msgHeaderLen:])
		default:
			return fmt.Errorf("%w: %s", ErrMessageType, dhcpv6.MessageType(b[0]))
		}
	}
}

// pxeClass refuses an option list with no option 16 of enterprise 343 whose
// data starts with PXEClient or HTTPClient, and no option 15 holding "iPXE".
// A list it cannot walk is let through for the codec.
func pxeClass(opts []byte) error {
	for len(opts) > 0 {
		if len(opts) < 4 {
			return nil
		}
		code := dhcpv6.OptionCode(binary.BigEndian.Uint16(opts))
		n := int(binary.BigEndian.Uint16(opts[2:]))
		if len(opts) < 4+n {
			return nil
		}
		v := opts[4 : 4+n]
		opts = opts[4+n:]
		switch code {
		case dhcpv6.OptionVendorClass:
			// enterprise-number (4), then the first class data's length (2).
			if len(v) >= 6 && binary.BigEndian.Uint32(v) == enterprisePXE &&
				(bytes.HasPrefix(v[6:], vendorPXEOpt) || bytes.HasPrefix(v[6:], vendorHTTPOpt)) {
				return nil
			}
		case dhcpv6.OptionUserClass:
			if bytes.Contains(v, []byte("iPXE")) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no PXE vendor class or iPXE user class", ErrNotPXE)
}

// findOption returns the value of the first option code in an option list
// it can walk up to that option.
func findOption(opts []byte, code dhcpv6.OptionCode) ([]byte, bool) {
	for len(opts) >= 4 {
		c := dhcpv6.OptionCode(binary.BigEndian.Uint16(opts))
		n := int(binary.BigEndian.Uint16(opts[2:]))
		if len(opts) < 4+n {
			return nil, false
		}
		if c == code {
			return opts[4 : 4+n], true
		}
		opts = opts[4+n:]
	}
	return nil, false
}
