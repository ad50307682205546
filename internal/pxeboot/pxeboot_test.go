package pxeboot

import (
	"net"
	"testing"
)

func TestEscapePath(t *testing.T) {
	for in, want := range map[string]string{
		"snponly.efi":             "snponly.efi",
		"x64/grub~1.efi":          "x64/grub~1.efi",
		`boot\x64\wdsmgfw.efi`:    "boot%5Cx64%5Cwdsmgfw.efi",
		"a b;mode=netascii%.efi":  "a%20b%3Bmode%3Dnetascii%25.efi",
		"\xff\x00":                "%FF%00",
		"[2001:db8::1]:69/?#@!$&": "%5B2001%3Adb8%3A%3A1%5D%3A69/%3F%23%40%21%24%26",
	} {
		if got := EscapePath(in); got != want {
			t.Errorf("EscapePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHTTPBootURL: one URL rule for both families: an external base wins,
// our listener is named by the server's IP literal, backslashes become
// slashes and the path is escaped; neither set, no URL.
func TestHTTPBootURL(t *testing.T) {
	v4, v6 := net.ParseIP("10.0.0.3"), net.ParseIP("fd00::3")
	for name, c := range map[string]struct {
		s      Settings
		file   string
		server net.IP
		want   string
	}{
		"our listener, IPv4":   {Settings{HTTPPort: 4011}, `\boot\x64\boot mgr.efi`, v4, "http://10.0.0.3:4011/boot/x64/boot%20mgr.efi"},
		"our listener, IPv6":   {Settings{HTTPPort: 4011}, "/snponly.efi", v6, "http://[fd00::3]:4011/snponly.efi"},
		"external base wins":   {Settings{HTTPPort: 4011, HTTPURL: "http://10.9.9.9/pxe/"}, `a\b;c.efi`, v4, "http://10.9.9.9/pxe/a/b%3Bc.efi"},
		"neither: no HTTP URL": {Settings{}, "snponly.efi", v4, ""},
	} {
		got, ok := c.s.HTTPBootURL(c.file, c.server)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%s: HTTPBootURL = %q, %v; want %q", name, got, ok, c.want)
		}
	}
}
