package logfmt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // zones for the time cases wherever the test runs
)

// pair holds slog's TextHandler and ours, built by the same chain of
// WithAttrs/WithGroup calls, each writing to its own buffer.
type pair struct {
	want, got   slog.Handler
	wbuf, gbuf  *bytes.Buffer
	writes      *int // Write calls made by got
	description string
}

// countingWriter counts Write calls, to hold Handle to one per record.
type countingWriter struct {
	buf *bytes.Buffer
	n   *int
}

func (c countingWriter) Write(p []byte) (int, error) {
	*c.n++
	return c.buf.Write(p)
}

func newPair(opts *slog.HandlerOptions) *pair {
	p := &pair{wbuf: new(bytes.Buffer), gbuf: new(bytes.Buffer), writes: new(int), description: "handler"}
	p.want = slog.NewTextHandler(p.wbuf, opts)
	p.got = NewTextHandler(countingWriter{p.gbuf, p.writes}, opts)
	return p
}

func (p *pair) withAttrs(as ...slog.Attr) *pair {
	q := *p
	// Each handler owns the slice it is given, so each gets its own copy.
	q.want, q.got = p.want.WithAttrs(slices.Clone(as)), p.got.WithAttrs(slices.Clone(as))
	q.description = fmt.Sprintf("%s.WithAttrs(%v)", p.description, as)
	return &q
}

func (p *pair) withGroup(name string) *pair {
	q := *p
	q.want, q.got = p.want.WithGroup(name), p.got.WithGroup(name)
	q.description = fmt.Sprintf("%s.WithGroup(%q)", p.description, name)
	return &q
}

// check handles r with both handlers and fails on any difference.
func (p *pair) check(t *testing.T, r slog.Record) {
	t.Helper()
	p.wbuf.Reset()
	p.gbuf.Reset()
	*p.writes = 0
	ctx := context.Background()
	if w, g := p.want.Enabled(ctx, r.Level), p.got.Enabled(ctx, r.Level); w != g {
		t.Fatalf("%s: Enabled(%v) = %v, slog says %v", p.description, r.Level, g, w)
	}
	werr := p.want.Handle(ctx, r.Clone())
	gerr := p.got.Handle(ctx, r.Clone())
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s: Handle error %v, slog's %v", p.description, gerr, werr)
	}
	if w, g := p.wbuf.String(), p.gbuf.String(); w != g {
		t.Fatalf("%s: record %v\n got: %q\nwant: %q", p.description, recordString(r), g, w)
	}
	if *p.writes != 1 {
		t.Fatalf("%s: %d Write calls for one record", p.description, *p.writes)
	}
}

func recordString(r slog.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{%v %v %q", r.Time, r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %q:%#v", a.Key, a.Value.Any())
		return true
	})
	return b.String() + "}"
}

// Values that run user code through TextMarshaler, error, Stringer,
// Formatter and LogValuer, including ones that fail or panic.
type (
	textM     struct{ s string }
	textErr   struct{}
	ptrTextM  struct{ s string }
	panicText struct{}
	myErr     struct{ s string }
	panicErr  struct{}
	fmtErr    struct{}
	valStr    struct{ s string }
	named     []byte
	namedByte byte
	lv        struct{ v slog.Value }
	lvPtr     struct{ next *lvPtr }
	point     struct {
		X, Y int
		Name string
	}
)

func (t textM) MarshalText() ([]byte, error)     { return []byte(t.s), nil }
func (textErr) MarshalText() ([]byte, error)     { return nil, errors.New("no text") }
func (p *ptrTextM) MarshalText() ([]byte, error) { return []byte(p.s), nil }
func (panicText) MarshalText() ([]byte, error)   { panic("text boom") }
func (e *myErr) Error() string                   { return e.s }
func (panicErr) Error() string                   { panic("error boom") }
func (fmtErr) Error() string                     { return "plain" }
func (fmtErr) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "formatted %c plus=%v", verb, f.Flag('+'))
}
func (v valStr) String() string       { return "str " + v.s }
func (l lv) LogValue() slog.Value     { return l.v }
func (l *lvPtr) LogValue() slog.Value { return slog.AnyValue(l.next) }
func (p point) String() string        { return fmt.Sprintf("(%d,%d)", p.X, p.Y) }

// oddStrings are keys and values that exercise slog's quoting rules.
var oddStrings = []string{
	"", "a", "pxe reply", "a b", "a=b", "=", `a"b`, `"`, `a\b`, `\`, "ü", "日本語", "\x00", "\t", "\n", "a\r\nb",
	"\x1f", "\x7f", "\xff", "a\xffb", "\xe2\x82", "\ufffd", "\u00a0", "\u2028", "\u200b", "\U0001F600", "<nil>", "-",
	"a.b", "{}", "[]", "#", "%s", "0x1a2b3c4d", "52:54:00:12:34:56", "255.255.255.255:68", strings.Repeat("long ", 40),
}

var (
	fixed   = time.Date(2024, 3, 10, 12, 34, 56, 789123456, time.UTC)
	offsetZ = time.FixedZone("", 5*3600+30*60)
	oddZ    = time.FixedZone("LMT", -(4*3600 + 56*60 + 2)) // seconds in the offset
)

func mustLoad(t testing.TB, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// valueAttrs is one attr per value kind and odd case, all under key "k".
func valueAttrs(t testing.TB) []slog.Attr {
	ny := mustLoad(t, "America/New_York")
	var as []slog.Attr
	for _, s := range oddStrings {
		as = append(as, slog.String("k", s), slog.Int(s, 1), slog.Any("k", textM{s}), slog.Any("k", []byte(s)),
			slog.Any("k", errors.New(s)), slog.Any("k", valStr{s}))
	}
	for _, n := range []int64{0, 1, -1, 67, math.MaxInt64, math.MinInt64} {
		as = append(as, slog.Int64("k", n), slog.Duration("k", time.Duration(n)))
	}
	for _, n := range []uint64{0, 7, math.MaxUint64} {
		as = append(as, slog.Uint64("k", n))
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1.5, -2.25, 1e21, 1e20, 1e-7, 123456789, math.NaN(), math.Inf(1),
		math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64, 1.0 / 3} {
		as = append(as, slog.Float64("k", f))
	}
	for _, d := range []time.Duration{1, 999, 1000, 1500, time.Millisecond, 1500 * time.Microsecond, time.Second,
		61 * time.Second, 3601500 * time.Millisecond, -time.Nanosecond, -90 * time.Minute, 1234567890123} {
		as = append(as, slog.Duration("k", d))
	}
	as = append(as, slog.Bool("k", true), slog.Bool("k", false))
	for _, tm := range []time.Time{{}, fixed, fixed.In(offsetZ), fixed.In(oddZ), fixed.In(ny), fixed.In(time.Local),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 1e6, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 1e6, time.UTC), time.Unix(0, 0), time.Now()} {
		as = append(as, slog.Time("k", tm), slog.Any("k", tm))
	}
	var nilTM *ptrTextM
	var nilErr *myErr
	var nilStr *valStr
	var nilPoint *point
	as = append(as,
		slog.Any("k", nil), slog.Any("k", []byte(nil)), slog.Any("k", named("a b")), slog.Any("k", []namedByte{'x', 'y'}),
		slog.Any("k", textErr{}), slog.Any("k", nilTM), slog.Any("k", &ptrTextM{"p"}), slog.Any("k", panicText{}),
		slog.Any("k", nilErr), slog.Any("k", &myErr{"my err"}), slog.Any("k", panicErr{}), slog.Any("k", fmtErr{}),
		slog.Any("k", fmt.Errorf("wrap: %w", &myErr{"inner"})), slog.Any("k", error(nil)),
		slog.Any("k", nilStr), slog.Any("k", nilPoint), slog.Any("k", point{1, 2, "a b"}), slog.Any("k", &point{3, 4, "c"}),
		slog.Any("k", struct {
			A int
			B string
		}{1, "x y"}),
		slog.Any("k", map[string]int{"a": 1}), slog.Any("k", []int{1, 2}), slog.Any("k", []string{"a b"}),
		slog.Any("k", reflect.ValueOf(42)), slog.Any("k", reflect.Value{}), slog.Any("k", complex(1, -2)),
		slog.Any("k", uintptr(9)), slog.Any("k", int8(-3)), slog.Any("k", float32(0.1)), slog.Any("k", time.March),
		slog.Any("k", slog.LevelWarn+2), slog.Any("k", net.ParseIP("192.168.1.10")), slog.Any("k", net.IP(nil)),
		slog.Any("k", &net.UDPAddr{IP: net.IPv4bcast, Port: 68}), slog.Any("k", net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}),
		slog.Any("k", &slog.Source{File: "a b.go", Line: 3}), slog.Any("k", &slog.Source{Function: "f"}),
		slog.Any("k", &slog.Source{}), slog.Any("k", (*slog.Source)(nil)),
		slog.Any("k", lv{slog.StringValue("resolved")}), slog.Any("k", lv{slog.AnyValue(lv{slog.IntValue(2)})}),
		slog.Any("k", lv{slog.GroupValue(slog.Int("a", 1), slog.String("b", "c d"))}), slog.Any("k", lv{slog.GroupValue()}),
		slog.Any("k", lv{}), slog.Any("", lv{}),
		slog.Any("k", func() *lvPtr { l := &lvPtr{}; l.next = l; return l }()), // resolves forever: slog's error
		slog.Attr{}, slog.Any("", nil), slog.String("", ""), slog.String("", "x"), slog.Int("", 0),
		slog.Group("g", slog.Int("a", 1), slog.String("b", "x y")),
		slog.Group("", slog.Int("a", 1), slog.Int("b", 2)),
		slog.Group("g", slog.Group("h", slog.Int("a", 1)), slog.Int("b", 2)),
		slog.Group("g", slog.Group("", slog.Int("a", 1))),
		slog.Group("g", slog.Attr{}),
		slog.Group("g", slog.Attr{}, slog.Int("a", 1)),
		slog.Group("g", slog.Group("h")),
		slog.Group("a b", slog.Int("c d", 1)),
		slog.Group("g", slog.Int("", 1)),
		slog.Group("", slog.Int("", 1)),
		slog.Group("g", slog.Any("lv", lv{slog.GroupValue(slog.Int("x", 1))})),
		slog.Group("\xff", slog.Int("a", 1)),
		slog.Group("g", slog.Any("", nil), slog.Group("h", slog.Attr{})),
	)
	return as
}

// chains builds the handler pairs: every WithAttrs/WithGroup shape,
// including empty groups, empty attrs and slog's quirks.
func chains() []*pair {
	p := newPair(nil)
	emptyLV := slog.Any("e", lv{slog.GroupValue()})
	return []*pair{
		p,
		newPair(&slog.HandlerOptions{Level: slog.LevelDebug}),
		p.withGroup("g"),
		p.withGroup("g").withGroup("h"),
		p.withGroup(""),
		p.withGroup("a b"),
		p.withAttrs(slog.Int("a", 1)),
		p.withAttrs(slog.Int("a", 1)).withGroup("g"),
		p.withGroup("g").withAttrs(slog.Int("a", 1)),
		p.withGroup("g").withAttrs(slog.Int("a", 1)).withGroup("h").withAttrs(slog.String("b", "x y")),
		p.withGroup("g").withAttrs(slog.Int("a", 1)).withGroup("h"),
		p.withAttrs(),
		p.withAttrs(slog.Group("e")),
		p.withAttrs(slog.Attr{}),
		p.withGroup("g").withAttrs(slog.Attr{}),
		p.withGroup("g").withAttrs(slog.Attr{}).withAttrs(slog.Int("a", 1)),
		p.withAttrs(emptyLV),
		p.withGroup("g").withAttrs(emptyLV).withGroup("h"),
		p.withGroup("a b").withAttrs(slog.Int("k", 1)),
		p.withGroup("g").withAttrs(slog.Group("x", slog.Attr{})),
		p.withAttrs(slog.Group("x", slog.Attr{}), slog.Int("a", 1)),
		p.withAttrs(slog.String("", "v"), slog.Int("n", 2)).withAttrs(slog.Group("", slog.Int("i", 3))),
		p.withAttrs(slog.Any("lv", lv{slog.StringValue("v")}), slog.Duration("d", time.Second)),
		p.withGroup("g").withGroup("").withAttrs(slog.Int("a", 1)).withGroup("h").withGroup("i"),
	}
}

var levels = []slog.Level{slog.LevelInfo, slog.LevelDebug, slog.LevelWarn, slog.LevelError, slog.LevelInfo + 2,
	slog.LevelDebug - 4, slog.LevelWarn - 1, slog.LevelError + 100, slog.Level(-100), slog.LevelInfo + 1}

func TestMatchesSlog(t *testing.T) {
	attrs := valueAttrs(t)
	var records []slog.Record
	msgs := []string{"pxe reply", "", "a b\n", "x=y"}
	for i, a := range attrs {
		r := slog.NewRecord(fixed, levels[i%len(levels)], msgs[i%len(msgs)], 0)
		r.AddAttrs(a)
		records = append(records, r)
	}
	many := slog.NewRecord(fixed.In(offsetZ), slog.LevelInfo, "many", 0)
	many.AddAttrs(attrs...) // more than Record keeps inline
	none := slog.NewRecord(time.Time{}, slog.LevelWarn, "no attrs, no time", 0)
	allEmpty := slog.NewRecord(fixed, slog.LevelInfo, "all empty", 0)
	allEmpty.AddAttrs(slog.Attr{}, slog.Any("", nil))
	leak := slog.NewRecord(fixed, slog.LevelInfo, "prefix leak", 0)
	leak.AddAttrs(slog.Group("g", slog.Attr{}), slog.Int("a", 1), slog.Group("h", slog.Int("b", 2)))
	records = append(records, many, none, allEmpty, leak)

	for _, p := range chains() {
		for _, r := range records {
			p.check(t, r)
		}
	}
}

// TestTimes runs record times through both handlers in an order that hits
// the cached second, misses it, and changes only the zone within a second.
func TestTimes(t *testing.T) {
	ny, tokyo := mustLoad(t, "America/New_York"), mustLoad(t, "Asia/Tokyo")
	// A daylight-saving change inside the tested span: the zone offset of
	// New York changes between 06:59:59 and 07:00:00 UTC on 2024-03-10.
	base := time.Date(2024, 3, 10, 6, 59, 58, 0, time.UTC)
	var times []time.Time
	for _, off := range []time.Duration{0, 1, time.Millisecond - 1, time.Millisecond, 500 * time.Millisecond,
		999*time.Millisecond + 999999, time.Second, time.Second + 999*time.Millisecond, 2 * time.Second,
		2*time.Second + 5*time.Millisecond, time.Hour, -time.Nanosecond} {
		tm := base.Add(off)
		for _, loc := range []*time.Location{time.UTC, ny, tokyo, offsetZ, oddZ, time.Local} {
			times = append(times, tm.In(loc), tm.In(loc)) // twice: the second is a cache hit
		}
	}
	times = append(times, time.Now(), time.Now().UTC(), time.Unix(-1, 5e8), time.Unix(-1, 5e8).In(ny),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, ny),
		time.Date(12345, 6, 7, 8, 9, 10, 11e6, tokyo), time.Date(12345, 6, 7, 8, 9, 10, 12e6, tokyo))
	p := newPair(nil)
	for _, tm := range times {
		r := slog.NewRecord(tm, slog.LevelInfo, "t", 0)
		r.AddAttrs(slog.Time("at", tm.Add(time.Millisecond)))
		p.check(t, r)
	}
}

// TestNeedsQuoting holds the quoting table to slog for every single byte
// and for runes around the space and non-printing classes.
func TestNeedsQuoting(t *testing.T) {
	p := newPair(nil)
	var vals []string
	for b := range 256 {
		vals = append(vals, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"b")
	}
	// Every byte at every place of a 17-byte string: needsQuoting reads
	// eight bytes at a time, so each lane and the tail are covered.
	for b := range 256 {
		for i := range 17 {
			v := []byte(strings.Repeat("a", 17))
			v[i] = byte(b)
			vals = append(vals, string(v))
		}
	}
	for _, r := range []rune{0x85, 0xa0, 0xad, 0x1680, 0x2000, 0x200b, 0x2028, 0x202f, 0x3000, 0xfeff, 0xfffd, 0x10ffff, 0xe000} {
		vals = append(vals, string(r))
	}
	for _, v := range vals {
		r := slog.NewRecord(fixed, slog.LevelInfo, v, 0)
		r.AddAttrs(slog.String(v, v), slog.Group(v, slog.String(v, v)))
		p.check(t, r)
	}
}

// TestLogger goes through slog.Logger, which builds the records itself.
func TestLogger(t *testing.T) {
	var wbuf, gbuf bytes.Buffer
	// The Logger stamps time.Now(); a fixed clock makes the lines comparable.
	want := slog.New(fixedClock{slog.NewTextHandler(&wbuf, nil)})
	got := slog.New(fixedClock{NewTextHandler(&gbuf, nil)})
	for _, l := range []*slog.Logger{want, got} {
		l = l.With("svc", "proxydhcp", "n", 1).WithGroup("req")
		l.Info("pxe reply", "mac", "52:54:00:12:34:56", "err", errors.New("x y"), slog.Group("opt", "a", 1))
		l.Debug("hidden")
		l.Warn("send failed", "bad key", time.Second)
		l.WithGroup("").Error("e", "k", nil)
	}
	if wbuf.String() != gbuf.String() {
		t.Fatalf("got:\n%s\nwant:\n%s", gbuf.String(), wbuf.String())
	}
}

type fixedClock struct{ slog.Handler }

func (f fixedClock) Handle(ctx context.Context, r slog.Record) error {
	r.Time = fixed
	return f.Handler.Handle(ctx, r)
}
func (f fixedClock) WithAttrs(as []slog.Attr) slog.Handler {
	return fixedClock{f.Handler.WithAttrs(as)}
}
func (f fixedClock) WithGroup(name string) slog.Handler { return fixedClock{f.Handler.WithGroup(name)} }

func TestOptions(t *testing.T) {
	var buf bytes.Buffer
	for name, opts := range map[string]*slog.HandlerOptions{
		"AddSource":   {AddSource: true},
		"ReplaceAttr": {ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr { return a }},
	} {
		if _, ok := NewTextHandler(&buf, opts).(*slog.TextHandler); !ok {
			t.Errorf("%s: want slog's own handler", name)
		}
	}
	var lvl slog.LevelVar
	lvl.Set(slog.LevelWarn)
	h := NewTextHandler(&buf, &slog.HandlerOptions{Level: &lvl})
	ctx := context.Background()
	if h.Enabled(ctx, slog.LevelInfo) || !h.Enabled(ctx, slog.LevelWarn) {
		t.Error("level Warn not honoured")
	}
	lvl.Set(slog.LevelDebug)
	if !h.WithGroup("g").Enabled(ctx, slog.LevelDebug) {
		t.Error("a LevelVar change is not seen")
	}
	if NewTextHandler(&buf, nil).Enabled(ctx, slog.LevelDebug) {
		t.Error("nil options: Debug enabled")
	}
}

// lineWriter is not safe for concurrent use on purpose: the race detector
// flags two Handle calls writing at once.
type lineWriter struct {
	buf    bytes.Buffer
	writes int
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}

func TestConcurrent(t *testing.T) {
	const goroutines, perG = 8, 200
	var gw lineWriter
	var wbuf bytes.Buffer
	root := NewTextHandler(&gw, nil)
	sroot := slog.NewTextHandler(&wbuf, nil)
	// Derived handlers share the root's lock, as slog's do.
	hs := []slog.Handler{root, root.WithAttrs([]slog.Attr{slog.String("svc", "tftp")}), root.WithGroup("g")}
	shs := []slog.Handler{sroot, sroot.WithAttrs([]slog.Attr{slog.String("svc", "tftp")}), sroot.WithGroup("g")}
	record := func(g, i int) slog.Record {
		r := slog.NewRecord(fixed.Add(time.Duration(i)*time.Millisecond), slog.LevelInfo, "pxe reply", 0)
		r.AddAttrs(slog.Int("g", g), slog.Int("i", i), slog.Duration("d", time.Duration(i)*time.Microsecond))
		return r
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				if err := hs[(g+i)%len(hs)].Handle(context.Background(), record(g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for g := range goroutines {
		for i := range perG {
			if err := shs[(g+i)%len(shs)].Handle(context.Background(), record(g, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if gw.writes != goroutines*perG {
		t.Errorf("%d writes for %d records", gw.writes, goroutines*perG)
	}
	got, want := strings.SplitAfter(gw.buf.String(), "\n"), strings.SplitAfter(wbuf.String(), "\n")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("lines differ from slog's: %d lines, want %d", len(got), len(want))
	}
}

// TestNoAllocs holds the common kinds, WithAttrs and WithGroup to zero
// allocations per record (the Record itself is built outside).
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	h := NewTextHandler(discard{}, nil).WithAttrs([]slog.Attr{slog.String("svc", "proxydhcp")}).WithGroup("req")
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "pxe reply", 0)
	r.AddAttrs(slog.String("mac", "52:54:00:12:34:56"), slog.String("odd", "needs quoting"), slog.Int("arch", 7),
		slog.Uint64("u", 9), slog.Bool("b", true), slog.Duration("dur", 1500*time.Microsecond), slog.Float64("f", 0.25),
		slog.Time("t", fixed), slog.Any("err", errors.New("send failed")), slog.Group("g", slog.Int("x", 1)))
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { _ = h.Handle(ctx, r) }); n != 0 {
		t.Errorf("%v allocations per record, want 0", n)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
