// Package macprefix holds the MAC prefixes of PXE_ALLOW_MACS, PXE_DENY_MACS
// and PXE_MAC_BOOTFILES, read once by envcfg and matched the same way by the
// IPv4 and IPv6 decisions. It is a leaf: neither decision depends on the other.
package macprefix

import (
	"bytes"
	"net"
)

// Prefix is a whole MAC address or its first bytes (52:54:00 is an OUI).
type Prefix []byte

// Match reports whether mac starts with the prefix. An empty prefix matches
// nothing, so a zero entry cannot allow or deny every client.
func (p Prefix) Match(mac net.HardwareAddr) bool {
	return len(p) > 0 && len(mac) >= len(p) && bytes.Equal(mac[:len(p)], p)
}

// String prints the prefix as colon-separated hex.
func (p Prefix) String() string { return net.HardwareAddr(p).String() }

// BootFile is one PXE_MAC_BOOTFILES entry.
type BootFile struct {
	Prefix Prefix
	File   string
}

// Longest returns the file of the longest prefix in l that matches mac: a
// whole MAC beats its OUI whatever the order the entries were written in.
func Longest(l []BootFile, mac net.HardwareAddr) (file string, ok bool) {
	best := 0
	for _, m := range l {
		if m.Prefix.Match(mac) && len(m.Prefix) > best {
			file, ok, best = m.File, true, len(m.Prefix)
		}
	}
	return file, ok
}
