// Package watchtest records what a file server tells the watch of each
// transfer it starts (the journal's side of tftpd.Watch and httpd.Watch),
// so that their tests can check start values, progress and the one End.
// It is generic over the server's Start type; it opens nothing.
package watchtest

import (
	"sync"
	"testing"
	"time"
)

// Watch records the calls made on one transfer's watch.
type Watch[S any] struct {
	Start S

	mu   sync.Mutex
	seen Seen
}

// Seen is what a Watch was told so far.
type Seen struct {
	Progress    int   // calls to Progress
	Bytes       int64 // the last bytes reported
	Retransmits int   // the last retransmits reported
	Ends        []string
}

// Progress implements the servers' Watch.
func (w *Watch[S]) Progress(bytes int64, retransmits int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen.Progress++
	w.seen.Bytes, w.seen.Retransmits = bytes, retransmits
}

// End implements the servers' Watch; it records "result: detail".
func (w *Watch[S]) End(result, detail string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen.Ends = append(w.seen.Ends, result+": "+detail)
}

// Seen returns a copy of what w was told so far.
func (w *Watch[S]) Seen() Seen {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.seen
	s.Ends = append([]string(nil), s.Ends...)
	return s
}

// Log hands out one Watch per started transfer, in order.
type Log[S any] struct {
	mu  sync.Mutex
	all []*Watch[S]
}

// Start records a new transfer; a server's OnStart hook calls it.
func (l *Log[S]) Start(s S) *Watch[S] {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := &Watch[S]{Start: s}
	l.all = append(l.all, w)
	return w
}

// All returns the watches handed out so far.
func (l *Log[S]) All() []*Watch[S] {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Watch[S](nil), l.all...)
}

// Last returns the latest watch; the test fails when none was handed out.
func (l *Log[S]) Last(t testing.TB) *Watch[S] {
	t.Helper()
	all := l.All()
	if len(all) == 0 {
		t.Fatal("OnStart never called")
	}
	return all[len(all)-1]
}

// Ended waits for the n-th watch (from 1) to be told its End and returns
// it; the test fails when that does not happen within ten seconds. Servers
// end a transfer after the client has its last byte, so a test that has
// read a whole response must still wait here.
func (l *Log[S]) Ended(t testing.TB, n int) *Watch[S] {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if all := l.All(); len(all) >= n && len(all[n-1].Seen().Ends) > 0 {
			return all[n-1]
		}
	}
	t.Fatalf("transfer %d never ended", n)
	return nil
}
