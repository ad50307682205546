package logfmt

import (
	"errors"
	"log/slog"
	"math"
	"testing"
	"time"
)

// FuzzTextHandler feeds the same fuzzed record, through the same fuzzed
// WithGroup/WithAttrs chain, to slog.TextHandler and to ours; the bytes
// must be equal.
func FuzzTextHandler(f *testing.F) {
	for _, s := range oddStrings {
		f.Add(s, s, "g", int64(len(s)))
	}
	f.Add("k", "v", "", int64(0))
	f.Add("", "", "", int64(-1))
	f.Add("mac", "52:54:00:12:34:56", "req", fixed.UnixNano())
	f.Add("a b", "x=y", "a.b", int64(math.MinInt64))
	f.Add("\xff", "\"", "\t", int64(math.MaxInt64))
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, val, group string, n int64) {
		tm := time.Unix(0, n)
		var empty slog.Attr
		if n%2 == 0 {
			empty = slog.String(val, key) // not empty after all: varies the prefix-leak case
		}
		r := slog.NewRecord(tm.In([]*time.Location{time.UTC, ny, offsetZ, time.Local}[uint64(n)%4]), slog.Level(n%64), val, 0)
		r.AddAttrs(slog.String(key, val), slog.Int64(key, n), slog.Uint64(val, uint64(n)),
			slog.Float64("f", math.Float64frombits(uint64(n))), slog.Float64("g", float64(n)/1000),
			slog.Duration("d", time.Duration(n)), slog.Time("t", tm.In(ny)), slog.Bool(group, n < 0),
			slog.Any("b", []byte(val)), slog.Any("e", errors.New(val)), slog.Any("m", textM{key}),
			slog.Group(group, slog.String(val, key), empty, slog.Group(key, slog.Int(val, 1))),
			slog.Group("", slog.String(key, group)), slog.Any("lv", lv{slog.StringValue(val)}))
		p := newPair(nil)
		for _, q := range []*pair{p, p.withGroup(group), p.withGroup(group).withAttrs(slog.String(key, val), empty),
			p.withAttrs(slog.Group(group, empty)).withGroup(key), p.withGroup(key).withGroup(group).withAttrs(slog.Int64(val, n))} {
			q.check(t, r)
			q.check(t, slog.NewRecord(time.Time{}, slog.LevelInfo, key, 0))
		}
	})
}
