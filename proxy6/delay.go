package proxy6

import (
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/pxeproxy/pxeproxy/internal/dhcpserve"
)

// BootReplyDelay is how long a REPLY on port 4011 is held back. EDK2 sends
// its boot-server REQUEST and only then opens the socket that reads the
// answer (PxeBcDhcp6.c PxeBcRequestBootService: UdpWrite, then
// Udp6Read->Configure, then UdpRead with a 3 s timeout); a REPLY that
// arrives in between goes to the sending socket and is lost, and the boot
// fails with PXE-E16. QEMU's OVMF lost every immediate REPLY in the e2e
// runs (docs/pxe-notes.md §9); 300 ms is a tenth of EDK2's wait.
const BootReplyDelay = 300 * time.Millisecond

// maxDelayed bounds the REPLYs waiting on one 4011 socket: a flood of
// valid-looking REQUESTs fills it and the rest are dropped
// (ReasonDelayFull), never queued without limit.
const maxDelayed = 1024

// ReasonDelayFull is the ignore reason of a REPLY dropped because
// maxDelayed REPLYs already wait.
const ReasonDelayFull = "delay-queue-full"

// delayedReply is an encoded reply waiting for its time, with what send
// logs; nothing in it aliases the read buffer.
type delayedReply struct {
	b     []byte
	ans   *Answer
	in    Ingress
	xid   dhcpv6.TransactionID
	iface string
	from  net.IP
	outIf int
	to    *net.UDPAddr
}

// delayQueue holds REPLYs back for delay.
type delayQueue struct {
	*dhcpserve.Queue[delayedReply]
	delay time.Duration
}

func newDelayQueue(n int, delay time.Duration) *delayQueue {
	return &delayQueue{Queue: dhcpserve.NewQueue[delayedReply](n), delay: delay}
}
