package main

import (
	"io"
	"sync"
	"time"
)

// bufferedLog batches log lines: under a burst of thousands of PXE clients,
// one write(2) per Info line costs about as much as answering the client
// (bench/dhcp). Lines reach the output in order, within flushEvery of being
// logged, or soon after 64 KiB are pending; Flush writes the rest (main
// calls it before exiting).
//
// The write to the output happens outside the lock that Write takes, on
// the flushing goroutine: a proxy loop that logs a reply while a flush is
// writing 64 KiB to a slow terminal or file must not wait for it (with the
// write under the lock, the one-at-a-time p99 at log level info was 1.17x
// the one at warn; bench/dhcp).
type bufferedLog struct {
	w io.Writer

	flushMu sync.Mutex // one flush at a time, so batches stay in order

	mu     sync.Mutex
	buf    []byte // pending lines
	spare  []byte // the buffer the last flush wrote, for reuse
	armed  bool   // a timed flush is scheduled
	kicked bool   // a flush for a full buffer is on its way
}

const (
	flushEvery   = 50 * time.Millisecond
	flushAtBytes = 64 << 10
)

func newBufferedLog(w io.Writer) *bufferedLog { return &bufferedLog{w: w} }

// Write implements io.Writer. It never fails and never waits for the
// output: a failed or slow write to the log output is not a reason to stop
// answering clients.
func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	kick := len(b.buf) >= flushAtBytes && !b.kicked
	if kick {
		b.kicked = true
	}
	arm := !kick && !b.armed
	if arm {
		b.armed = true
	}
	b.mu.Unlock()
	if kick {
		go b.Flush()
	} else if arm {
		time.AfterFunc(flushEvery, b.Flush)
	}
	return len(p), nil
}

// Flush writes what is pending and returns when it is written.
func (b *bufferedLog) Flush() {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	out := b.buf
	b.buf, b.spare = b.spare[:0], nil
	b.armed, b.kicked = false, false
	b.mu.Unlock()
	if len(out) > 0 {
		_, _ = b.w.Write(out)
	}
	b.mu.Lock()
	if cap(out) <= 4*flushAtBytes { // a burst's huge buffer is let go
		b.spare = out[:0]
	}
	b.mu.Unlock()
}
