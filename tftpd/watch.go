package tftpd

import (
	"errors"
	"net"
	"net/netip"
)

// Transfer results passed to Watch.End: the boot journal's words.
const (
	ResultOK       = "ok"
	ResultNotFound = "not-found"
	ResultAborted  = "aborted" // the client sent ERROR; the EDK2 tsize probe is one at byte 0
	ResultTimeout  = "timeout" // no ACK after the retries, or too little progress
	ResultError    = "error"   // refused, busy, read error, shutdown
)

// Start describes a transfer as it begins, for Config.OnStart.
type Start struct {
	Peer netip.AddrPort
	// File is the name as the client asked for it.
	File string
	// Size is the file's size; 0 when it was not found or the request was
	// refused before it was opened.
	Size int64
	// BlockSize and WindowSize are the negotiated values; 0 when refused.
	BlockSize, WindowSize int
}

// Watch follows one transfer as it runs (the boot journal's live view).
type Watch interface {
	// Progress is called on the transfer's goroutine each time the client
	// acknowledges more data, with the bytes acknowledged and the
	// retransmissions so far: it must cost no more than a few atomic
	// stores.
	Progress(bytes int64, retransmits int)
	// End is called once, when the transfer is over, with a Result constant
	// and a short detail (the error; empty on success).
	End(result, detail string)
}

// watch starts following a transfer through Config.OnStart; nil without.
func (s *Server) watch(peer net.Addr, file string, size int64, blksize, window int) Watch {
	if s.cfg.OnStart == nil {
		return nil
	}
	var ap netip.AddrPort
	if ua, ok := peer.(*net.UDPAddr); ok {
		ap = ua.AddrPort()
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return s.cfg.OnStart(Start{Peer: ap, File: file, Size: size, BlockSize: blksize, WindowSize: window})
}

// outcome is how a finished transfer is reported to Watch.End.
func outcome(st Stats) (result, detail string) {
	var te *tftpError
	switch {
	case st.Probe:
		return ResultAborted, "tsize probe"
	case st.Err == nil:
		return ResultOK, ""
	case errors.Is(st.Err, ErrNotFound):
		return ResultNotFound, st.Err.Error()
	case errors.Is(st.Err, errTimeout), errors.Is(st.Err, errTooSlow), errors.Is(st.Err, errEvicted):
		return ResultTimeout, st.Err.Error()
	case errors.As(st.Err, &te):
		return ResultAborted, st.Err.Error()
	}
	return ResultError, st.Err.Error()
}
