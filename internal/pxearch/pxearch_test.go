package pxearch

import "testing"

func TestNames(t *testing.T) {
	for a, want := range map[uint16][2]string{
		0:   {"x86 BIOS", "x86 BIOS"},
		9:   {"EFI x86-64 (BC)", "EFI x86-64"},
		22:  {"ARM64 U-Boot", "U-Boot ARM64"},
		41:  {"ARM rpiboot", "arm rpiboot"},
		999: {"unknown", "arch 999"},
	} {
		if got := [2]string{Name(a), Short(a)}; got != want {
			t.Errorf("arch %d: Name, Short = %q, want %q", a, got, want)
		}
	}
	for a := range uint16(42) {
		if Name(a) == "unknown" {
			t.Errorf("arch %d has no name: the registry holds 0 to 41", a)
		}
	}
}

func TestHTTPBase(t *testing.T) {
	for a, want := range map[uint16]uint16{16: 7, 19: 11, 20: 0} {
		if got, ok := HTTPBase(a); got != want || !ok {
			t.Errorf("HTTPBase(%d) = %d, %v; want %d, true", a, got, ok, want)
		}
	}
	for _, a := range []uint16{0, 7, 999} {
		if _, ok := HTTPBase(a); ok {
			t.Errorf("HTTPBase(%d) ok: %d is no HTTP boot architecture", a, a)
		}
	}
	if !Known(41) || Known(42) {
		t.Error("Known: the registry holds 0 to 41")
	}
}
