package dhcpserve

import (
	"context"
	"log/slog"
)

// LogIgnored logs a packet not answered at Debug, under the service name
// svc; attrs is only called when Debug is on, so a busy LAN's ordinary
// DHCP costs nothing here.
func LogIgnored(ctx context.Context, log *slog.Logger, svc, reason string, err error, attrs func() []slog.Attr) {
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
