package proxy

import (
	"context"

	"github.com/pxeproxy/pxeproxy/internal/dhcpserve"
)

// maxDelayed bounds the replies waiting for ReplyDelay on one socket: a
// flood of PXE requests must not grow memory without end. A lab burst of
// thousands of machines fits.
const maxDelayed = 4096

// delayedReply is an encoded reply waiting for its time, with copies of
// everything that the next read would overwrite.
type delayedReply struct {
	b []byte
	reply
}

// delayQueue holds replies back for ReplyDelay.
type delayQueue = dhcpserve.Queue[delayedReply]

func newDelayQueue(n int) *delayQueue { return dhcpserve.NewQueue[delayedReply](n) }

// sendDelayed returns what sends a reply whose ReplyDelay is over.
func (s *Server) sendDelayed(t Transport) func(context.Context, delayedReply) {
	return func(ctx context.Context, r delayedReply) {
		err := t.WritePacket(r.b, r.from, r.outIf, r.ans.Dst)
		if err != nil && staleAddr(err) {
			// The request is gone, so no second decision: the table is
			// refreshed for the client's retransmission.
			s.ifaces.Refresh(sameIface)
		}
		s.report(ctx, r.reply, err)
	}
}
