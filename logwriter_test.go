package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/testlog"
)

func TestBufferedLogBatchesInOrder(t *testing.T) {
	out := &testlog.Buffer{}
	b := newBufferedLog(out)
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

// TestBufferedLogNeverWaitsForOutput: a full buffer is handed to a flush
// at once, and while that flush is stuck in a slow output, logging goes on
// without waiting; everything then arrives in order.
func TestBufferedLogNeverWaitsForOutput(t *testing.T) {
	g := &gateWriter{gate: make(chan struct{}), out: &testlog.Buffer{}}
	b := newBufferedLog(g)
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
