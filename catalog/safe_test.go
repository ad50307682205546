package catalog

import (
	"errors"
	"strings"
	"testing"
)

func TestSafeTitle(t *testing.T) {
	cases := map[string]struct{ in, want string }{
		"plain":          {"Debian 12 installer", "Debian 12 installer"},
		"spaces":         {"  a \t b\n\nc  ", "a b c"},
		"newline":        {"evil\nreboot", "evil reboot"},
		"terminators":    {"a || b && c ; d", "a __ b __ c _ d"},
		"expansion":      {"${reboot}", "__reboot_"},
		"comment":        {"#1 #x", "_1 _x"},
		"quotes":         {`"a" 'b' ` + "`c`", "_a_ _b_ _c_"},
		"backslash":      {`a\b\`, "a_b_"},
		"control":        {"a\x00b\x1b[31mc\x7f", "a_b_[31mc_"},
		"utf8":           {"Übung 日本", "_bung __"},
		"invalid utf8":   {"a\xffb", "a_b"},
		"allowed punct":  {"x-1_2.3,4:5(6)[7]+8=9@a/b!c?d~e", "x-1_2.3,4:5(6)[7]+8=9@a/b!c?d~e"},
		"long":           {strings.Repeat("abcdefghij", 10), strings.Repeat("abcdefghij", 4) + "abcde..."},
		"long at space":  {strings.Repeat("a", 44) + " " + strings.Repeat("b", 20), strings.Repeat("a", 44) + "..."},
		"empty":          {" \n\t", ""},
		"only separator": {"||", "__"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := safeTitle(c.in)
			if got != c.want {
				t.Errorf("safeTitle(%q) = %q, want %q", c.in, got, c.want)
			}
			if len(got) > maxTitle {
				t.Errorf("len %d > %d", len(got), maxTitle)
			}
			if safeTitle(got) != got {
				t.Errorf("not idempotent: %q -> %q", got, safeTitle(got))
			}
		})
	}
}

func TestMakeID(t *testing.T) {
	cases := map[string]struct {
		kind Kind
		path string
		want string
	}{
		"folder":            {KindLinux, "debian-12", "linux-debian-12"},
		"kind folder":       {KindLinux, "linux/debian-12", "linux-debian-12"},
		"kind only":         {KindMemtest, "memtest", "memtest"},
		"root":              {KindWDS, ".", "wds"},
		"case and spaces":   {KindISO, "ISOs/Ubuntu 24.04", "iso-isos-ubuntu-24-04"},
		"odd":               {KindLinux, "linux/${x} || y", "linux-x-y"},
		"nothing readable":  {KindISO, "日本", "iso-" + shortHash("iso/日本")},
		"too long":          {KindISO, strings.Repeat("abc/", 20), "iso-abc-abc-abc-abc-abc-abc-abc-" + shortHash("iso/"+strings.Repeat("abc/", 20))},
		"hash keeps length": {KindLinux, strings.Repeat("x", 100), "linux-xxxxxxxxxxxxxxxxxxxxxxxxx-" + shortHash("linux/"+strings.Repeat("x", 100))},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := makeID(c.kind, c.path)
			if got != c.want {
				t.Errorf("makeID(%q, %q) = %q, want %q", c.kind, c.path, got, c.want)
			}
			if !validID(got) {
				t.Errorf("%q is not a valid id", got)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	table(t, "validID", validID, map[string]bool{
		"local": true, "linux-debian-12": true, "a": true, strings.Repeat("a", maxID): true,
		"": false, "1abc": false, "-a": false, "Linux": false, "a/efi": false, "a b": false,
		"a_b": false, strings.Repeat("a", maxID+1): false, "pxeproxy/menu": false,
	})
}

func TestEncodePath(t *testing.T) {
	table(t, "encodePath", encodePath, map[string]string{
		"linux/debian-12/initrd.gz":   "linux/debian-12/initrd.gz",
		"a b/c":                       "a%20b/c",
		"${x}||;&#?:%\"'\\\n\r\t\x00": "%24%7Bx%7D%7C%7C%3B%26%23%3F%3A%25%22%27%5C%0A%0D%09%00",
		"memtest86+x64.bin":           "memtest86%2Bx64.bin",
		"日":                           "%E6%97%A5",
		"\xff":                        "%FF",
		"~_.-":                        "~_.-",
	})
}

func TestCheckArgs(t *testing.T) {
	ok := map[string]string{
		"console=ttyS0 priority=low":         "console=ttyS0 priority=low",
		"  a   b  \r\nsecond line":           "a b",
		"BOOTIF=01-${netX/mac:hexhyp} --- x": "BOOTIF=01-${netX/mac:hexhyp} --- x",
		"":                                   "",
		"a=|b c=&&d e=x;y f=a#b":             "a=|b c=&&d e=x;y f=a#b",
		"quiet\n|| reboot":                   "quiet",
	}
	for in, want := range ok {
		got, err := checkArgs(in)
		if err != nil || got != want {
			t.Errorf("checkArgs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"quiet || reboot", "quiet && reboot", "quiet ; reboot", "quiet #comment",
		`quiet\`, `a\b`, "a\x01b", "a\x7fb", "café", "a\vb\x1bc", strings.Repeat("a ", maxArgs),
	} {
		if got, err := checkArgs(in); !errors.Is(err, ErrUnsafe) {
			t.Errorf("checkArgs(%q) = %q, %v; want ErrUnsafe", in, got, err)
		}
	}
}

func TestCheckPath(t *testing.T) {
	table(t, "checkPath ok", func(p string) bool { return checkPath(p) == nil }, map[string]bool{
		"a/b.iso": true, "a b/c\nd.iso": true, "x": true,
		"": false, ".": false, "/a": false, "a/../b": false, "a//b": false, `a\b.iso`: false,
		strings.Repeat("a/", maxPath/2) + "b": false,
	})
}

func TestCheckServer(t *testing.T) {
	table(t, "checkServer ok", func(s string) bool { return checkServer(s) == nil }, map[string]bool{
		"192.0.2.50": true, "10.0.0.1": true,
		"": false, "wds.example": false, "::1": false, "192.0.2.50 || reboot": false, "192.0.2.256": false,
	})
}

func TestFormatSize(t *testing.T) {
	table(t, "formatSize", formatSize, map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 145408: "142 KiB", 47395635: "45.2 MiB",
		4 << 30: "4.0 GiB", 5 << 40: "5.0 TiB", 3 << 50: "3072 TiB",
	})
}

// table checks f against cases (input: want); name names f in failures.
func table[In, Out comparable](t *testing.T, name string, f func(In) Out, cases map[In]Out) {
	t.Helper()
	for in, want := range cases {
		if got := f(in); got != want {
			t.Errorf("%s(%#v) = %#v, want %#v", name, in, got, want)
		}
	}
}

func TestOptionsCheck(t *testing.T) {
	good := []Options{
		{}, {Default: "linux-debian-12", HTTPBase: "http://192.0.2.1:8080", TFTPServer: "192.0.2.1"},
		{HTTPBase: "http://" + ServerExpr + ":8080", TFTPServer: ServerExpr},
		{HTTPBase: "https://[2001:db8::1]:8443/boot"},
	}
	for _, o := range good {
		if err := o.Check(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	bad := []Options{
		{Default: "Linux"}, {Default: "a b"}, {HTTPBase: "192.0.2.1:8080"}, {HTTPBase: "http://a b"},
		{HTTPBase: "http://x/#y"}, {HTTPBase: "http://x/ || reboot"}, {HTTPBase: `http://x\y`},
		{TFTPServer: "a/b"}, {TFTPServer: "a;b"}, {TFTPServer: "a b"},
	}
	for _, o := range bad {
		if err := o.Check(); !errors.Is(err, ErrOption) {
			t.Errorf("%+v: %v, want ErrOption", o, err)
		}
	}
}
