package proxy6

import (
	"context"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
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
	at    time.Time
	b     []byte
	ans   *Answer
	in    Ingress
	xid   dhcpv6.TransactionID
	iface string
	from  net.IP
	outIf int
	to    *net.UDPAddr
}

// delayQueue holds REPLYs back for BootReplyDelay. Every one waits the same
// delay, so arrival order is sending order: one goroutine (sendDelayed)
// with one timer serves the queue, no timer per reply.
type delayQueue struct {
	ch    chan delayedReply
	delay time.Duration
}

func newDelayQueue(n int, delay time.Duration) *delayQueue {
	return &delayQueue{ch: make(chan delayedReply, n), delay: delay}
}

// push queues r; false means the queue is full and r is dropped.
func (q *delayQueue) push(r delayedReply) bool {
	select {
	case q.ch <- r:
		return true
	default:
		return false
	}
}

// sendDelayed sends the queued replies when their time comes, until ctx
// ends; what is still queued then is dropped.
func (s *Server) sendDelayed(ctx context.Context, w writer, q *delayQueue) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var r delayedReply
		select {
		case <-ctx.Done():
			return
		case r = <-q.ch:
		}
		if d := time.Until(r.at); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			return // both were ready: the socket may be closed already
		}
		s.send(ctx, w, r)
	}
}
