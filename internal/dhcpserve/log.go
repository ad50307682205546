package dhcpserve

import (
	"context"
	"errors"
	"log/slog"
)

// Ignored counts a packet on port not answered, with onIgnore when set
// (metrics), and logs it at Debug under the service name svc. attrs is
// only called when Debug is on, so a busy LAN's ordinary DHCP costs
// nothing here.
func Ignored(ctx context.Context, log *slog.Logger, onIgnore func(port int, reason string), port int, svc, reason string, err error, attrs func() []slog.Attr) {
	if onIgnore != nil {
		onIgnore(port, reason)
	}
	if !log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	var a []slog.Attr
	if attrs != nil {
		a = attrs()
	}
	a = append(a, slog.String("svc", svc), slog.String("reason", reason))
	if err != nil {
		a = append(a, slog.String("err", err.Error()))
	}
	log.LogAttrs(ctx, slog.LevelDebug, "ignored", a...)
}

// Reason is the short label of the first sentinel in known that err wraps
// (a decision's "why not answered"), or "other".
func Reason(err error, known []error) string {
	for _, e := range known {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "other"
}
