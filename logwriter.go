package main

import (
	"io"
	"sync"
	"time"
)

// bufferedLog batches log lines: under a burst of thousands of PXE clients,
// one write(2) per Info line costs about as much as answering the client
// (bench/dhcp). Lines reach the output in order, within flushEvery of being
// logged, or at once when 64 KiB are pending; Flush writes the rest (main
// calls it before exiting).
type bufferedLog struct {
	w io.Writer

	mu    sync.Mutex
	buf   []byte
	armed bool // a flush is scheduled
}

const (
	flushEvery   = 50 * time.Millisecond
	flushAtBytes = 64 << 10
)

func newBufferedLog(w io.Writer) *bufferedLog { return &bufferedLog{w: w} }

// Write implements io.Writer. It never fails: a failed write to the log
// output is not a reason to stop answering clients.
func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= flushAtBytes {
		b.flushLocked()
	} else if !b.armed {
		b.armed = true
		time.AfterFunc(flushEvery, b.Flush)
	}
	return len(p), nil
}

// Flush writes what is pending.
func (b *bufferedLog) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	b.armed = false
}

func (b *bufferedLog) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	_, _ = b.w.Write(b.buf)
	b.buf = b.buf[:0]
}
