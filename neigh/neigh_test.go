package neigh

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const arpHeader = "IP address       HW type     Flags       HW address            Mask     Device\n"

func TestParseARP(t *testing.T) {
	table := arpHeader +
		"10.0.0.50        0x1         0x2         52:54:00:12:34:56     *        eth1\n" +
		"10.0.0.51        0x1         0x0         00:00:00:00:00:00     *        eth1\n" + // incomplete
		"10.0.0.52        0x1         0x6         52:54:00:00:00:52     *        eth1\n" + // complete + permanent
		"192.168.1.1      0x1         0x2         aa:bb:cc:dd:ee:ff     *        wlan0\n" +
		"10.0.0.53        0x1         0x2         00:00:00:00:00:00     *        eth1\n" +
		"10.0.0.54        0x1         0x2         zz                    *        eth1\n" +
		"garbage line\n"
	cases := map[string]struct {
		ifaces []string
		want   string
	}{
		"all interfaces": {nil, "10.0.0.50=52:54:00:12:34:56 10.0.0.52=52:54:00:00:00:52 192.168.1.1=aa:bb:cc:dd:ee:ff"},
		"served only":    {[]string{"eth1"}, "10.0.0.50=52:54:00:12:34:56 10.0.0.52=52:54:00:00:00:52"},
		"none served":    {[]string{"eth9"}, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m := parseARP(strings.NewReader(table), c.ifaces)
			var got []string
			for _, ip := range []string{"10.0.0.50", "10.0.0.51", "10.0.0.52", "10.0.0.53", "10.0.0.54", "192.168.1.1"} {
				if mac, ok := m[netip.MustParseAddr(ip)]; ok {
					got = append(got, ip+"="+mac.String())
				}
			}
			if g := strings.Join(got, " "); g != c.want || len(m) != len(got) {
				t.Fatalf("got %q (%d entries), want %q", g, len(m), c.want)
			}
		})
	}
}

// TestParseARPBound: a huge table is cut at maxNeighbours entries.
func TestParseARPBound(t *testing.T) {
	var b strings.Builder
	b.WriteString(arpHeader)
	for i := range 3 * maxNeighbours {
		fmt.Fprintf(&b, "10.%d.%d.%d 0x1 0x2 52:54:00:%02x:%02x:%02x * eth1\n", i>>16&255, i>>8&255, i&255, i>>16&255, i>>8&255, i&255)
	}
	if n := len(parseARP(strings.NewReader(b.String()), nil)); n != maxNeighbours {
		t.Fatalf("%d entries, want the bound %d", n, maxNeighbours)
	}
}

// arpFile gives a Table that reads a file the test rewrites with write, on a
// clock the test moves by setting *now.
func arpFile(t *testing.T) (n *Table, write func(lines ...string), now *time.Time) {
	path := filepath.Join(t.TempDir(), "arp")
	write = func(lines ...string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(arpHeader+strings.Join(lines, "")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	clock := time.Unix(1000, 0)
	return &Table{path: path, now: func() time.Time { return clock }}, write, &clock
}

// TestNeighboursReadRate: the table is read on a miss at most once a
// second, and on a hit only when the copy is a minute old.
func TestNeighboursReadRate(t *testing.T) {
	n, write, now := arpFile(t)
	a, b := netip.MustParseAddr("10.0.0.50"), netip.MustParseAddr("10.0.0.60")
	write("10.0.0.50 0x1 0x2 52:54:00:00:00:50 * eth1\n")
	if mac := n.Lookup(a); mac.String() != "52:54:00:00:00:50" {
		t.Fatalf("first look-up: %v", mac)
	}
	write("10.0.0.50 0x1 0x2 52:54:00:00:00:51 * eth1\n", "10.0.0.60 0x1 0x2 52:54:00:00:00:60 * eth1\n")
	if mac := n.Lookup(b); mac != nil {
		t.Fatalf("a miss within a second of the last read read again: %v", mac)
	}
	*now = now.Add(time.Second)
	if mac := n.Lookup(b); mac.String() != "52:54:00:00:00:60" {
		t.Fatalf("a miss a second later: %v", mac)
	}
	*now = now.Add(30 * time.Second)
	write("10.0.0.50 0x1 0x2 52:54:00:00:00:52 * eth1\n")
	if mac := n.Lookup(a); mac.String() != "52:54:00:00:00:51" {
		t.Fatalf("a hit re-read the table before a minute: %v", mac)
	}
	*now = now.Add(31 * time.Second)
	if mac := n.Lookup(a); mac.String() != "52:54:00:00:00:52" {
		t.Fatalf("a hit on a minute-old copy: %v", mac)
	}
	if mac := (&Table{path: filepath.Join(t.TempDir(), "none"), now: time.Now}).Lookup(a); mac != nil {
		t.Fatalf("no table: %v", mac)
	}
}

// TestNeighboursPending: an address missed waits; the next due read that
// has it hands it over once; one never found is dropped after neighWait;
// a flood of misses keeps at most maxPending addresses.
func TestNeighboursPending(t *testing.T) {
	n, write, now := arpFile(t)
	a, b := netip.MustParseAddr("10.0.0.50"), netip.MustParseAddr("10.9.0.7")
	write()
	if n.Lookup(a) != nil || n.Lookup(b) != nil {
		t.Fatal("found in an empty table")
	}
	write("10.0.0.50 0x1 0x2 52:54:00:00:00:50 * eth1\n")
	if got := n.resolve(); got != nil {
		t.Fatalf("resolved within a second of the last read: %v", got)
	}
	*now = now.Add(time.Second)
	if got := n.resolve(); len(got) != 1 || got[a].String() != "52:54:00:00:00:50" {
		t.Fatalf("resolved %v, want 10.0.0.50 only", got)
	}
	*now = now.Add(time.Second)
	if got := n.resolve(); len(got) != 0 || len(n.pending) != 1 {
		t.Fatalf("resolved %v again, %d waiting; want nothing, 10.9.0.7 waiting", got, len(n.pending))
	}
	*now = now.Add(neighWait)
	n.resolve()
	if len(n.pending) != 0 {
		t.Fatalf("%d still waiting after neighWait", len(n.pending))
	}
	for i := range 4 * maxPending {
		n.Lookup(netip.AddrFrom4([4]byte{10, 8, byte(i >> 8), byte(i)}))
	}
	if len(n.pending) != maxPending {
		t.Fatalf("%d waiting after a flood of misses, want the bound %d", len(n.pending), maxPending)
	}
}
