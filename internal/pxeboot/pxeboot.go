// Package pxeboot holds the settings that decide who is answered and with
// which boot file. main reads them once from the environment and both
// decisions, IPv4 (proxy) and IPv6 (proxy6), embed the same value, so a
// setting cannot mean one thing on one family and another on the other.
package pxeboot

import (
	"net"

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
