package tftpd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
)

// Probe asks the TFTP server at target for file and waits for one
// well-formed reply (DATA, OACK or ERROR) from the target's host, which it
// names: any of them proves the server loop is alive. It is the client side
// of the container's HEALTHCHECK, written with this package's own codec.
//
// The request carries tsize=0, like EDK2's size probe: a server that supports
// options answers with an OACK, and the probe then aborts with ERROR 8 (RFC
// 2347 option refusal), which servers treat as the normal end of a size probe
// rather than as a failed transfer (docs/pxe-notes.md §7). A DATA reply is
// aborted with ERROR 0 so the server does not retransmit.
func Probe(target, file string, timeout time.Duration) (string, error) {
	raddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return "", fmt.Errorf("tftp probe: resolve %s: %w", target, err)
	}
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return "", fmt.Errorf("tftp probe: open socket: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", fmt.Errorf("tftp probe: set deadline: %w", err)
	}
	if _, err := conn.WriteToUDP(appendRRQ(nil, file, option{"tsize", "0"}), raddr); err != nil {
		return "", fmt.Errorf("tftp probe: send read request to %s: %w", target, err)
	}
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return "", fmt.Errorf("tftp probe: no reply from %s: %w", target, err)
		}
		// The reply comes from a fresh port (the server's transfer ID,
		// RFC 1350 §4) but from the same host; anything else is not ours.
		if !from.IP.Equal(raddr.IP) {
			continue
		}
		kind, err := classifyReply(buf[:n])
		if err != nil {
			return "", fmt.Errorf("tftp probe: reply from %s: %w", from, err)
		}
		switch kind {
		case "OACK":
			_, _ = conn.WriteToUDP(appendError(nil, errCodeOption, "healthcheck size probe"), from)
		case "DATA":
			_, _ = conn.WriteToUDP(appendError(nil, errCodeUndefined, "healthcheck done"), from)
		}
		return kind, nil
	}
}

// classifyReply names a server reply that a live TFTP loop may send to a read
// request, or says why the packet is not one.
func classifyReply(p []byte) (string, error) {
	if len(p) < 4 {
		return "", fmt.Errorf("short packet (%d bytes)", len(p))
	}
	switch op := binary.BigEndian.Uint16(p); op {
	case opDATA:
		if binary.BigEndian.Uint16(p[2:]) != 1 {
			return "", fmt.Errorf("data block %d, want 1", binary.BigEndian.Uint16(p[2:]))
		}
		return "DATA", nil
	case opOACK:
		if p[len(p)-1] != 0 {
			return "", errors.New("oack options not NUL-terminated")
		}
		return "OACK", nil
	case opERROR:
		if len(p) < 5 || p[len(p)-1] != 0 {
			return "", errors.New("error message not NUL-terminated")
		}
		e := parseError(p[2:])
		return fmt.Sprintf("ERROR %d %q", e.code, e.msg), nil
	default:
		return "", fmt.Errorf("unexpected opcode %d", op)
	}
}

// appendRRQ appends an octet-mode read request for file with opts.
func appendRRQ(b []byte, file string, opts ...option) []byte {
	b = binary.BigEndian.AppendUint16(b, opRRQ)
	b = append(append(b, file...), 0)
	b = append(b, "octet\x00"...)
	for _, o := range opts {
		b = append(append(b, o.name...), 0)
		b = append(append(b, o.value...), 0)
	}
	return b
}
