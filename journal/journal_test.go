package journal

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/testclock"
)

func newTest(t *testing.T, cfg Config) (*Journal, *testclock.Clock) {
	t.Helper()
	c := testclock.New(t0)
	cfg.Now = c.Now
	return New(cfg, nil), c
}

func mac(i int) net.HardwareAddr {
	return net.HardwareAddr{0x52, 0x54, 0x00, byte(i >> 16), byte(i >> 8), byte(i)}
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func peer(s string) netip.AddrPort { return netip.AddrPortFrom(ip(s), 2070) }

// boot records a whole BIOS boot through iPXE for m at address a.
func boot(j *Journal, c *testclock.Clock, m net.HardwareAddr, a string) {
	j.Discover(Discover{MAC: m, Port: PortDHCP, Arch: 0, Vendor: biosVendor, Iface: "eth0"})
	j.Reply(Reply{MAC: m, Port: PortDHCP, File: "undionly.kpxe", Server: ip("192.168.50.1")})
	j.Join(m, ip(a), ViaSiteReply)
	c.Add(time.Second)
	tr := j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer(a), File: "undionly.kpxe", Size: 70000, BlockSize: 1468})
	tr.Progress(70000, 0)
	tr.End(ResultOK, "")
	c.Add(2 * time.Second)
	j.Discover(Discover{MAC: m, Port: PortDHCP, Vendor: biosVendor, IPXE: true, Iface: "eth0"})
	j.Reply(Reply{MAC: m, Port: PortDHCP, File: "boot.ipxe", Server: ip("192.168.50.1")})
	tr = j.StartTransfer(TransferStart{Proto: "http", Peer: peer(a), File: "/boot.ipxe", Size: 300})
	tr.Progress(300, 0)
	tr.End(ResultOK, "")
}

func TestJourneyBoots(t *testing.T) {
	j, c := newTest(t, Config{})
	m := mac(1)
	boot(j, c, m, "192.168.50.20")
	cl := j.Clients()
	if len(cl) != 1 {
		t.Fatalf("%d clients", len(cl))
	}
	got := cl[0]
	if got.ID != "52:54:00:00:00:01" || got.MAC != got.ID || got.IP != ip("192.168.50.20") || got.State != StateBooted ||
		got.Vendor != "QEMU/KVM" || got.Arch == nil || *got.Arch != 0 || got.ArchName != "x86 BIOS" || got.Class != "PXEClient" || !got.IPXE {
		t.Fatalf("row %+v", got)
	}
	if !strings.Contains(got.Verdict, "Booted in 3.0 s: after undionly.kpxe it fetched /boot.ipxe") || got.TookMillis != 3000 {
		t.Fatalf("verdict %q took %d", got.Verdict, got.TookMillis)
	}
	d, ok := j.Client("52:54:00:00:00:01")
	if !ok {
		t.Fatal("no detail")
	}
	var kinds []string
	for _, e := range d.Timeline {
		kinds = append(kinds, string(e.Kind))
	}
	if want := "discover reply join transfer discover reply transfer"; strings.Join(kinds, " ") != want {
		t.Fatalf("timeline %v, want %s", kinds, want)
	}
	if x := d.Timeline[3]; x.Result != ResultOK || x.Bytes != 70000 || x.Size != 70000 || x.BlockSize != 1468 || x.Millis != 0 ||
		x.Peer != peer("192.168.50.20") || x.Running {
		t.Fatalf("transfer event %+v", x)
	}
	if d2, ok := j.Client("192.168.50.20"); !ok || d2.ID != d.ID {
		t.Fatal("lookup by address failed")
	}
	if _, ok := j.Client("nonsense"); ok {
		t.Fatal("lookup of nonsense succeeded")
	}
}

// TestIPXEROMArch: a client whose boot ROM is iPXE (QEMU's SeaBIOS NIC ROM)
// sends only iPXE requests; its row still names its architecture and class.
func TestIPXEROMArch(t *testing.T) {
	j, _ := newTest(t, Config{})
	j.Discover(Discover{MAC: mac(9), Port: PortDHCP, Arch: 0, Vendor: biosVendor, IPXE: true, Iface: "eth0"})
	j.Reply(Reply{MAC: mac(9), Port: PortDHCP, File: "boot.ipxe", Server: ip("192.168.50.1")})
	got := j.Clients()[0]
	if got.Arch == nil || *got.Arch != 0 || got.ArchName != "x86 BIOS" || got.Class != "PXEClient" || !got.IPXE {
		t.Fatalf("row %+v", got)
	}
}

func TestRunningTransfer(t *testing.T) {
	j, c := newTest(t, Config{})
	m := mac(2)
	j.Discover(Discover{MAC: m, Port: PortDHCP, Arch: 7, Vendor: pxeVendor})
	j.Reply(Reply{MAC: m, Port: PortDHCP, File: "snponly.efi"})
	j.Discover(Discover{MAC: m, Port: PortPXE, Arch: 7, Vendor: pxeVendor, ClientIP: ip("10.1.0.7")})
	tr := j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer("10.1.0.7"), File: "snponly.efi", Size: 1000})
	tr.Progress(250, 1)
	row := j.Clients()[0]
	if row.State != StateInProgress || row.Transfer == nil || row.Transfer.Percent != 25 {
		t.Fatalf("row %+v %+v", row, row.Transfer)
	}
	c.Add(5 * time.Second)
	tr.Progress(500, 1)
	if row = j.Clients()[0]; row.Transfer.Percent != 50 || row.State != StateInProgress {
		t.Fatalf("row %+v", row)
	}
	c.Add(11 * time.Second) // no progress since
	if row = j.Clients()[0]; row.State != StateTransferFailed || !strings.Contains(row.Verdict, "stalled at byte 500 of 1,000 (50.0%) after 1 retransmit") {
		t.Fatalf("row %s %q", row.State, row.Verdict)
	}
	tr.Progress(1000, 1)
	tr.End(ResultOK, "")
	tr.End(ResultError, "twice") // a second End changes nothing
	d, _ := j.Client(m.String())
	last := d.Timeline[len(d.Timeline)-1]
	if last.Result != ResultOK || last.Bytes != 1000 || last.Millis != 16000 || last.Retransmits != 1 {
		t.Fatalf("ended transfer %+v", last)
	}
}

func TestJoins(t *testing.T) {
	t.Run("4011 request merges a journey known by address", func(t *testing.T) {
		j, _ := newTest(t, Config{})
		m := mac(3)
		j.Discover(Discover{MAC: m, Port: PortDHCP, Arch: 7, Vendor: pxeVendor, Relay: ip("10.9.0.1")})
		j.Reply(Reply{MAC: m, Port: PortDHCP, File: "snponly.efi"})
		j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer("10.9.0.50"), File: "x"}).End(ResultNotFound, "")
		if n := len(j.Clients()); n != 2 {
			t.Fatalf("%d journeys before the join, want 2", n)
		}
		j.Discover(Discover{MAC: m, Port: PortPXE, Arch: 7, Vendor: pxeVendor, ClientIP: ip("10.9.0.50")})
		cl := j.Clients()
		if len(cl) != 1 || cl[0].ID != m.String() || cl[0].IP != ip("10.9.0.50") {
			t.Fatalf("after the join: %+v", cl)
		}
		d, _ := j.Client(m.String())
		var kinds []string
		for _, e := range d.Timeline {
			kinds = append(kinds, string(e.Kind))
		}
		if want := "discover reply transfer discover join"; strings.Join(kinds, " ") != want {
			t.Fatalf("timeline %v, want %s", kinds, want)
		}
	})
	t.Run("a journey known by address learns its MAC", func(t *testing.T) {
		j, _ := newTest(t, Config{})
		tr := j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer("10.9.0.51"), File: "a"})
		j.Join(mac(4), ip("10.9.0.51"), ViaSiteReply)
		tr.End(ResultOK, "") // the handle follows the journey
		cl := j.Clients()
		if len(cl) != 1 || cl[0].ID != mac(4).String() || cl[0].Vendor != "QEMU/KVM" {
			t.Fatalf("%+v", cl)
		}
		d, _ := j.Client(mac(4).String())
		if d.Timeline[0].Result != ResultOK {
			t.Fatalf("transfer not ended through the moved journey: %+v", d.Timeline[0])
		}
	})
	t.Run("neighbour lookup by the caller", func(t *testing.T) {
		j, _ := newTest(t, Config{})
		j.Discover(Discover{MAC: mac(5), Port: PortDHCP, Vendor: biosVendor})
		j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer("10.9.0.52"), MAC: mac(5), File: "a"})
		cl := j.Clients()
		if len(cl) != 1 || cl[0].IP != ip("10.9.0.52") {
			t.Fatalf("%+v", cl)
		}
	})
	t.Run("an address moves to another client", func(t *testing.T) {
		j, _ := newTest(t, Config{})
		j.Discover(Discover{MAC: mac(6), Port: PortDHCP, Vendor: biosVendor})
		j.Discover(Discover{MAC: mac(7), Port: PortDHCP, Vendor: biosVendor})
		j.Join(mac(6), ip("10.9.0.53"), ViaRequest)
		j.Join(mac(7), ip("10.9.0.53"), ViaRequest)
		a, _ := j.Client(mac(6).String())
		b, _ := j.Client(mac(7).String())
		if a.IP.IsValid() || b.IP != ip("10.9.0.53") {
			t.Fatalf("old holder %v, new holder %v", a.IP, b.IP)
		}
	})
	t.Run("joins never start journeys", func(t *testing.T) {
		j, _ := newTest(t, Config{})
		j.Join(mac(8), ip("10.9.0.54"), ViaSiteReply)
		j.Reply(Reply{MAC: mac(8), File: "x"})
		j.Conflict(Conflict{MAC: mac(8), Server: ip("10.9.0.9")})
		if n := len(j.Clients()); n != 0 {
			t.Fatalf("%d journeys", n)
		}
	})
	t.Run("unusable addresses are not joined", func(t *testing.T) {
		j, _ := newTest(t, Config{})
		j.Discover(Discover{MAC: mac(9), Port: PortDHCP, Vendor: biosVendor})
		for _, a := range []string{"0.0.0.0", "255.255.255.255", "127.0.0.1", "224.0.0.1", "::"} {
			j.Join(mac(9), ip(a), ViaRequest)
		}
		if c := j.Clients()[0]; c.IP.IsValid() {
			t.Fatalf("joined %v", c.IP)
		}
	})
}

func TestRepeatsCollapse(t *testing.T) {
	j, c := newTest(t, Config{})
	m := mac(10)
	for range 4 {
		j.Discover(Discover{MAC: m, Port: PortDHCP, Vendor: biosVendor})
		j.Reply(Reply{MAC: m, Port: PortDHCP, File: "undionly.kpxe"})
		c.Add(4 * time.Second)
	}
	d, _ := j.Client(m.String())
	if len(d.Timeline) != 2 || d.Timeline[0].Count != 4 || d.Timeline[1].Count != 4 || !d.Timeline[1].Last.Equal(t0.Add(12*time.Second)) {
		t.Fatalf("timeline %+v", d.Timeline)
	}
}

func TestStringsCutAndCleaned(t *testing.T) {
	j, _ := newTest(t, Config{})
	m := mac(11)
	j.Discover(Discover{MAC: m, Port: PortDHCP, Vendor: "PXEClient\x1b[31m\tred" + strings.Repeat("x", 1000), UUID: strings.Repeat("u", 500)})
	j.Reply(Reply{MAC: m, File: strings.Repeat("é", 1000)})
	tr := j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer("10.0.0.1"), MAC: m, File: "\xff\xfe" + strings.Repeat("f", 1000)})
	tr.End(ResultAborted, strings.Repeat("d\n", 500))
	d, _ := j.Client(m.String())
	for _, e := range d.Timeline {
		for _, s := range []string{e.Vendor, e.UUID, e.File, e.Detail, e.Reason} {
			if len(s) > maxFile {
				t.Errorf("%d bytes kept: %.40q", len(s), s)
			}
			for _, r := range s {
				if r < 0x20 || r == 0x7f || r == '\ufffd' {
					t.Errorf("control or invalid rune %q kept in %.40q", r, s)
				}
			}
		}
	}
	if v := d.Timeline[0].Vendor; !strings.HasPrefix(v, "PXEClient?[31m?red") || len(v) != maxVendor {
		t.Fatalf("vendor %q", v)
	}
}

func TestNilSafe(t *testing.T) {
	var j *Journal
	j.Discover(Discover{MAC: mac(1)})
	j.Reply(Reply{MAC: mac(1)})
	j.Join(mac(1), ip("10.0.0.1"), ViaRequest)
	j.Conflict(Conflict{MAC: mac(1)})
	tr := j.StartTransfer(TransferStart{Peer: peer("10.0.0.1")})
	tr.Progress(1, 1)
	tr.End(ResultOK, "")
}

// TestFloodDistinctMACs: 100,000 DISCOVERs from distinct MACs through one
// interface keep at most Clients journeys, and in the first second one
// source evicts only a small part of the clients that were there before.
func TestFloodDistinctMACs(t *testing.T) {
	j, c := newTest(t, Config{Clients: 1000})
	for i := range 1000 {
		j.Discover(Discover{MAC: mac(i), Port: PortDHCP, Vendor: biosVendor, Iface: "eth0"})
		if i%50 == 49 {
			c.Add(5 * time.Second) // a normal morning: clients arrive over an hour
		}
	}
	if n := len(j.Clients()); n != 1000 {
		t.Fatalf("%d journeys before the flood, want 1000", n)
	}
	c.Add(time.Minute)
	for i := range 100000 {
		j.Discover(Discover{MAC: mac(1<<20 + i), Port: PortDHCP, Vendor: biosVendor, Iface: "eth0"})
		if i%10000 == 9999 {
			c.Add(100 * time.Millisecond) // 100,000 packets in one second
		}
	}
	kept := 0
	for i := range 1000 {
		if _, ok := j.Client(mac(i).String()); ok {
			kept++
		}
	}
	st := j.Stats()
	t.Logf("after 100,000 forged MACs in 1 s: %d of 1000 clients kept, %d journeys, %d refused", kept, st.Journeys, st.Dropped)
	if st.Journeys > 1000 {
		t.Fatalf("%d journeys, want at most 1000", st.Journeys)
	}
	if kept < 850 {
		t.Fatalf("only %d of 1000 earlier clients kept after one second of flood", kept)
	}
	// Another segment (a relay) still gets its new clients in.
	j.Discover(Discover{MAC: mac(1 << 22), Port: PortDHCP, Vendor: biosVendor, Relay: ip("10.20.0.1")})
	if _, ok := j.Client(mac(1 << 22).String()); !ok {
		t.Fatal("a client behind a relay was refused during a flood on eth0")
	}
	// A sustained flood takes its share over time, never more than Clients.
	for s := range 120 {
		for i := range 1000 {
			j.Discover(Discover{MAC: mac(1<<21 + s*1000 + i), Port: PortDHCP, Vendor: biosVendor, Iface: "eth0"})
		}
		c.Add(time.Second)
	}
	if st := j.Stats(); st.Journeys > 1000 {
		t.Fatalf("%d journeys after a sustained flood", st.Journeys)
	}
}

// TestFloodForgedSources: forged relay addresses and transfer peers share
// the global limit; the journal stays bounded.
func TestFloodForgedSources(t *testing.T) {
	j, c := newTest(t, Config{Clients: 1000})
	for i := range 1000 {
		j.Discover(Discover{MAC: mac(i), Port: PortDHCP, Vendor: biosVendor, Iface: "eth0"})
		c.Add(time.Second)
	}
	for i := range 50000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		j.Discover(Discover{MAC: mac(1<<20 + i), Port: PortDHCP, Vendor: biosVendor, Relay: a})
		j.StartTransfer(TransferStart{Proto: "tftp", Peer: netip.AddrPortFrom(a, 1024), File: "x"}).End(ResultNotFound, "")
	}
	c.Add(time.Second)
	kept := 0
	for i := range 1000 {
		if _, ok := j.Client(mac(i).String()); ok {
			kept++
		}
	}
	st := j.Stats()
	t.Logf("after 100,000 requests from forged sources in 1 s: %d of 1000 kept, %d journeys", kept, st.Journeys)
	if st.Journeys > 1000 || kept < 700 {
		t.Fatalf("%d journeys, %d of 1000 kept", st.Journeys, kept)
	}
	if len(j.lim.src) > maxSources {
		t.Fatalf("%d source buckets", len(j.lim.src))
	}
}

// TestFloodEvents: one client's event flood keeps its newest Events, and all
// journeys together keep at most TotalEvents.
func TestFloodEvents(t *testing.T) {
	j, c := newTest(t, Config{Clients: 100, Events: 200, TotalEvents: 2000})
	for i := range 100 {
		j.Discover(Discover{MAC: mac(i), Port: PortDHCP, Vendor: biosVendor, Iface: "eth0"})
		c.Add(time.Second)
	}
	for i := range 50000 {
		// A different vendor string each time defeats the collapsing of repeats.
		j.Discover(Discover{MAC: mac(i % 20), Port: PortDHCP, Vendor: fmt.Sprint("PXEClient:", i)})
		if i%1000 == 0 {
			c.Add(time.Second)
		}
	}
	st := j.Stats()
	if st.Events > 2000 || st.Journeys != 100 {
		t.Fatalf("%d events in %d journeys", st.Events, st.Journeys)
	}
	total := 0
	for _, cl := range j.Clients() {
		if cl.Events > 200 {
			t.Fatalf("%s keeps %d events", cl.ID, cl.Events)
		}
		total += cl.Events
	}
	if total != st.Events {
		t.Fatalf("rows count %d events, stats %d", total, st.Events)
	}
	d, _ := j.Client(mac(19).String())
	if last := d.Timeline[len(d.Timeline)-1]; last.Vendor != "PXEClient:49999" {
		t.Fatalf("newest event lost: %+v", last)
	}
	// The quiet clients kept their first event.
	if d, _ := j.Client(mac(50).String()); len(d.Timeline) != 1 {
		t.Fatalf("a quiet client lost its events: %d", len(d.Timeline))
	}
}

func TestFloodTransfers(t *testing.T) {
	j, _ := newTest(t, Config{Clients: 10})
	j.Discover(Discover{MAC: mac(1), Port: PortDHCP, Vendor: biosVendor})
	j.Join(mac(1), ip("10.0.0.5"), ViaRequest)
	var trs []*Transfer
	for range 100 {
		if tr := j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer("10.0.0.5"), File: "a"}); tr != nil {
			trs = append(trs, tr)
		}
	}
	if len(trs) != maxActivePerJourney || j.active != maxActivePerJourney {
		t.Fatalf("%d handles, %d active", len(trs), j.active)
	}
	for _, tr := range trs {
		tr.End(ResultAborted, "")
	}
	if j.active != 0 {
		t.Fatalf("%d active after End", j.active)
	}
}

// TestEvictionDetaches: a journey forgotten while its transfer runs leaves
// a handle that does nothing.
func TestEvictionDetaches(t *testing.T) {
	j, c := newTest(t, Config{Clients: 2})
	tr := j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer("10.0.0.1"), File: "a"})
	for i := range 3 {
		c.Add(time.Minute)
		j.Discover(Discover{MAC: mac(i), Port: PortDHCP, Vendor: biosVendor, Iface: "eth0"})
	}
	if _, ok := j.Client("10.0.0.1"); ok {
		t.Fatal("oldest journey kept")
	}
	tr.Progress(5, 0)
	tr.End(ResultOK, "")
	if j.active != 0 || len(j.Clients()) != 2 {
		t.Fatalf("active %d, %d journeys", j.active, len(j.Clients()))
	}
}

func TestStats(t *testing.T) {
	j, c := newTest(t, Config{})
	boot(j, c, mac(1), "10.0.0.1")
	j.Discover(Discover{MAC: mac(2), Port: PortDHCP, Arch: 11, Vendor: "PXEClient:Arch:00011"})
	j.Reply(Reply{MAC: mac(2), Port: PortDHCP, Reason: ReasonNoBootFile})
	j.Discover(Discover{MAC: mac(3), Port: PortDHCP, Vendor: biosVendor})
	j.Reply(Reply{MAC: mac(3), Port: PortDHCP, File: "undionly.kpxe"})
	st := j.Stats()
	if st.Clients[StateBooted] != 1 || st.Clients[StateNoBootFile] != 1 || st.Clients[StateInProgress] != 1 || len(st.Boots) != 0 {
		t.Fatalf("%+v", st)
	}
	c.Add(2 * time.Minute)
	st = j.Stats()
	if st.Clients[StateNoRequest] != 1 || st.Boots[StateBooted] != 1 || st.Boots[StateNoBootFile] != 1 || st.Boots[StateNoRequest] != 1 {
		t.Fatalf("%+v", st)
	}
	if st = j.Stats(); st.Boots[StateBooted] != 1 {
		t.Fatalf("counted twice: %+v", st.Boots)
	}
	// A reboot is a new attempt, counted again once settled.
	boot(j, c, mac(1), "10.0.0.1")
	c.Add(2 * time.Minute)
	if st = j.Stats(); st.Boots[StateBooted] != 2 {
		t.Fatalf("%+v", st.Boots)
	}
	// An attempt cut short by a new one is counted at once.
	j.Discover(Discover{MAC: mac(4), Port: PortDHCP, Vendor: biosVendor})
	j.Reply(Reply{MAC: mac(4), Port: PortDHCP, File: "memtest.0"})
	j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer("10.0.0.4"), MAC: mac(4), File: "memtest.0"}).End(ResultOK, "")
	c.Add(10 * time.Second)
	j.Discover(Discover{MAC: mac(4), Port: PortDHCP, Vendor: biosVendor})
	if st = j.Stats(); st.Boots[StateNoReturn] != 1 {
		t.Fatalf("%+v", st.Boots)
	}
	for s := range st.Boots {
		if !containsState(s) {
			t.Fatalf("unknown state %q", s)
		}
	}
}

func containsState(s State) bool {
	for _, x := range States {
		if x == s {
			return true
		}
	}
	return false
}

// TestWorstCaseMemory fills every journey with the most events and the
// longest strings a LAN can make, and reports the heap it takes.
func TestWorstCaseMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the whole journal")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	j, c := newTest(t, Config{})
	long := strings.Repeat("x", 300)
	n := 0
	for round := range 60 {
		for i := range 1000 {
			m := mac(i)
			if round == 0 {
				j.Discover(Discover{MAC: m, Port: PortDHCP, Vendor: biosVendor, Iface: fmt.Sprint("if", i)})
			}
			a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
			tr := j.StartTransfer(TransferStart{Proto: "tftp", Peer: netip.AddrPortFrom(a, 1), MAC: m, File: fmt.Sprint(n, long)})
			tr.End(ResultAborted, fmt.Sprint(n, long))
			n++
		}
		c.Add(time.Second)
	}
	st := j.Stats()
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d journeys, %d events: heap %.1f MiB", st.Journeys, st.Events, float64(heap)/(1<<20))
	if st.Events > 32000 || st.Journeys != 1000 {
		t.Fatalf("%d events in %d journeys", st.Events, st.Journeys)
	}
	if heap > 32<<20 {
		t.Fatalf("heap grew by %d MiB", heap>>20)
	}
	runtime.KeepAlive(j)
}

// TestConcurrent records from several goroutines while others read; run
// with -race.
func TestConcurrent(t *testing.T) {
	j := New(Config{Clients: 50}, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				m := mac(g*1000 + i%60)
				a := netip.AddrFrom4([4]byte{10, byte(g), 0, byte(i % 60)})
				j.Discover(Discover{MAC: m, Port: PortDHCP, Vendor: biosVendor, Iface: "eth0"})
				j.Reply(Reply{MAC: m, Port: PortDHCP, File: "undionly.kpxe"})
				j.Join(m, a, ViaRequest)
				tr := j.StartTransfer(TransferStart{Proto: "tftp", Peer: netip.AddrPortFrom(a, 1), File: "undionly.kpxe", Size: 100})
				tr.Progress(50, 0)
				tr.Progress(100, 0)
				tr.End(ResultOK, "")
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var ver uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, c := range j.Clients() {
					j.Client(c.ID)
				}
				j.Stats()
				ver = j.changes(ver).Version
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if st := j.Stats(); st.Journeys > 50 || j.active != 0 {
		t.Fatalf("%d journeys, %d active", st.Journeys, j.active)
	}
}
