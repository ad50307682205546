package journal

import (
	"fmt"
	"testing"
)

// TestInternFlood: strings a flood makes up (vendor classes, file names)
// never grow the intern table past maxInterned, and each still comes back
// equal.
func TestInternFlood(t *testing.T) {
	j, _ := newTest(t, Config{Clients: 10})
	for i := range 3*maxInterned + 5 {
		s := fmt.Sprint("PXEClient:Arch:", i)
		if got := j.intern(s); got != s {
			t.Fatalf("intern(%q) = %q", s, got)
		}
		if n := len(j.interned); n > maxInterned {
			t.Fatalf("%d strings interned after %d, bound %d", n, i+1, maxInterned)
		}
	}
}
