package tftpd

import (
	"errors"
	"fmt"
	"testing"
)

func TestFailure(t *testing.T) {
	for name, c := range map[string]struct {
		st   Stats
		want string
	}{
		"ok":        {Stats{Bytes: 9, Retransmits: 2, BlockSize: 1468, WindowSize: 4}, ""},
		"probe":     {Stats{Probe: true, BlockSize: 1468}, ""},
		"not found": {Stats{Err: fmt.Errorf("open: %w", ErrNotFound)}, FailNotFound},
		"access":    {Stats{Err: fmt.Errorf("write request refused: %w", ErrAccess)}, FailAccess},
		"busy":      {Stats{Err: ErrBusy}, FailBusy},
		"other":     {Stats{Bytes: 5, Err: errors.New("timed out")}, FailOther},
	} {
		if got := c.st.Failure(); got != c.want {
			t.Errorf("%s: Failure = %q, want %q", name, got, c.want)
		}
	}
}
