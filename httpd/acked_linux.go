package httpd

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// ackedBytes returns how many bytes the client has acknowledged on c
// (TCP_INFO), which grows as it reads even while a write waits for room
// in a large socket buffer.
func ackedBytes(c net.Conn) (uint64, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info *unix.TCPInfo
	if err := rc.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || info == nil {
		return 0, false
	}
	return info.Bytes_acked, true
}
