package tftpd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// TFTP opcodes (RFC 1350 §5, RFC 2347 for OACK).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// TFTP error codes (RFC 1350 appendix, RFC 2347 for 8).
const (
	errCodeUndefined  = 0
	errCodeNotFound   = 1
	errCodeAccess     = 2
	errCodeIllegalOp  = 4
	errCodeUnknownTID = 5
	errCodeOption     = 8
)

// option is one name/value pair of a request, name as the client spelled it.
type option struct {
	name, value string
}

// request is a parsed RRQ or WRQ.
type request struct {
	op   uint16
	file string
	mode string // lower case
	opts []option
}

var errMalformed = errors.New("malformed packet")

// parseRequest decodes an RRQ/WRQ: opcode, file NUL, mode NUL, then option
// pairs. A trailing incomplete pair is ignored (RFC 2347 has no way to
// answer half an option).
func parseRequest(b []byte) (request, error) {
	if len(b) < 2 {
		return request{}, fmt.Errorf("parse request: short: %w", errMalformed)
	}
	r := request{op: binary.BigEndian.Uint16(b)}
	if r.op != opRRQ && r.op != opWRQ {
		return request{}, fmt.Errorf("parse request: opcode %d: %w", r.op, errMalformed)
	}
	fields := bytes.Split(b[2:], []byte{0})
	// The last element is what follows the final NUL: empty for a well formed
	// packet, otherwise an unterminated string that is dropped.
	fields = fields[:len(fields)-1]
	if len(fields) < 2 {
		return request{}, fmt.Errorf("parse request: missing file or mode: %w", errMalformed)
	}
	r.file = string(fields[0])
	r.mode = asciiLower(fields[1])
	for i := 2; i+1 < len(fields); i += 2 {
		r.opts = append(r.opts, option{string(fields[i]), string(fields[i+1])})
	}
	return r, nil
}

// asciiLower lower-cases ASCII letters only, leaving other bytes as they are.
func asciiLower(b []byte) string {
	out := []byte(string(b))
	for i, c := range out {
		if 'A' <= c && c <= 'Z' {
			out[i] = c + 'a' - 'A'
		}
	}
	return string(out)
}

// appendError appends an ERROR packet with a fixed message.
func appendError(b []byte, code uint16, msg string) []byte {
	b = binary.BigEndian.AppendUint16(b, opERROR)
	b = binary.BigEndian.AppendUint16(b, code)
	b = append(b, msg...)
	return append(b, 0)
}

// appendOACK appends an OACK packet carrying opts.
func appendOACK(b []byte, opts []option) []byte {
	b = binary.BigEndian.AppendUint16(b, opOACK)
	for _, o := range opts {
		b = append(b, o.name...)
		b = append(b, 0)
		b = append(b, o.value...)
		b = append(b, 0)
	}
	return b
}

// tftpError is an ERROR packet received from the client.
type tftpError struct {
	code uint16
	msg  string
}

func (e *tftpError) Error() string {
	return fmt.Sprintf("client error %d: %q", e.code, e.msg)
}

// parseError decodes an ERROR packet body (after the opcode).
func parseError(b []byte) *tftpError {
	e := &tftpError{}
	if len(b) >= 2 {
		e.code = binary.BigEndian.Uint16(b)
		m := b[2:]
		if i := bytes.IndexByte(m, 0); i >= 0 {
			m = m[:i]
		}
		if len(m) > 128 {
			m = m[:128]
		}
		e.msg = string(m)
	}
	return e
}
