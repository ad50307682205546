package macprefix

import (
	"net"
	"testing"
)

func TestMatch(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	for name, c := range map[string]struct {
		p    Prefix
		want bool
	}{
		"oui":       {Prefix{0x52, 0x54, 0x00}, true},
		"whole":     {Prefix(mac), true},
		"other oui": {Prefix{0x00, 0x1b, 0x21}, false},
		"empty":     {Prefix{}, false},
		"too long":  {Prefix{0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x78}, false},
	} {
		if got := c.p.Match(mac); got != c.want {
			t.Errorf("%s: %s.Match(%s) = %v, want %v", name, c.p, mac, got, c.want)
		}
	}
	if got := (Prefix{0x52}).Match(nil); got {
		t.Error("a prefix matched an unknown (nil) MAC")
	}
}

func TestLongest(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	l := []BootFile{{Prefix{0x52, 0x54, 0x00}, "oui.efi"}, {Prefix(mac), "this-machine.efi"}, {Prefix{0x52}, "short.efi"}}
	if f, ok := Longest(l, mac); f != "this-machine.efi" || !ok {
		t.Errorf("Longest = %q, %v; want this-machine.efi, true", f, ok)
	}
	if f, ok := Longest(l, net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x88, 0x99}); f != "oui.efi" || !ok {
		t.Errorf("Longest (same OUI) = %q, %v; want oui.efi, true", f, ok)
	}
	if f, ok := Longest(l, net.HardwareAddr{0x00, 0x1b, 0x21, 1, 2, 3}); ok {
		t.Errorf("Longest (no match) = %q, true; want false", f)
	}
}
