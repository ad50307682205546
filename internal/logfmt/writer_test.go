package logfmt

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/testlog"
)

func TestWriterBatchesInOrder(t *testing.T) {
	out := &testlog.Buffer{}
	b := NewWriter(out, WriterConfig{})
	var want strings.Builder
	for i := range 1000 {
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		b.Write([]byte(line))
	}
	// Within a flush period everything arrives, in order, in few writes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, writes := out.String(), out.Writes()
		if got == want.String() {
			if writes > 10 {
				t.Fatalf("%d writes for 1000 lines: not batched", writes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lines not flushed: got %d bytes of %d", len(got), want.Len())
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Write([]byte("last\n"))
	b.Flush()
	if got := out.String(); !strings.HasSuffix(got, "line 999\nlast\n") {
		t.Fatalf("Flush did not write the pending line: %q", got[len(got)-20:])
	}
}

// gateWriter blocks every Write until the test lets it go.
type gateWriter struct {
	gate chan struct{}
	out  *testlog.Buffer
}

func (g *gateWriter) Write(p []byte) (int, error) {
	<-g.gate
	return g.out.Write(p)
}

// TestWriterNeverWaitsForOutput: a full buffer is handed to a flush
// at once, and while that flush is stuck in a slow output, logging goes on
// without waiting; everything then arrives in order.
func TestWriterNeverWaitsForOutput(t *testing.T) {
	g := &gateWriter{gate: make(chan struct{}), out: &testlog.Buffer{}}
	b := NewWriter(g, WriterConfig{})
	var want strings.Builder
	big := strings.Repeat("x", flushAtBytes) + "\n"
	want.WriteString(big)
	b.Write([]byte(big)) // kicks a flush, which blocks in the output
	// If Write waited for the output, this loop would never end (the gate
	// is only opened below).
	for i := range 5000 {
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		b.Write([]byte(line))
	}
	close(g.gate)
	b.Flush()
	if got := g.out.String(); got != want.String() {
		t.Fatalf("output is not every line in order: %d bytes, want %d", len(got), want.Len())
	}
}

// TestWriterBoundedWhileOutputBlocked: with the output blocked (a stalled
// `docker logs` pipe), pending lines stay under the limit, the rest are
// dropped and counted, shutdown does not wait for the output, and once the
// output moves again one line says how many were lost.
func TestWriterBoundedWhileOutputBlocked(t *testing.T) {
	g := &gateWriter{gate: make(chan struct{}), out: &testlog.Buffer{}}
	const limit = 256 << 10
	b := NewWriter(g, WriterConfig{Limit: limit})
	line := strings.Repeat("y", 99) + "\n"
	const lines = 100_000 // 10 MB, 40 times the limit
	for range lines {
		b.Write([]byte(line))
	}
	b.mu.Lock()
	pending := len(b.buf)
	b.mu.Unlock()
	if pending > limit {
		t.Fatalf("%d bytes pending, limit %d", pending, limit)
	}
	if b.Dropped() < uint64(lines-2*limit/len(line)) {
		t.Fatalf("dropped %d of %d lines with a blocked output and a %d-byte limit", b.Dropped(), lines, limit)
	}
	start := time.Now()
	if b.FlushTimeout(100 * time.Millisecond) {
		t.Fatal("FlushTimeout reported success with the output blocked")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("FlushTimeout waited %v", d)
	}
	close(g.gate)
	if !b.FlushTimeout(5 * time.Second) {
		t.Fatal("flush did not finish once the output moved")
	}
	got := g.out.String()
	want := fmt.Sprintf("dropped=%d", b.Dropped())
	if !strings.Contains(got, "lines were dropped") || !strings.Contains(got, want) {
		t.Fatalf("no line reporting %s in the output's tail %q", want, got[max(0, len(got)-300):])
	}
	if n := strings.Count(got, "lines were dropped"); n != 1 {
		t.Fatalf("%d lines report the drop, want 1", n)
	}
}

func TestWriterLostLineJSON(t *testing.T) {
	b := NewWriter(io.Discard, WriterConfig{JSON: true})
	if got := string(b.lostLine(7)); !strings.Contains(got, `"dropped":7`) || !strings.HasPrefix(got, "{") {
		t.Fatalf("lost line %q is not JSON with the count", got)
	}
}
