// Package pxeboot holds the settings that decide who is answered and with
// which boot file. main reads them once from the environment and both
// decisions, IPv4 (proxy) and IPv6 (proxy6), embed the same value, so a
// setting cannot mean one thing on one family and another on the other.
package pxeboot

import (
	"net"
	"strconv"
	"strings"

	"github.com/pxeproxy/pxeproxy/internal/macprefix"
	"github.com/pxeproxy/pxeproxy/internal/pxearch"
)

// Settings is the boot-file part of a decision's Config. The zero value
// answers nobody (no boot files).
type Settings struct {
	// BootFiles maps a client architecture (DHCPv4 option 93, DHCPv6 option
	// 61: one IANA registry) to the boot file it gets.
	BootFiles map[uint16]string
	// IPXEScript is what clients already running iPXE get: a file name on
	// the boot server or a URL.
	IPXEScript string
	// HTTPPort, when non-zero, answers UEFI HTTP boot clients with
	// http://<server address>:<HTTPPort>/<boot file>.
	HTTPPort int
	// HTTPURL, when set, is the base URL HTTP boot clients get instead (an
	// external web server); the boot file name is appended.
	HTTPURL string

	// Allow, when not empty, limits answers to clients whose MAC starts with
	// one of these prefixes (WDS "respond only to known clients").
	Allow []macprefix.Prefix
	// Deny lists MAC prefixes never answered; deny wins over allow.
	Deny []macprefix.Prefix
	// MACBootFiles gives chosen machines their own boot file instead of the
	// architecture's; the longest matching prefix wins. Clients already
	// running iPXE still get IPXEScript, so they cannot loop.
	MACBootFiles []macprefix.BootFile
}

// File is the boot file for a client of architecture arch (http: a UEFI HTTP
// boot client) with this MAC; ok is false when it has none. A chosen
// machine's MACBootFiles entry wins over its architecture's file.
func (s *Settings) File(arch uint16, http bool, mac net.HardwareAddr) (file string, ok bool) {
	file, ok = s.BootFiles[arch]
	if base, known := pxearch.HTTPBase(arch); !ok && http && known {
		// Only a registered HTTP architecture borrows its PXE one's file:
		// an unknown one (999, 0xffff) must not get the BIOS file of 0.
		file, ok = s.BootFiles[base]
	}
	if f, found := macprefix.Longest(s.MACBootFiles, mac); found {
		file, ok = f, true
	}
	return file, ok && file != ""
}

// HTTPBootURL is the URL a UEFI HTTP boot client gets for file from a server
// at server: under HTTPURL when set, else on our listener (HTTPPort) at
// that IP literal, since a host name would need DNS from the site's offer
// (EDK2 HttpBootDhcp4.c, HttpBootDhcp6.c). Backslashes become slashes and
// the path is percent-encoded (EscapePath). ok is false with neither.
func (s *Settings) HTTPBootURL(file string, server net.IP) (url string, ok bool) {
	path := EscapePath(strings.TrimLeft(strings.ReplaceAll(file, `\`, "/"), "/"))
	switch {
	case s.HTTPURL != "":
		return strings.TrimSuffix(s.HTTPURL, "/") + "/" + path, true
	case s.HTTPPort != 0:
		return "http://" + net.JoinHostPort(server.String(), strconv.Itoa(s.HTTPPort)) + "/" + path, true
	}
	return "", false
}

// EscapePath percent-encodes every byte of a path but unreserved characters
// (RFC 3986 2.3) and '/'. EDK2 strips a trailing ";mode=octet" from a TFTP
// URL and refuses any other ";mode=", so ';' must not reach it raw; '%' is
// its escape. HTTP servers decode it.
func EscapePath(p string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
