package logfmt

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// LimitConfig bounds how many log lines the LAN can make. Zero values mean
// the defaults.
type LimitConfig struct {
	// PerKey is how many lines one client may cause per Period for one
	// message and reason (default 5).
	PerKey int
	// Total is how many client lines all clients together may cause per
	// Period (default 200).
	Total int
	// Period is the window both counts are kept over (default 1 s).
	Period time.Duration
	// Keys is the most (message, reason, client) keys remembered (default
	// 4096); beyond it new keys share the Total budget only.
	Keys int
	// MaxValue is the longest string value written; longer values (a
	// 4,000-byte file name in an RRQ) are cut (default 200 bytes).
	MaxValue int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// clientKeys are the attributes that name the client a line is about. A
// line without one (start-up, shutdown) is never limited.
var clientKeys = [...]string{"mac", "peer", "src", "client"}

// NewLimiter wraps h so that a flood from the LAN cannot flood the log: each
// client gets at most PerKey lines per Period for each message and reason,
// all clients together at most Total, and what was held back is summed up in
// one "suppressed similar lines" line per key and window. Long string values
// are cut. Lines that name no client pass unchanged. Counting in metrics is
// the services' business and is not affected.
func NewLimiter(h slog.Handler, cfg LimitConfig) slog.Handler {
	if cfg.PerKey <= 0 {
		cfg.PerKey = 5
	}
	if cfg.Total <= 0 {
		cfg.Total = 200
	}
	if cfg.Period <= 0 {
		cfg.Period = time.Second
	}
	if cfg.Keys <= 0 {
		cfg.Keys = 4096
	}
	if cfg.MaxValue <= 0 {
		cfg.MaxValue = 200
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &limitHandler{next: h, l: &limiter{cfg: cfg, keys: make(map[string]*window)}}
}

type limiter struct {
	cfg LimitConfig

	mu        sync.Mutex
	keys      map[string]*window
	total     window // all keyed lines in the current period
	lastSweep time.Time
}

// window counts one key's lines in its current period.
type window struct {
	start  time.Time
	n      int
	held   int
	level  slog.Level
	msg    string
	reason string
	client slog.Attr
}

type limitHandler struct {
	next slog.Handler
	l    *limiter
	pre  []slog.Attr // key attributes given by WithAttrs
}

func (h *limitHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *limitHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &limitHandler{next: h.next.WithAttrs(cutAttrs(as, h.l.cfg.MaxValue)), l: h.l, pre: h.pre}
	for _, a := range as {
		if a.Key == "reason" || isClientKey(a.Key) {
			n.pre = append(n.pre[:len(n.pre):len(n.pre)], a)
		}
	}
	return n
}

func (h *limitHandler) WithGroup(name string) slog.Handler {
	return &limitHandler{next: h.next.WithGroup(name), l: h.l, pre: h.pre}
}

func isClientKey(k string) bool {
	for _, c := range clientKeys {
		if k == c {
			return true
		}
	}
	return false
}

func (h *limitHandler) Handle(ctx context.Context, r slog.Record) error {
	var client, reason slog.Attr
	long := false
	scan := func(a slog.Attr) {
		switch {
		case a.Key == "reason":
			reason = a
		case client.Key == "" && isClientKey(a.Key):
			client = a
		}
		if a.Value.Kind() == slog.KindString && len(a.Value.String()) > h.l.cfg.MaxValue {
			long = true
		}
	}
	for _, a := range h.pre {
		scan(a)
	}
	r.Attrs(func(a slog.Attr) bool { scan(a); return true })
	if long {
		r = cutRecord(r, h.l.cfg.MaxValue)
	}
	if client.Key == "" {
		return h.next.Handle(ctx, r)
	}
	pass, summaries := h.l.admit(r, client, reason)
	for _, s := range summaries {
		_ = h.next.Handle(ctx, s)
	}
	if !pass {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// admit decides whether a client's line is written, and returns the summary
// lines of windows that ended.
func (l *limiter) admit(r slog.Record, client, reason slog.Attr) (bool, []slog.Record) {
	now := l.cfg.Now()
	cv := clientValue(client)
	var rv string
	if reason.Key != "" {
		rv = reason.Value.String()
	}
	key := r.Message + "\x00" + rv + "\x00" + client.Key + "=" + cv

	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	if now.Sub(l.lastSweep) >= l.cfg.Period {
		l.lastSweep = now
		out = l.sweep(now, out)
	}
	if now.Sub(l.total.start) >= l.cfg.Period {
		out = l.endTotal(now, out)
	}
	w := l.keys[key]
	if w != nil && now.Sub(w.start) >= l.cfg.Period {
		out = l.end(w, now, out)
	}
	if w == nil && len(l.keys) < l.cfg.Keys {
		w = &window{start: now, msg: r.Message, reason: rv, client: slog.String(client.Key, cv)}
		l.keys[key] = w
	}
	if w != nil && w.n >= l.cfg.PerKey {
		w.held++
		w.level = max(w.level, r.Level)
		return false, out
	}
	if l.total.n >= l.cfg.Total {
		l.total.held++
		return false, out
	}
	l.total.n++
	if w != nil {
		w.n++
	}
	return true, out
}

// sweep ends every window that is over: its summary is written and an idle
// key is forgotten, so the table holds only clients active in the last period.
func (l *limiter) sweep(now time.Time, out []slog.Record) []slog.Record {
	for k, w := range l.keys {
		if now.Sub(w.start) < l.cfg.Period {
			continue
		}
		out = l.end(w, now, out)
		delete(l.keys, k)
	}
	return out
}

// end closes w's window, adding its summary when lines were held back, and
// starts the next one.
func (l *limiter) end(w *window, now time.Time, out []slog.Record) []slog.Record {
	if w.held > 0 {
		s := slog.NewRecord(now, w.level, "suppressed similar lines", 0)
		s.AddAttrs(w.client, slog.String("line", w.msg))
		if w.reason != "" {
			s.AddAttrs(slog.String("reason", w.reason))
		}
		s.AddAttrs(slog.Int("suppressed", w.held), slog.Duration("over", now.Sub(w.start).Round(time.Millisecond)))
		out = append(out, s)
	}
	w.start, w.n, w.held, w.level = now, 0, 0, slog.LevelDebug
	return out
}

func (l *limiter) endTotal(now time.Time, out []slog.Record) []slog.Record {
	if l.total.held > 0 {
		s := slog.NewRecord(now, slog.LevelWarn, "suppressed lines: too many clients logging at once", 0)
		s.AddAttrs(slog.String("svc", "log"), slog.Int("suppressed", l.total.held),
			slog.Duration("over", now.Sub(l.total.start).Round(time.Millisecond)))
		out = append(out, s)
	}
	l.total = window{start: now}
	return out
}

// clientValue is the client's identity in a key: a peer's address without
// its port, so that a host cannot get a new budget per source port.
func clientValue(a slog.Attr) string {
	v := a.Value.String()
	if a.Key == "peer" || a.Key == "src" {
		if ap, err := netip.ParseAddrPort(v); err == nil {
			return ap.Addr().String()
		}
	}
	return v
}

// cutRecord returns r with every string value longer than max cut.
func cutRecord(r slog.Record, max int) slog.Record {
	n := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		n.AddAttrs(cutAttr(a, max))
		return true
	})
	return n
}

func cutAttrs(as []slog.Attr, max int) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = cutAttr(a, max)
	}
	return out
}

func cutAttr(a slog.Attr, max int) slog.Attr {
	if a.Value.Kind() != slog.KindString {
		return a
	}
	s := a.Value.String()
	if len(s) <= max {
		return a
	}
	return slog.String(a.Key, s[:max]+"…("+strconv.Itoa(len(s))+" bytes)")
}
