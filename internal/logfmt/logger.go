package logfmt

import (
	"io"
	"log/slog"
)

// NewLogger is the program's logger: JSON lines or slog's text format
// (byte for byte, at half its cost per line: one line per PXE answer), from
// level up. Every line about a client is rate-limited per client and
// reason, so a flood from the LAN cannot flood the log (metrics still
// count it all).
func NewLogger(w io.Writer, level slog.Level, json bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if json {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = NewTextHandler(w, opts)
	}
	return slog.New(NewLimiter(h, LimitConfig{}))
}
