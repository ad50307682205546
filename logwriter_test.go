package main

import (
	"bytes"
	"fmt"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
	"strings"
	"testing"
	"time"
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

func TestBufferedLogFlushesLargeBurstAtOnce(t *testing.T) {
	out := &testlog.Buffer{}
	b := newBufferedLog(out)
	b.Write(bytes.Repeat([]byte("x"), flushAtBytes))
	if got := out.String(); len(got) != flushAtBytes {
		t.Fatalf("a full buffer was not written at once: %d bytes", len(got))
	}
}
