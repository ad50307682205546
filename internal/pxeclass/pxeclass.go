// Package pxeclass names the kinds of client the IPv4 and IPv6 decisions
// tell apart. A class decides a reply's shape, and its name is the `class`
// label of the reply metrics, so both families share one set of names.
package pxeclass

// Class is the kind of client, which decides the reply's shape.
type Class string

// Client classes. BIOS is IPv4 only: PXE 2.1 ROMs have no IPv6.
const (
	BIOS Class = "bios" // legacy PXE ROM, option 93 = 0
	UEFI Class = "uefi" // UEFI PXE (EDK2 and vendors); over IPv6 a tftp:// URL
	IPXE Class = "ipxe" // iPXE already running: gets the script, not iPXE again
	HTTP Class = "http" // UEFI HTTP boot: gets an http:// URL
)
