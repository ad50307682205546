// Package tftpd is pxeproxy's read-only TFTP server (RFC 1350 with the option
// extensions of RFC 2347, 2348 blksize, 2349 tsize/timeout and 7440 windowsize).
//
// Contract: it only ever reads regular files below its Root, opened through
// os.Root so that neither ".." nor a symlink planted in the root can reach a
// file outside it; write requests are refused and nothing in the root is ever
// created or changed. Error packets carry fixed texts ("file not found",
// "access violation", ...), never a host path.
//
// The package has two halves: pure functions (Clean, option negotiation,
// packet parsing) that are table- and fuzz-tested, and a transfer engine that
// runs each transfer on its own UDP socket bound to the address the request
// was sent to.
//
// What one LAN host can take is bounded: transfers at once (MaxTransfers,
// MaxPerClient per address), their pace (a transfer that stops moving
// ends), and what a forged request brings back (one packet until the
// client answers). The package has no package-level state and leaves the
// Go runtime's settings (GOMAXPROCS) alone.
package tftpd
