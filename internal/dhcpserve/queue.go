package dhcpserve

import (
	"context"
	"sync"
	"time"
)

// Queue holds replies back until their time. Every reply of one queue
// waits the same delay, so arrival order is sending order: one goroutine
// with one timer serves the queue, instead of a timer per reply that
// nothing owns. At most the size given to NewQueue wait; Push refuses the
// rest, so a flood of requests cannot grow memory without end.
type Queue[T any] struct {
	ch chan delayed[T]
}

type delayed[T any] struct {
	at time.Time
	v  T
}

// NewQueue returns a queue for n replies.
func NewQueue[T any](n int) *Queue[T] {
	return &Queue[T]{ch: make(chan delayed[T], n)}
}

// Push queues v to be sent at at; false means the queue is full and v is
// dropped. v must not alias buffers that the caller reuses.
func (q *Queue[T]) Push(at time.Time, v T) bool {
	select {
	case q.ch <- delayed[T]{at: at, v: v}:
		return true
	default:
		return false
	}
}

// Start runs Run on its own goroutine; the returned stop ends it and waits
// for it, so that no goroutine or timer outlives the caller's Serve.
func (q *Queue[T]) Start(ctx context.Context, send func(context.Context, T)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { q.Run(ctx, send) })
	return func() { cancel(); wg.Wait() }
}

// Run calls send for each queued reply when its time comes, until ctx
// ends; what is still queued then is dropped.
func (q *Queue[T]) Run(ctx context.Context, send func(context.Context, T)) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var r delayed[T]
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
		send(ctx, r.v)
	}
}

// Len returns how many replies wait.
func (q *Queue[T]) Len() int { return len(q.ch) }
