package logfmt

import (
	"encoding"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// appendValue mirrors slog's appendTextValue for the kinds that run no
// user code (appendAttr takes Any, Group and LogValuer).
func (s *state) appendValue(v slog.Value, k slog.Kind) {
	switch k {
	case slog.KindString:
		s.buf = appendString(s.buf, v.String())
	case slog.KindInt64:
		s.buf = strconv.AppendInt(s.buf, v.Int64(), 10)
	case slog.KindUint64:
		s.buf = strconv.AppendUint(s.buf, v.Uint64(), 10)
	case slog.KindFloat64:
		s.buf = strconv.AppendFloat(s.buf, v.Float64(), 'g', -1, 64)
	case slog.KindBool:
		s.buf = strconv.AppendBool(s.buf, v.Bool())
	case slog.KindDuration:
		s.buf = appendDuration(s.buf, v.Duration())
	case slog.KindTime:
		s.buf = appendTime(s.buf, v.Time(), false)
	default:
		// Not reached; slog's fallback for a kind it does not know is fmt's.
		s.buf = fmt.Append(s.buf, v.Any())
	}
}

// appendAny mirrors slog's KindAny case and its panic handling: a method
// that panics on a nil pointer prints <nil>, any other panic !PANIC: ....
func (s *state) appendAny(x any) {
	defer func() {
		if r := recover(); r != nil {
			if v := reflect.ValueOf(x); v.Kind() == reflect.Pointer && v.IsNil() {
				s.buf = appendString(s.buf, "<nil>")
				return
			}
			s.buf = appendString(s.buf, fmt.Sprintf("!PANIC: %v", r))
		}
	}()
	if tm, ok := x.(encoding.TextMarshaler); ok {
		data, err := tm.MarshalText()
		if err != nil {
			s.buf = appendString(s.buf, fmt.Sprintf("!ERROR:%v", err))
			return
		}
		s.buf = appendString(s.buf, string(data))
		return
	}
	if bs, ok := byteSlice(x); ok {
		s.buf = strconv.AppendQuote(s.buf, string(bs))
		return
	}
	if str, ok := methodString(x); ok {
		s.buf = appendString(s.buf, str)
		return
	}
	s.buf = appendString(s.buf, fmt.Sprintf("%+v", x))
}

// methodString returns what fmt's %+v prints for a value whose Error or
// String method decides it, without fmt's allocations; the err attr of
// every Warn line is such a value. It reports false where fmt does more:
// a Formatter, a reflect.Value (printed as the value it holds), or a method
// that panics (fmt's own message for that is left to fmt, which calls the
// method a second time).
func methodString(x any) (str string, ok bool) {
	defer func() {
		if recover() != nil {
			str, ok = "", false
		}
	}()
	switch v := x.(type) {
	case reflect.Value, fmt.Formatter:
		return "", false
	case error:
		return v.Error(), true
	case fmt.Stringer:
		return v.String(), true
	}
	return "", false
}

// byteSlice is slog's: a value whose underlying type is []byte, with
// possibly named slice and element types, as Printf's %s accepts.
func byteSlice(a any) ([]byte, bool) {
	if bs, ok := a.([]byte); ok {
		return bs, true
	}
	t := reflect.TypeOf(a)
	if t != nil && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		return reflect.ValueOf(a).Bytes(), true
	}
	return nil, false
}

func appendLevel(b []byte, l slog.Level) []byte {
	// The four named levels without Level.String's closure and concatenation.
	switch l {
	case slog.LevelDebug:
		return append(b, "DEBUG"...)
	case slog.LevelInfo:
		return append(b, "INFO"...)
	case slog.LevelWarn:
		return append(b, "WARN"...)
	case slog.LevelError:
		return append(b, "ERROR"...)
	}
	return appendString(b, l.String())
}

// quoteByte classifies bytes for needsQuoting: 1 for the ASCII bytes that
// make slog quote a string (control characters, space, '"' and '='; slog
// spells this as JSON's safeSet minus space and '=', with backslash exempt,
// and DEL not quoted), 2 for the bytes that start or continue a multi-byte
// rune, which need a rune decode.
var quoteByte = func() (t [256]uint8) {
	for b := range 0x20 {
		t[b] = 1
	}
	t[' '], t['"'], t['='] = 1, 1, 1
	for b := utf8.RuneSelf; b < 256; b++ {
		t[b] = 2
	}
	return t
}()

// needsQuoting is slog's rule for text keys and values.
func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	i := 0
	// Eight plain ASCII bytes at a time; a chunk with anything else is
	// looked at byte by byte below.
	for ; i+8 <= len(s); i += 8 {
		if !plain8(load64(s[i : i+8])) {
			break
		}
	}
	for i < len(s) {
		switch quoteByte[s[i]] {
		case 0:
			i++
			continue
		case 1:
			return true
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 reports whether none of the eight bytes of x is a control
// character, space, '"', '=' or non-ASCII. Each test is the classic
// "some byte less than n" bit trick, exact for the whole word's answer.
func plain8(x uint64) bool {
	lessThan := func(x, n uint64) uint64 { return (x - n*ones) & ^x & highs }
	return x&highs == 0 && lessThan(x, 0x21)|lessThan(x^('"'*ones), 1)|lessThan(x^('='*ones), 1) == 0
}

func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func appendString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// appendTwoStrings appends the key prefix+key as slog does: each part is
// tested on its own (so an empty key is quoted even after a prefix), and
// the pair is quoted as one string.
func appendTwoStrings(b, prefix []byte, key string) []byte {
	// A view, not a copy: needsQuoting does not keep it and prefix does not
	// change meanwhile.
	p := unsafe.String(unsafe.SliceData(prefix), len(prefix))
	if !needsQuoting(p) && !needsQuoting(key) {
		b = append(b, prefix...)
		return append(b, key...)
	}
	return strconv.AppendQuote(b, string(prefix)+key)
}

// appendDuration appends d.String() without allocating the string; the
// digits are time.Duration.format's.
func appendDuration(b []byte, d time.Duration) []byte {
	var buf [32]byte
	w := len(buf)
	u := uint64(d)
	neg := d < 0
	if neg {
		u = -u
	}
	if u < uint64(time.Second) {
		// Below a second the unit shrinks so the leading digit is non-zero.
		var prec int
		w--
		buf[w] = 's'
		w--
		switch {
		case u == 0:
			buf[w] = '0'
			return append(b, buf[w:]...)
		case u < uint64(time.Microsecond):
			prec = 0
			buf[w] = 'n'
		case u < uint64(time.Millisecond):
			prec = 3
			w-- // U+00B5 'µ' is two bytes
			copy(buf[w:], "µ")
		default:
			prec = 6
			buf[w] = 'm'
		}
		w, u = fmtFrac(buf[:w], u, prec)
		w = fmtInt(buf[:w], u)
	} else {
		w--
		buf[w] = 's'
		w, u = fmtFrac(buf[:w], u, 9)
		w = fmtInt(buf[:w], u%60)
		u /= 60
		if u > 0 {
			w--
			buf[w] = 'm'
			w = fmtInt(buf[:w], u%60)
			u /= 60
			if u > 0 {
				w--
				buf[w] = 'h'
				w = fmtInt(buf[:w], u)
			}
		}
	}
	if neg {
		w--
		buf[w] = '-'
	}
	return append(b, buf[w:]...)
}

// fmtFrac writes v/10**prec's fraction (".125", nothing when zero) at the
// tail of buf and returns where it starts and v/10**prec.
func fmtFrac(buf []byte, v uint64, prec int) (nw int, nv uint64) {
	w := len(buf)
	print := false
	for range prec {
		digit := v % 10
		print = print || digit != 0
		if print {
			w--
			buf[w] = byte(digit) + '0'
		}
		v /= 10
	}
	if print {
		w--
		buf[w] = '.'
	}
	return w, v
}

// fmtInt writes v at the tail of buf and returns where it starts.
func fmtInt(buf []byte, v uint64) int {
	w := len(buf)
	if v == 0 {
		w--
		buf[w] = '0'
		return w
	}
	for v > 0 {
		w--
		buf[w] = byte(v%10) + '0'
		v /= 10
	}
	return w
}

// headLen is the length of slog's time value up to the milliseconds.
const headLen = len("2006-01-02T15:04:05.")

// second is the formatted form of one second in one location: everything
// of slog's time value except the milliseconds. The date, clock and zone
// offset depend only on the Unix second and the location, so records
// within the same second reuse them.
type second struct {
	unix int64
	loc  *time.Location
	head [headLen]byte
	zone string // "Z" or "+01:00"
}

// lastSecond is shared by all handlers; under a burst nearly every record
// falls in the second of the record before it. Only record times replace
// it (a miss allocates one second): a time attr in another second would
// otherwise evict it on every record.
var lastSecond atomic.Pointer[second]

// appendTime appends t as slog's text handler does (RFC 3339, milliseconds).
// remember makes t's second the cached one.
func appendTime(b []byte, t time.Time, remember bool) []byte {
	unix, loc := t.Unix(), t.Location()
	if c := lastSecond.Load(); c != nil && c.unix == unix && c.loc == loc {
		ms := t.Nanosecond() / 1e6
		b = append(b, c.head[:]...)
		b = append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
		return append(b, c.zone...)
	}
	n := len(b)
	b = appendRFC3339Millis(b, t)
	if !remember {
		return b
	}
	// Only four-digit years have the fixed layout cached above; slog's
	// digit dropping garbles the others, and they go this slow way.
	if out := b[n:]; len(out) > headLen+3 && out[0] != '-' && out[4] == '-' && out[headLen-1] == '.' {
		c := &second{unix: unix, loc: loc, zone: string(out[headLen+3:])}
		copy(c.head[:], out)
		lastSecond.Store(c)
	}
	return b
}

// appendRFC3339Millis is slog's: RFC3339Nano of the time truncated to the
// millisecond plus 100µs (so exactly four fraction digits print), with the
// fourth digit dropped.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b[:n+prefixLen], b[n+prefixLen+1:]...)
	return b
}
