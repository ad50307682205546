package tftpd

import (
	"bytes"
	"encoding/binary"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/netnstest"
	"golang.org/x/sys/unix"
)

func TestBatchLen(t *testing.T) {
	for _, c := range []struct{ blksize, window, want int }{
		{512, 1, 1},
		{1468, 1, 1},
		{1468, 4, 4},
		{1468, 16, 16},
		{1468, 64, batchMax},
		{8192, 64, 3},       // 32 KiB of buffers
		{maxBlksize, 64, 1}, // one datagram fills the budget
		{maxBlksize, 1, 1},  // never 0
	} {
		if got := batchLen(params{blksize: c.blksize, window: c.window}); got != c.want {
			t.Errorf("batchLen(blksize %d, window %d) = %d, want %d", c.blksize, c.window, got, c.want)
		}
	}
}

// TestSendWindowBatches sends windows through sendWindow to a socket on
// loopback: every block arrives once, in order, as its own datagram with
// its number and the file's bytes; a window goes out in ceil(window /
// batch) sendmmsg calls, or none with UDP GSO;
// the short final block ends the window early and is remembered as last;
// a resend counts its blocks as retransmits.
func TestSendWindowBatches(t *testing.T) {
	t.Run("sendmmsg", func(t *testing.T) { testSendWindow(t, false) })
	// UDP GSO: each batch is one send that the kernel splits into datagrams.
	t.Run("gso", func(t *testing.T) { testSendWindow(t, true) })
}

func testSendWindow(t *testing.T, gso bool) {
	const blksize = 512
	data, src := fileSource(t, 40*blksize+100) // 41 blocks, the last one short

	s, peer := sockPair(t)
	x := &xfer{conn: s, src: src, p: params{blksize: blksize, window: 64}}
	x.allocPkts()
	if gso {
		if !s.setSegment(4 + blksize) {
			t.Skip("no UDP_SEGMENT in this kernel")
		}
	}
	if len(x.pkts) != batchMax {
		t.Fatalf("%d packet buffers, want %d", len(x.pkts), batchMax)
	}

	buf := make([]byte, 1024)
	expect := func(from, to int64) {
		t.Helper()
		peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		for b := from; b <= to; b++ {
			n, _, err := peer.ReadFrom(buf)
			if err != nil {
				t.Fatalf("block %d: %v", b, err)
			}
			if op, k := binary.BigEndian.Uint16(buf), binary.BigEndian.Uint16(buf[2:]); op != opDATA || int64(k) != b {
				t.Fatalf("got op %d block %d, want DATA %d", op, k, b)
			}
			off := (b - 1) * blksize
			want := data[off:min(off+blksize, int64(len(data)))]
			if !bytes.Equal(buf[4:n], want) {
				t.Fatalf("block %d: %d bytes, not the file's %d", b, n-4, len(want))
			}
		}
		peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, _, err := peer.ReadFrom(buf); err == nil {
			t.Fatalf("a datagram after block %d", to)
		}
	}

	// Blocks 1..40 (40 of the 64-block window; 41 is short and ends it).
	if err := x.sendWindow(false); err != nil {
		t.Fatal(err)
	}
	expect(1, 41)
	if x.last != 41 || x.lastLen != 100 || x.sentMax != 41 {
		t.Fatalf("last %d lastLen %d sentMax %d, want 41 100 41", x.last, x.lastLen, x.sentMax)
	}
	if want := map[bool]int{false: 3, true: 0}[gso]; s.batches != want { // 16 + 16 + 9, or none
		t.Fatalf("%d sendmmsg calls, want %d", s.batches, want)
	}
	if x.retransmits != 0 {
		t.Fatalf("%d retransmits on the first send", x.retransmits)
	}

	// The client acknowledged 20: the resend starts at 21.
	x.base = 20
	if err := x.sendWindow(true); err != nil {
		t.Fatal(err)
	}
	expect(21, 41)
	if x.retransmits != 21 {
		t.Fatalf("%d retransmits, want 21", x.retransmits)
	}

	// Lock-step: one block per window, no sendmmsg.
	y := &xfer{conn: s, src: src, p: params{blksize: blksize, window: 1}}
	y.allocPkts()
	before := s.batches
	for y.base = 0; y.base < 3; y.base++ {
		if err := y.sendWindow(false); err != nil {
			t.Fatal(err)
		}
	}
	expect(1, 3)
	if s.batches != before {
		t.Fatalf("lock-step used sendmmsg")
	}
}

// TestSendWindowGSOFallback: a route whose MTU is below a datagram makes the
// kernel refuse a GSO send even where it would fragment a plain one; the
// transfer then sends the same batch, and the following ones, with
// sendmmsg.
func TestSendWindowGSOFallback(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "mtu", "1200").CombinedOutput(); err != nil {
		t.Fatalf("lower the loopback MTU: %v: %s", err, out)
	}
	const blksize = 1468
	data, src := fileSource(t, 10*blksize)

	s, peer := sockPair(t)
	// Fragment datagrams above the MTU instead of refusing them (a plain
	// send then works, a GSO send still does not).
	var err error
	s.rc.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
	})
	if err != nil {
		t.Fatal(err)
	}
	x := &xfer{conn: s, src: src, p: params{blksize: blksize, window: 4}}
	x.allocPkts()
	if !s.setSegment(4 + blksize) {
		t.Skip("no UDP_SEGMENT in this kernel")
	}
	buf := make([]byte, 2048)
	for x.base = 0; x.base < 8; x.base += 4 {
		if err := x.sendWindow(false); err != nil {
			t.Fatalf("window after %d: %v", x.base, err)
		}
		peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		for b := x.base + 1; b <= x.base+4; b++ {
			n, _, err := peer.ReadFrom(buf)
			if err != nil {
				t.Fatalf("block %d: %v", b, err)
			}
			off := (b - 1) * blksize
			if k := binary.BigEndian.Uint16(buf[2:]); int64(k) != b || !bytes.Equal(buf[4:n], data[off:off+blksize]) {
				t.Fatalf("block %d: got block %d, %d bytes", b, k, n-4)
			}
		}
	}
	if s.segment != 0 {
		t.Fatal("GSO still on after the kernel refused it")
	}
	if s.batches != 2 {
		t.Fatalf("%d sendmmsg calls, want 2 (both windows)", s.batches)
	}
}

// fileSource writes size patterned bytes to a file and returns them with an
// octet source reading it (closed when the test ends).
func fileSource(t *testing.T, size int) ([]byte, *octetSource) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	_, f := tempFile(t, data)
	src := newOctetSource(f, int64(size), newReadAheadPool())
	t.Cleanup(src.release)
	return data, src
}

// TestSegmented: a batch goes as one GSO send only when it is one buffer of
// full segments but the last; anything else goes by sendmmsg.
func TestSegmented(t *testing.T) {
	const seg = 8
	buf := make([]byte, 4*seg)
	s := &sock{batch: batch{segment: seg}}
	full := [][]byte{buf[0:seg], buf[seg : 2*seg], buf[2*seg : 2*seg+3]}
	if whole, ok := s.segmented(full); !ok || len(whole) != 2*seg+3 || &whole[0] != &buf[0] {
		t.Fatalf("back to back, last short: %d bytes, %v", len(whole), ok)
	}
	other := make([]byte, seg)
	for name, pkts := range map[string][][]byte{
		"one":          {buf[0:seg]},
		"gap":          {buf[0:seg], buf[2*seg : 3*seg]},
		"short middle": {buf[0:seg], buf[seg : seg+3], buf[2*seg : 3*seg]},
		"other buffer": {buf[0:seg], other},
		"empty last":   {buf[0:seg], buf[seg:seg]},
	} {
		if _, ok := s.segmented(pkts); ok {
			t.Errorf("%s: taken as one GSO send", name)
		}
	}
	if _, ok := (&sock{}).segmented(full); ok {
		t.Error("GSO off: taken as one GSO send")
	}
}

// TestGSOLeavesOtherPacketsWhole: a windowed transfer sends its windows with
// UDP GSO, and its OACK and ERROR packets still go out as one datagram each
// (at blksize 8 the segment is 12 bytes, shorter than both).
func TestGSOLeavesOtherPacketsWhole(t *testing.T) {
	if s, _ := sockPair(t); !s.setSegment(12) {
		t.Skip("no UDP GSO in this kernel")
	}
	ts := serveFile(t, Config{RetransmitTimeout: 5 * time.Second}, strings.Repeat("z", 200))
	rc := newRawClient(t, ts.addr)
	rc.request(opRRQ, "f", "octet", "blksize", "8", "windowsize", "8", "tsize", "0")
	want := appendOACK(nil, []option{{"blksize", "8"}, {"windowsize", "8"}, {"tsize", "200"}})
	if b := rc.mustRecv(); !bytes.Equal(b, want) {
		t.Fatalf("OACK %q; want %q in one datagram", b, want)
	}
	rc.ack(0)
	for i := uint16(1); i <= 8; i++ {
		b := rc.mustRecv()
		if dataBlock(t, b) != i || len(b) != 12 {
			t.Fatalf("got block %d of %d bytes; want block %d of 12", dataBlock(t, b), len(b), i)
		}
	}
	rc.send([]byte{0, opDATA, 0, 1, 'x'})
	wantError(t, rc.mustRecv(), errCodeIllegalOp, "illegal operation")
	if st := ts.next(t); st.Err == nil {
		t.Fatalf("stats %+v; want the illegal operation", st)
	}
}
