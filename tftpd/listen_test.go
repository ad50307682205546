package tftpd

import (
	"net"
	"testing"
)

// TestListenFamily: a host literal picks the family, and only a listener
// with no host hands its port over for [::].
func TestListenFamily(t *testing.T) {
	for addr, want := range map[string]struct {
		v6       bool
		wildcard bool
	}{
		"127.0.0.1:0": {false, false},
		"[::1]:0":     {true, false},
		":0":          {false, true},
	} {
		conn, port, err := Listen(addr)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		la := conn.LocalAddr().(*net.UDPAddr)
		conn.Close()
		if v6 := la.IP.To4() == nil; v6 != want.v6 {
			t.Errorf("%s: listens on %s, want IPv6 %v", addr, la, want.v6)
		}
		if (port != "") != want.wildcard {
			t.Errorf("%s: wildcard port %q, want one %v", addr, port, want.wildcard)
		}
	}
}
