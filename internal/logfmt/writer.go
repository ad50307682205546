package logfmt

import (
	"bytes"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Writer batches log lines in front of the process's log output, within a
// fixed amount of memory.
//
// Under a burst of thousands of PXE clients, one write(2) per Info line costs
// about as much as answering the client, so lines are collected and written
// together, within flushEvery of being logged or as soon as flushAtBytes are
// pending. The write to the output happens outside the lock that Write takes:
// a proxy loop that logs a reply must never wait for a slow terminal, a full
// disk or a stalled `docker logs` pipe.
//
// Invariant: pending lines never take more than Limit bytes. Past it, whole
// lines are dropped and counted (Dropped); when the output takes lines again,
// one Warn line says how many were lost.
type Writer struct {
	w     io.Writer
	limit int
	json  bool

	flushMu sync.Mutex // one flush at a time, so batches stay in order

	mu      sync.Mutex
	buf     []byte // pending lines
	spare   []byte // the buffer the last flush wrote, for reuse
	armed   bool   // a timed flush is scheduled
	kicked  bool   // a flush for a full batch is on its way
	lost    uint64 // lines dropped since the last report
	dropped atomic.Uint64
}

// WriterConfig configures a Writer. Zero values mean the defaults.
type WriterConfig struct {
	// Limit is the most bytes of pending lines held while the output does
	// not keep up (default 4 MiB).
	Limit int
	// JSON says the log lines are JSON, so the line reporting dropped lines
	// is written as JSON too (default: slog's text format).
	JSON bool
}

const (
	flushEvery   = 50 * time.Millisecond
	flushAtBytes = 64 << 10
	defaultLimit = 4 << 20
)

// NewWriter returns a Writer in front of w.
func NewWriter(w io.Writer, cfg WriterConfig) *Writer {
	if cfg.Limit <= 0 {
		cfg.Limit = defaultLimit
	}
	return &Writer{w: w, limit: cfg.Limit, json: cfg.JSON}
}

// Write implements io.Writer. It never fails and never waits for the
// output: a failed or slow log output is not a reason to stop answering
// clients. A line that does not fit in the limit is dropped and counted.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if len(b.buf)+len(p) > b.limit {
		b.lost++
		b.mu.Unlock()
		b.dropped.Add(1)
		return len(p), nil
	}
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

// Dropped is the number of lines dropped since the start because the output
// did not keep up.
func (b *Writer) Dropped() uint64 { return b.dropped.Load() }

// Flush writes what is pending and returns when it is written. At most three
// flushes exist at once (a timed one, one for a full batch and the caller's),
// however long the output blocks.
func (b *Writer) Flush() {
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
	if cap(out) <= 4*flushAtBytes { // a burst's large buffer is let go
		b.spare = out[:0]
	}
	lost := b.lost
	b.lost = 0
	b.mu.Unlock()
	if lost > 0 {
		// The output took a batch again: say what it missed, once.
		_, _ = b.w.Write(b.lostLine(lost))
	}
}

// FlushTimeout flushes like Flush but waits at most d, so that a shutdown
// never hangs on a blocked output. It reports whether everything was written.
func (b *Writer) FlushTimeout(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		b.Flush()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// lostLine formats the report of dropped lines in the log's own format.
func (b *Writer) lostLine(n uint64) []byte {
	var out bytes.Buffer
	var h slog.Handler = NewTextHandler(&out, nil)
	if b.json {
		h = slog.NewJSONHandler(&out, nil)
	}
	slog.New(h).Warn("log output did not keep up: lines were dropped", "svc", "log", "dropped", n)
	return out.Bytes()
}
