// Package tftpd is pxeproxy's read-only TFTP server (RFC 1350 with the option
// extensions of RFC 2347, 2348 blksize, 2349 tsize/timeout and 7440 windowsize).
//
// Contract: it only ever reads regular files of the boot folder, looked up
// through bootfs.Root (os.Root underneath), so that neither ".." nor a
// symlink planted in the folder can reach a file outside it; write requests
// are refused and nothing in the folder is ever created or changed. Error
// packets carry fixed texts ("file not found", "access violation", ...),
// never a host path.
//
// The package has two halves: pure functions (option negotiation, packet
// parsing) that are table- and fuzz-tested, and a transfer engine that
// runs each transfer on its own UDP socket bound to the address the request
// was sent to.
//
// What one LAN host can take is bounded: transfers at once (MaxTransfers,
// MaxPerClient per address; at MaxTransfers the oldest transfer whose
// client never answered makes room, so forged sources cannot hold every
// slot), their pace (a transfer that stops moving ends), and what a forged
// request brings back (one packet until the client answers). The package has no package-level state and leaves the
// Go runtime's settings (GOMAXPROCS) alone.
package tftpd
