package proxy6

import (
	"bytes"
	"net"
	"testing"
)

func TestDecide(t *testing.T) {
	global := []servedIface{{name: "eth0", addrs: []net.IP{net.ParseIP("fd00::3")}}}
	linkLocalOnly := []servedIface{{name: "eth0"}}
	for name, c := range map[string]struct {
		mode     Mode
		ifs      []servedIface
		on, warn bool
	}{
		"auto with a ULA address":  {ModeAuto, global, true, false},
		"auto, link-local only":    {ModeAuto, linkLocalOnly, false, false},
		"auto, no interface":       {ModeAuto, nil, false, false},
		"on with an address":       {ModeOn, global, true, false},
		"on without one: warn":     {ModeOn, linkLocalOnly, true, true},
		"off whatever the address": {ModeOff, global, false, false},
	} {
		on, warn := decide(c.mode, c.ifs)
		if on != c.on || (warn != "") != c.warn {
			t.Errorf("%s: on %v warn %q; want on %v warn %v", name, on, warn, c.on, c.warn)
		}
	}
}

// TestServerDUID: the Server ID is the first served interface's with an
// Ethernet MAC (loopback has none).
func TestServerDUID(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:00:00:00:07")
	if got := serverDUID([]servedIface{{name: "lo"}, {name: "eth0", mac: mac}}); !bytes.Equal(got, DUIDLL(mac)) {
		t.Fatalf("server id %x, want %x", got, DUIDLL(mac))
	}
	if got := serverDUID([]servedIface{{name: "lo"}}); got != nil {
		t.Fatalf("server id %x without a MAC, want nil", got)
	}
}

// TestIPv6URL: only a URL with an IPv6 host is handed to IPv6 clients.
func TestIPv6URL(t *testing.T) {
	for url, want := range map[string]bool{
		"http://10.0.0.5:8080/boot": false, "http://[fd00::5]:8080/boot": true, "": false, "http://[::ffff:10.0.0.5]/": false,
	} {
		if got := ipv6URL(url); got != want {
			t.Errorf("ipv6URL(%q) = %v, want %v", url, got, want)
		}
	}
}
