package httpd

import (
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/pxeproxy/pxeproxy/bootfs"
)

// Transfer results passed to Watch.End: the boot journal's words.
const (
	ResultOK       = "ok"
	ResultNotFound = "not-found"
	ResultAborted  = "aborted" // the client closed the connection before the end
	ResultError    = "error"   // refused, read error, a status other than 200/206/304
)

// Start describes a boot file download as it begins, for Config.OnStart.
type Start struct {
	Peer netip.AddrPort
	// File is the request's path.
	File string
	// Size is the file's size; 0 when it was not found.
	Size int64
}

// Watch follows one download as it runs (the boot journal's live view).
type Watch interface {
	// Progress is called as the body goes out (at least every
	// progressChunk bytes) with the body bytes sent so far; retransmits
	// is always 0. It must cost no more than a few atomic stores.
	Progress(bytes int64, retransmits int)
	// End is called once, when the response is over, with a Result
	// constant and a short detail (the error; empty on success).
	End(result, detail string)
}

// progressChunk is how much of a file one sendfile call sends when a Watch
// follows the download, so its progress moves during a big image. With 4 MiB
// the journeys page showed an 8 MB kernel at 0% and 51% only (e2e scenario
// browser); 1 MiB still leaves each sendfile call a large piece.
const progressChunk = 1 << 20

// watch starts following a GET of a boot file through Config.OnStart.
func (s *Server) watch(r *http.Request, size int64) Watch {
	if s.cfg.OnStart == nil || r.Method != http.MethodGet {
		return nil
	}
	peer, _ := netip.ParseAddrPort(r.RemoteAddr)
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	return s.cfg.OnStart(Start{Peer: peer, File: r.URL.Path, Size: size})
}

// outcome is how a finished download is reported to Watch.End: refused
// is the file route's error, written the error of the body's writes.
func outcome(status int, refused, written error) (result, detail string) {
	switch {
	case errors.Is(refused, bootfs.ErrNotFound):
		return ResultNotFound, refused.Error()
	case refused != nil:
		return ResultError, refused.Error()
	case written != nil:
		return ResultAborted, written.Error()
	case status == http.StatusOK || status == http.StatusPartialContent || status == http.StatusNotModified:
		return ResultOK, ""
	}
	return ResultError, "status " + strconv.Itoa(status)
}

// readFromChunks sends src through rf in progressChunk pieces, reporting
// progress after each. A *io.LimitedReader (what http.ServeContent passes)
// is cut into smaller ones over the same file, so each piece still goes out
// by sendfile.
func (w *countingWriter) readFromChunks(rf io.ReaderFrom, src io.Reader) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	if !ok {
		n, err := rf.ReadFrom(src)
		w.progress(n)
		return n, err
	}
	var total int64
	for lr.N > 0 {
		piece := &io.LimitedReader{R: lr.R, N: min(lr.N, progressChunk)}
		n, err := rf.ReadFrom(piece)
		lr.N -= n
		total += n
		w.progress(n)
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, nil
}

// progress counts n more body bytes and reports them to the Watch.
func (w *countingWriter) progress(n int64) {
	w.bytes += n
	if w.watch != nil {
		w.watch.Progress(w.bytes, 0)
	}
}
