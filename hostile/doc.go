// Package hostile holds the hostile-LAN suite: it runs the real pxeproxy
// binary in a private network namespace and floods it for a few seconds at a
// time the ways a broken or malicious LAN host can (every finding of the
// hostile-LAN review), checking after each flood that the process is alive,
// its memory and log output stay bounded, honest DHCP and TFTP clients are
// still served, and no packet leaves for a destination the rules forbid.
// It has no code of its own; see hostile_test.go.
package hostile
