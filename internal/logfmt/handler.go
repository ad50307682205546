// Package logfmt is a log/slog handler that writes exactly the bytes
// slog.TextHandler writes, for less CPU.
//
// pxeproxy logs one Info line per answered client; under a burst of PXE
// clients slog.TextHandler's per-line cost (pooled state with a deferred
// recover per value, RFC 3339 formatting with a zone look-up per line,
// Duration.String allocations) is a visible share of the CPU.
//
// Invariant: for every record, Handler produces the same bytes as
// slog.NewTextHandler with the same options and the same WithAttrs/WithGroup
// chain, including slog's quirks (a group whose attrs are all empty leaves
// its name in the prefix of later keys; WithGroup("") on the handler adds an
// empty group). The differential and fuzz tests hold it to that. The one
// known difference is a LogValuer that panics: slog writes a stack trace of
// its own call frames, which name the handler's functions.
package logfmt

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
)

// Handler is a slog.Handler writing slog.TextHandler's format. The zero
// value is not usable; use NewTextHandler.
type Handler struct {
	w     io.Writer
	mu    *sync.Mutex  // shared by all handlers derived from one NewTextHandler, as in slog
	level slog.Leveler // nil means Info

	// preformatted holds the attrs of WithAttrs calls, already formatted,
	// so that a record pays only a copy for them.
	preformatted []byte
	// groupPrefix is the key prefix ("g.h.") of the groups opened before
	// the last WithAttrs call that added something.
	groupPrefix string
	groups      []string // every WithGroup name, in order
	nOpenGroups int      // how many of groups are already in groupPrefix
}

// NewTextHandler returns a handler that writes records to w as
// slog.NewTextHandler(w, opts) would, honouring opts.Level (nil means Info).
// pxeproxy never sets opts.AddSource or opts.ReplaceAttr, so this handler
// does not implement them: with either set it returns slog's own
// TextHandler.
func NewTextHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	if opts.AddSource || opts.ReplaceAttr != nil {
		return slog.NewTextHandler(w, opts)
	}
	return &Handler{w: w, mu: &sync.Mutex{}, level: opts.Level}
}

// Enabled reports whether level is at or above the handler's minimum.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	minLevel := slog.LevelInfo
	if h.level != nil {
		minLevel = h.level.Level()
	}
	return level >= minLevel
}

// Handle formats r as one line and writes it with a single Write call.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	s := getState()
	defer s.free()
	if !r.Time.IsZero() {
		s.buf = append(s.buf, "time="...)
		s.buf = appendTime(s.buf, r.Time, true)
		s.buf = append(s.buf, ' ')
	}
	s.buf = append(s.buf, "level="...)
	s.buf = appendLevel(s.buf, r.Level)
	s.buf = append(s.buf, " msg="...)
	s.buf = appendString(s.buf, r.Message)
	s.sep = true

	if len(h.preformatted) > 0 {
		s.buf = append(s.buf, ' ')
		s.buf = append(s.buf, h.preformatted...)
	}
	// Groups from WithGroup are opened only when the record has attrs, and
	// dropped again when all of them turn out empty.
	if r.NumAttrs() > 0 {
		s.prefix = append(s.prefix, h.groupPrefix...)
		pos := len(s.buf)
		s.openGroups(h)
		empty := true
		r.Attrs(func(a slog.Attr) bool {
			if s.appendAttr(a) {
				empty = false
			}
			return true
		})
		if empty {
			s.buf = s.buf[:pos]
		}
	}
	s.buf = append(s.buf, '\n')
	return h.write(s.buf)
}

func (h *Handler) write(b []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(b)
	return err
}

// clone copies h with clipped slices, so that appending to the clone's
// never writes into h's arrays.
func (h *Handler) clone() *Handler {
	h2 := *h
	h2.preformatted = slices.Clip(h.preformatted)
	h2.groups = slices.Clip(h.groups)
	return &h2
}

// WithAttrs returns a handler whose records carry attrs after h's own; they
// are formatted once, here.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if countEmptyGroups(attrs) == len(attrs) {
		return h
	}
	h2 := h.clone()
	s := &state{buf: h2.preformatted, sep: len(h2.preformatted) > 0}
	s.prefix = append(s.prefix, h.groupPrefix...)
	pos := len(s.buf)
	s.openGroups(h2)
	if !s.appendAttrs(attrs) {
		s.buf = s.buf[:pos]
	} else {
		h2.groupPrefix = string(s.prefix)
		h2.nOpenGroups = len(h2.groups)
	}
	h2.preformatted = s.buf
	return h2
}

// WithGroup returns a handler that qualifies later keys with name. Like
// slog.TextHandler (unlike slog.Logger.WithGroup) it does so even for an
// empty name.
func (h *Handler) WithGroup(name string) slog.Handler {
	h2 := h.clone()
	h2.groups = append(h2.groups, name)
	return h2
}

func countEmptyGroups(as []slog.Attr) int {
	n := 0
	for _, a := range as {
		if isEmptyGroup(a.Value) {
			n++
		}
	}
	return n
}

func isEmptyGroup(v slog.Value) bool {
	return v.Kind() == slog.KindGroup && len(v.Group()) == 0
}

// state is the formatting state of one record (or one WithAttrs call).
type state struct {
	buf    []byte
	prefix []byte // key prefix of the open groups, "g.h."
	sep    bool   // a space goes before the next key
}

var statePool = sync.Pool{New: func() any {
	return &state{buf: make([]byte, 0, 1024), prefix: make([]byte, 0, 64)}
}}

func getState() *state { return statePool.Get().(*state) }

// maxPooled keeps one huge record from pinning its buffer in the pool, as
// slog's own buffer pool does.
const maxPooled = 16 << 10

func (s *state) free() {
	if cap(s.buf) > maxPooled {
		return
	}
	s.buf, s.prefix, s.sep = s.buf[:0], s.prefix[:0], false
	statePool.Put(s)
}

func (s *state) openGroups(h *Handler) {
	for _, name := range h.groups[h.nOpenGroups:] {
		s.prefix = append(s.prefix, name...)
		s.prefix = append(s.prefix, '.')
	}
}

func (s *state) appendAttrs(as []slog.Attr) bool {
	nonEmpty := false
	for _, a := range as {
		if s.appendAttr(a) {
			nonEmpty = true
		}
	}
	return nonEmpty
}

// appendAttr mirrors slog's handleState.appendAttr without ReplaceAttr and
// reports whether the attr counts as appended, which decides whether the
// groups around it are written.
func (s *state) appendAttr(a slog.Attr) bool {
	k := a.Value.Kind()
	if k == slog.KindLogValuer {
		a.Value = a.Value.Resolve()
		k = a.Value.Kind()
	}
	switch k {
	case slog.KindAny:
		x := a.Value.Any()
		if x == nil && a.Key == "" {
			return false // Attr{} and Any("", nil) are elided
		}
		if src, ok := x.(*slog.Source); ok {
			if src == nil || *src == (slog.Source{}) {
				return false
			}
			s.appendKey(a.Key)
			s.buf = appendString(s.buf, src.File+":"+strconv.Itoa(src.Line))
			return true
		}
		s.appendKey(a.Key)
		s.appendAny(x)
		return true
	case slog.KindGroup:
		return s.appendGroup(a.Key, a.Value.Group())
	}
	s.appendKey(a.Key)
	s.appendValue(a.Value, k)
	return true
}

// appendGroup mirrors slog: an empty group counts as appended though it
// writes nothing, and a group whose attrs are all empty is removed from the
// output but, unlike a written one, not from the key prefix.
func (s *state) appendGroup(key string, attrs []slog.Attr) bool {
	if len(attrs) == 0 {
		return true
	}
	pos := len(s.buf)
	if key != "" {
		s.prefix = append(s.prefix, key...)
		s.prefix = append(s.prefix, '.')
	}
	if !s.appendAttrs(attrs) {
		s.buf = s.buf[:pos]
		return false
	}
	if key != "" {
		s.prefix = s.prefix[:len(s.prefix)-len(key)-1]
	}
	s.sep = true
	return true
}

func (s *state) appendKey(key string) {
	if s.sep {
		s.buf = append(s.buf, ' ')
	}
	if len(s.prefix) > 0 {
		s.buf = appendTwoStrings(s.buf, s.prefix, key)
	} else {
		s.buf = appendString(s.buf, key)
	}
	s.buf = append(s.buf, '=')
	s.sep = true
}
