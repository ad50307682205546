package tftpd

import (
	"bytes"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// negotiateCase is a request's options, the server's limits and what
// negotiate must make of them.
type negotiateCase struct {
	lim      limits
	opts     []option
	want     params
	wantOACK []option
}

// checkNegotiate runs each case as a subtest: the plain options and the
// msftwindow extension share one way of checking.
func checkNegotiate(t *testing.T, cases map[string]negotiateCase) {
	t.Helper()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, oack := negotiate(c.opts, c.lim)
			if got != c.want || !reflect.DeepEqual(oack, c.wantOACK) {
				t.Fatalf("negotiate(%v) = %+v, %v; want %+v, %v", c.opts, got, oack, c.want, c.wantOACK)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	eth := limits{blksize: 1468, window: 64, size: 70000}
	checkNegotiate(t, map[string]negotiateCase{
		"none": {lim: eth, want: params{blksize: 512, window: 1}},
		"edk2 probe": {lim: eth, opts: []option{{"tsize", "0"}, {"blksize", "1468"}},
			want:     params{blksize: 1468, window: 1, tsize: true},
			wantOACK: []option{{"tsize", "70000"}, {"blksize", "1468"}}},
		"case kept in echo": {lim: eth, opts: []option{{"BlkSize", "1024"}, {"WINDOWSIZE", "4"}},
			want:     params{blksize: 1024, window: 4},
			wantOACK: []option{{"BlkSize", "1024"}, {"WINDOWSIZE", "4"}}},
		"blksize clamped to mtu": {lim: eth, opts: []option{{"blksize", "65464"}},
			want: params{blksize: 1468, window: 1}, wantOACK: []option{{"blksize", "1468"}}},
		"blksize above rfc max": {lim: limits{blksize: 65504, window: 64}, opts: []option{{"blksize", "65535"}},
			want: params{blksize: 65464, window: 1}, wantOACK: []option{{"blksize", "65464"}}},
		"blksize too small ignored": {lim: eth, opts: []option{{"blksize", "7"}},
			want: params{blksize: 512, window: 1}},
		"blksize minimum": {lim: eth, opts: []option{{"blksize", "8"}},
			want: params{blksize: 8, window: 1}, wantOACK: []option{{"blksize", "8"}}},
		"huge blksize x windowsize": {lim: eth, opts: []option{{"blksize", "99999999999999999999999"}, {"windowsize", "18446744073709551617"}},
			want:     params{blksize: 1468, window: 64},
			wantOACK: []option{{"blksize", "1468"}, {"windowsize", "64"}}},
		"windowsize capped by config": {lim: limits{blksize: 1468, window: 16}, opts: []option{{"windowsize", "64"}},
			want: params{blksize: 512, window: 16}, wantOACK: []option{{"windowsize", "16"}}},
		"windowsize zero ignored": {lim: eth, opts: []option{{"windowsize", "0"}},
			want: params{blksize: 512, window: 1}},
		"nonsense values ignored": {lim: eth, opts: []option{{"blksize", "-1"}, {"windowsize", "4x"}, {"timeout", ""}, {"tsize", " 0"}},
			want: params{blksize: 512, window: 1}},
		"timeout in range": {lim: eth, opts: []option{{"timeout", "3"}},
			want: params{blksize: 512, window: 1, timeout: 3 * time.Second}, wantOACK: []option{{"timeout", "3"}}},
		"timeout out of range": {lim: eth, opts: []option{{"timeout", "0"}, {"timeout", "256"}},
			want: params{blksize: 512, window: 1}},
		"duplicates first wins": {lim: eth, opts: []option{{"blksize", "1024"}, {"BLKSIZE", "512"}, {"blksize", "1400"}},
			want: params{blksize: 1024, window: 1}, wantOACK: []option{{"blksize", "1024"}}},
		"invalid then valid duplicate": {lim: eth, opts: []option{{"windowsize", "x"}, {"windowsize", "8"}},
			want: params{blksize: 512, window: 8}, wantOACK: []option{{"windowsize", "8"}}},
		"unknown ignored": {lim: eth, opts: []option{{"msftwindow", "31416"}, {"multicast", ""}, {"blksize", "1468"}},
			want: params{blksize: 1468, window: 1}, wantOACK: []option{{"blksize", "1468"}}},
		"tsize unknown for netascii": {lim: limits{blksize: 1468, window: 64, size: -1}, opts: []option{{"tsize", "0"}},
			want: params{blksize: 512, window: 1}},
		"tsize any client value": {lim: eth, opts: []option{{"tsize", "123"}},
			want: params{blksize: 512, window: 1, tsize: true}, wantOACK: []option{{"tsize", "70000"}}},
		"leading zeros": {lim: eth, opts: []option{{"blksize", "0001024"}},
			want: params{blksize: 1024, window: 1}, wantOACK: []option{{"blksize", "1024"}}},
	})
}

// encodeOpts packs name/value pairs the way they come off the wire, for fuzz seeds.
func FuzzNegotiate(f *testing.F) {
	f.Add("blksize\x001468\x00tsize\x000\x00", 1468, 64)
	f.Add("BLKSIZE\x0099999999999\x00windowsize\x0065535\x00blksize\x008\x00", 65504, 16)
	f.Add("timeout\x00255\x00msftwindow\x0031416\x00windowsize\x00-1\x00", 8, 1)
	f.Add("msftwindow\x0031416\x00windowsize\x004\x00MSFTWINDOW\x0031416\x00", 1468, 64)
	f.Fuzz(func(t *testing.T, raw string, limBlk, limWin int) {
		limBlk = max(minBlksize, min(limBlk, maxBlksize))
		limWin = max(1, min(limWin, maxWindowCap))
		fields := strings.Split(raw, "\x00")
		var opts []option
		for i := 0; i+1 < len(fields); i += 2 {
			opts = append(opts, option{fields[i], fields[i+1]})
		}
		p, oack := negotiate(opts, limits{blksize: limBlk, window: limWin, size: 1 << 33})
		if p.blksize < minBlksize || p.blksize > limBlk && p.blksize != defaultBlksize {
			t.Fatalf("blksize %d outside [8, %d]", p.blksize, limBlk)
		}
		if p.window < 1 || p.window > limWin {
			t.Fatalf("window %d outside [1, %d]", p.window, limWin)
		}
		if p.varMax != 0 && (p.varMax < 2 || p.varMax > limWin) {
			t.Fatalf("variable window cap %d outside [2, %d]", p.varMax, limWin)
		}
		if p.timeout < 0 || p.timeout > maxTimeout*time.Second {
			t.Fatalf("timeout %v", p.timeout)
		}
		// Bounded product: the transfer allocates about this much per batch.
		if int64(p.blksize)*int64(p.window) > maxBlksize*maxWindowCap {
			t.Fatalf("blksize x window = %d", p.blksize*p.window)
		}
		echoed := map[string]bool{}
		for _, o := range oack {
			lname := strings.ToLower(o.name)
			if echoed[lname] {
				t.Fatalf("option %q echoed twice: %v", o.name, oack)
			}
			echoed[lname] = true
			asked := false
			for _, q := range opts {
				asked = asked || q.name == o.name
			}
			if !asked {
				t.Fatalf("option %q echoed but not asked: %v", o.name, opts)
			}
			if _, err := strconv.ParseUint(o.value, 10, 64); err != nil {
				t.Fatalf("echoed value %q not a number", o.value)
			}
		}
		if granted := echoed["msftwindow"]; granted != (p.varMax != 0) || granted && !echoed["windowsize"] {
			t.Fatalf("msftwindow echoed %v with windowsize echoed %v, variable window cap %d", granted, echoed["windowsize"], p.varMax)
		}
	})
}

func TestParseRequest(t *testing.T) {
	cases := map[string]struct {
		in   string
		want request
		bad  bool
	}{
		"rrq":                 {in: "\x00\x01file\x00octet\x00", want: request{op: opRRQ, file: "file", mode: "octet"}},
		"mode case":           {in: "\x00\x01f\x00NetASCII\x00", want: request{op: opRRQ, file: "f", mode: "netascii"}},
		"wrq":                 {in: "\x00\x02f\x00octet\x00", want: request{op: opWRQ, file: "f", mode: "octet"}},
		"options":             {in: "\x00\x01f\x00octet\x00blksize\x001468\x00tsize\x000\x00", want: request{op: opRRQ, file: "f", mode: "octet", opts: []option{{"blksize", "1468"}, {"tsize", "0"}}}},
		"half option":         {in: "\x00\x01f\x00octet\x00blksize\x00", want: request{op: opRRQ, file: "f", mode: "octet"}},
		"unterminated option": {in: "\x00\x01f\x00octet\x00blksize\x001468", want: request{op: opRRQ, file: "f", mode: "octet"}},
		"no mode":             {in: "\x00\x01file\x00", bad: true},
		"no nul":              {in: "\x00\x01file", bad: true},
		"data":                {in: "\x00\x03\x00\x01", bad: true},
		"short":               {in: "\x00", bad: true},
		"empty":               {in: "", bad: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := parseRequest([]byte(c.in))
			if c.bad {
				if err == nil {
					t.Fatalf("parseRequest(%q) = %+v; want error", c.in, got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("parseRequest(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			}
		})
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("\x00\x01file\x00octet\x00blksize\x001468\x00"))
	f.Add([]byte("\x00\x02\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			return
		}
		// What parses re-encodes to a prefix of the input (mode lower-cased).
		enc := []byte{0, byte(r.op)}
		for _, f := range append([]option{{r.file, r.mode}}, r.opts...) {
			enc = append(append(enc, f.name...), 0)
			enc = append(append(enc, f.value...), 0)
		}
		if len(enc) > len(b) || !bytes.EqualFold(enc, b[:len(enc)]) {
			t.Fatalf("parseRequest(%q) = %+v re-encodes to %q", b, r, enc)
		}
	})
}

func TestMaxBlksizeFromMTU(t *testing.T) {
	var c mtuCache
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		ifindex int
		v6      bool
		want    int
	}{
		"unknown interface: ethernet":     {0, false, 1468},
		"unknown interface: ethernet, v6": {0, true, 1448},
		"loopback: rfc 2348 maximum":      {lo.Index, false, min(lo.MTU-32, maxBlksize)},
		"loopback, v6":                    {lo.Index, true, min(lo.MTU-52, maxBlksize)},
		"missing interface":               {1 << 30, false, 1468},
		"missing interface, v6: 40+8+4":   {1 << 30, true, 1448},
	} {
		if got := c.maxBlksize(tc.ifindex, tc.v6); got != tc.want {
			t.Errorf("%s: maxBlksize(%d, %v) = %d; want %d", name, tc.ifindex, tc.v6, got, tc.want)
		}
	}
}
