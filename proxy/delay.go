package proxy

import (
	"context"
	"time"
)

// maxDelayed bounds the replies waiting for ReplyDelay on one socket: a
// flood of PXE requests must not grow memory without end. A lab burst of
// thousands of machines fits.
const maxDelayed = 4096

// delayedReply is an encoded reply waiting for its time, with copies of
// everything that the next read would overwrite.
type delayedReply struct {
	at time.Time
	b  []byte
	reply
}

// delayQueue holds replies back for ReplyDelay. Every reply waits the same
// delay, so arrival order is sending order: one goroutine (sendDelayed)
// with one timer serves the queue, instead of a timer per reply that
// nothing owns.
type delayQueue struct {
	ch chan delayedReply
}

func newDelayQueue(n int) *delayQueue {
	return &delayQueue{ch: make(chan delayedReply, n)}
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
func (s *Server) sendDelayed(ctx context.Context, t Transport, q *delayQueue) {
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
			return // both were ready: the transport may be closed already
		}
		err := t.WritePacket(r.b, r.from, r.outIf, r.ans.Dst)
		if err != nil && staleAddr(err) {
			// The request is gone, so no second decision: the table is
			// refreshed for the client's retransmission.
			s.ifaces.refresh()
		}
		s.report(ctx, r.reply, err)
	}
}
