package tftpd

import (
	"errors"

	"github.com/pxeproxy/pxeproxy/bootfs"
)

// ErrNotFound and ErrAccess are the boot folder's, wrapped by Stats.Err of a
// refused request (and ErrAccess by a refused write request).
var (
	ErrNotFound = bootfs.ErrNotFound
	ErrAccess   = bootfs.ErrAccess
)

// Failure words of Stats.Failure: the metrics' reason labels.
const (
	FailNotFound = "not-found"
	FailAccess   = "access-denied"
	FailBusy     = "busy"  // refused: too many transfers at once
	FailOther    = "other" // timeouts, client aborts
)

// Failure is why the transfer failed in one closed word ("" when it did
// not), so that a label never carries the client's words.
func (st Stats) Failure() string {
	switch {
	case st.Err == nil:
		return ""
	case errors.Is(st.Err, ErrNotFound):
		return FailNotFound
	case errors.Is(st.Err, ErrAccess):
		return FailAccess
	case errors.Is(st.Err, ErrBusy):
		return FailBusy
	}
	return FailOther
}
