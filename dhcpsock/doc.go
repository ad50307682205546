//go:build linux

// Package dhcpsock opens the DHCP sockets of pxeproxy. It is Linux only
// (build tag linux): it uses recvmmsg, SO_RCVBUFFORCE, AF_PACKET with a
// BPF filter and raw IPv4 sockets.
//
//   - Listen67 opens UDP 67, or, when another program holds that port, a
//     raw AF_PACKET listener beside it (Raw); ListenUDP opens any other
//     port (4011). Both return transports read with recvmmsg (UDP).
//   - ListenReplies opens the conflict watcher's passive listener on UDP
//     68, with the same raw fallback.
//
// The transports have the method set of proxy.Transport written with
// standard types only, so that they satisfy it without this package
// importing proxy: sockets do not depend on the decision. Errors that stop
// the start are one line saying what to do (portHint).
package dhcpsock
