package tftpd

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestNegotiateMsftwindow(t *testing.T) {
	eth := limits{blksize: 1468, window: 64, size: 70000}
	// What the Windows boot manager asks when its BCD sets a window
	// (docs/windows-bootmgr-tftp.md).
	bootmgr := []option{{"blksize", "1456"}, {"windowsize", "4"}, {"msftwindow", "31416"}}
	checkNegotiate(t, map[string]negotiateCase{
		"granted beside windowsize": {lim: eth, opts: bootmgr,
			want:     params{blksize: 1456, window: 4, varMax: 64},
			wantOACK: []option{{"blksize", "1456"}, {"windowsize", "4"}, {"msftwindow", "27182"}}},
		"asked before windowsize, case kept": {lim: eth, opts: []option{{"MsftWindow", "31416"}, {"windowsize", "8"}},
			want:     params{blksize: 512, window: 8, varMax: 64},
			wantOACK: []option{{"windowsize", "8"}, {"MsftWindow", "27182"}}},
		"capped by config": {lim: limits{blksize: 1468, window: 16}, opts: []option{{"windowsize", "32"}, {"msftwindow", "31416"}},
			want:     params{blksize: 512, window: 16, varMax: 16},
			wantOACK: []option{{"windowsize", "16"}, {"msftwindow", "27182"}}},
		"without windowsize": {lim: eth, opts: []option{{"blksize", "1456"}, {"msftwindow", "31416"}},
			want: params{blksize: 1456, window: 1}, wantOACK: []option{{"blksize", "1456"}}},
		"windowsize invalid": {lim: eth, opts: []option{{"windowsize", "0"}, {"msftwindow", "31416"}},
			want: params{blksize: 512, window: 1}},
		"lock-step by config": {lim: limits{blksize: 1468, window: 1}, opts: bootmgr,
			want:     params{blksize: 1456, window: 1},
			wantOACK: []option{{"blksize", "1456"}, {"windowsize", "1"}}},
		"the server's value": {lim: eth, opts: []option{{"windowsize", "4"}, {"msftwindow", "27182"}},
			want: params{blksize: 512, window: 4}, wantOACK: []option{{"windowsize", "4"}}},
		"odd values": {lim: eth, opts: []option{{"windowsize", "4"}, {"msftwindow", "031416"}, {"msftwindow", "31416 "},
			{"msftwindow", "31415"}, {"msftwindow", ""}, {"msftwindow", "99999999999999999999999"}},
			want: params{blksize: 512, window: 4}, wantOACK: []option{{"windowsize", "4"}}},
		"odd then valid duplicate": {lim: eth, opts: []option{{"msftwindow", "1"}, {"windowsize", "4"}, {"MSFTWINDOW", "31416"}},
			want:     params{blksize: 512, window: 4, varMax: 64},
			wantOACK: []option{{"windowsize", "4"}, {"MSFTWINDOW", "27182"}}},
		"valid duplicate echoed once": {lim: eth, opts: []option{{"windowsize", "4"}, {"msftwindow", "31416"}, {"msftwindow", "31416"}},
			want:     params{blksize: 512, window: 4, varMax: 64},
			wantOACK: []option{{"windowsize", "4"}, {"msftwindow", "27182"}}},
	})
}

// msftClient is a rawClient that asks for the variable window and checks
// what the server sends against what it asked for.
type msftClient struct {
	*rawClient
	blksize int
	want    []byte // what should arrive
	got     []byte
	base    uint16 // last block received in order
	acked   uint16 // last block acknowledged
	done    bool   // the final (short) block arrived
}

// newMsftClient asks for dir/f in octet mode; want is its content.
func newMsftClient(t *testing.T, ts *testServer, want []byte, blksize int, opts ...string) *msftClient {
	return newMsftClientMode(t, ts, "octet", want, blksize, opts...)
}

// newMsftClientMode asks for dir/f in mode; want is what should arrive.
func newMsftClientMode(t *testing.T, ts *testServer, mode string, want []byte, blksize int, opts ...string) *msftClient {
	t.Helper()
	mc := &msftClient{rawClient: newRawClient(t, ts.addr), blksize: blksize, want: want}
	opts = append([]string{"f", mode, "blksize", strconv.Itoa(blksize)}, opts...)
	mc.request(opRRQ, opts...)
	return mc
}

// ackWin acknowledges block k asking for win blocks next.
func (mc *msftClient) ackWin(k uint16, win byte) {
	mc.acked = k
	mc.send(append(binary.BigEndian.AppendUint16([]byte{0, opACK}, k), win))
}

// expect receives n blocks, each the next in order, then checks that nothing
// more comes: the server sent exactly the window asked for.
func (mc *msftClient) expect(n int) {
	mc.t.Helper()
	for range n {
		b := mc.mustRecv()
		if k := dataBlock(mc.t, b); k != mc.base+1 {
			mc.t.Fatalf("got block %d; want %d", k, mc.base+1)
		}
		mc.base++
		mc.got = append(mc.got, b[4:]...)
		mc.done = len(b)-4 < mc.blksize
	}
	if b := mc.recv(30 * time.Millisecond); b != nil {
		mc.t.Fatalf("block %d past the window of %d", dataBlock(mc.t, b), n)
	}
}

// burst is how many blocks the server should send after an ACK asking for
// ask: ask clamped to 1..limit, and no further than the final block.
func (mc *msftClient) burst(ask byte, limit int) int {
	if mc.done {
		return 0
	}
	return min(max(int(ask), 1), limit, (len(mc.want)-len(mc.got))/mc.blksize+1)
}

func (mc *msftClient) check(ts *testServer, retransmits int) {
	mc.t.Helper()
	if !bytes.Equal(mc.got, mc.want) {
		mc.t.Fatalf("got %d bytes, not the file's %d", len(mc.got), len(mc.want))
	}
	if st := ts.next(mc.t); st.Err != nil || st.Bytes != int64(len(mc.want)) || st.Retransmits != retransmits {
		mc.t.Fatalf("stats %+v; want %d retransmits", st, retransmits)
	}
}

// startMsft serves a random file of n bytes with cfg and asks for it in
// octet mode with 100-byte blocks and opts.
func startMsft(t *testing.T, cfg Config, n int, opts ...string) (*testServer, *msftClient) {
	t.Helper()
	dir := t.TempDir()
	randomFile(t, dir, "f", int64(n))
	b, err := os.ReadFile(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, cfg, dir)
	return ts, newMsftClient(t, ts, b, 100, opts...)
}

// TestMsftwindowTransfer is a client that steers the window through its
// ACKs: every block arrives once and in order, and each burst is exactly
// the window the last ACK asked for, clamped to 1..WindowSizeMax.
func TestMsftwindowTransfer(t *testing.T) {
	const winMax = 16
	ts, mc := startMsft(t, Config{WindowSizeMax: winMax, RetransmitTimeout: 5 * time.Second}, 300*100+37, "windowsize", "2", "msftwindow", "31416")
	if oack := mc.mustRecv(); !bytes.Equal(oack, appendOACK(nil, []option{{"blksize", "100"}, {"windowsize", "2"}, {"msftwindow", "27182"}})) {
		t.Fatalf("OACK %q", oack)
	}
	// Grow, shrink, and the odd values: 0 means 1, above the cap the cap.
	asks := []byte{3, 1, 8, 16, 0, 200, 255, 5, 2, 64, 17, 7}
	for i := 0; !mc.done; i++ {
		ask := asks[i%len(asks)]
		mc.ackWin(mc.base, ask)
		mc.expect(mc.burst(ask, winMax))
	}
	mc.ackWin(mc.base, 9)
	mc.check(ts, 0)
}

// TestMsftwindowNetascii: netascii remembers where each block of the window
// starts, so a window grown past the OACK's must still be served.
func TestMsftwindowNetascii(t *testing.T) {
	dir := t.TempDir()
	src := bytes.Repeat([]byte("line\r\nbare\rfeed\n"), 400)
	writeFile(t, dir, "f", string(src))
	want := bytes.ReplaceAll(bytes.ReplaceAll(src, []byte("\r"), []byte("\r\x00")), []byte("\n"), []byte("\r\n"))
	ts := startServer(t, Config{RetransmitTimeout: 5 * time.Second}, dir)
	mc := newMsftClientMode(t, ts, "netascii", want, 100, "windowsize", "2", "msftwindow", "31416")
	mc.mustRecv() // OACK
	for ask := byte(2); !mc.done; ask = min(ask*2, 64) {
		mc.ackWin(mc.base, ask)
		n := mc.burst(ask, 64)
		mc.expect(n)
		if n == 32 && !mc.done {
			// All but the first block of the window lost: the resend starts
			// 31 blocks back.
			mc.base, mc.got = mc.base-31, mc.got[:len(mc.got)-31*mc.blksize]
		}
	}
	mc.ackWin(mc.base, 1)
	if !bytes.Equal(mc.got, mc.want) {
		t.Fatalf("got %d bytes, want %d", len(mc.got), len(mc.want))
	}
	if st := ts.next(t); st.Err != nil {
		t.Fatalf("stats %+v", st)
	}
}

// TestMsftwindowShrinkOnLoss: a client that lost blocks re-acknowledges the
// last block it has with a smaller window; the resend after the timeout
// uses it.
func TestMsftwindowShrinkOnLoss(t *testing.T) {
	ts, mc := startMsft(t, Config{RetransmitTimeout: 500 * time.Millisecond}, 20*100, "windowsize", "8", "msftwindow", "31416")
	mc.mustRecv() // OACK
	mc.ackWin(0, 8)
	mc.expect(8)
	// Blocks 3..8 "lost": ACK 2 asking for 2 blocks, then, 3 and 4 lost
	// again, the duplicate that a gap makes, asking for 1.
	mc.base, mc.got = 2, mc.got[:200]
	mc.ackWin(2, 2)
	for range 2 {
		mc.mustRecv()
	}
	mc.ackWin(2, 1)
	start := time.Now()
	mc.expect(1)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("block 3 after %v; want it resent on the timeout", d)
	}
	mc.ackWin(20, 1) // never sent: ignored
	if b := mc.recv(50 * time.Millisecond); b != nil {
		t.Fatalf("unexpected block %d", dataBlock(t, b))
	}
	mc.ackWin(3, 64)
	mc.expect(18)
	mc.ackWin(21, 1)
	// Resent: 3 and 4, 3 alone, 4..8.
	mc.check(ts, 8)
}

// TestMsftwindowNotGranted: without the grant, the fifth byte of an ACK is
// ignored and the RFC 7440 window holds.
func TestMsftwindowNotGranted(t *testing.T) {
	ts, mc := startMsft(t, Config{RetransmitTimeout: 5 * time.Second}, 12*100+50, "windowsize", "4", "msftwindow", "3.1416")
	if oack := mc.mustRecv(); !bytes.Equal(oack, appendOACK(nil, []option{{"blksize", "100"}, {"windowsize", "4"}})) {
		t.Fatalf("OACK %q", oack)
	}
	for _, ask := range []byte{1, 64, 2, 9} {
		mc.ackWin(mc.base, ask)
		mc.expect(mc.burst(4, 4))
	}
	mc.ackWin(mc.base, 0)
	mc.check(ts, 0)
}

// TestMsftwindowHostileAcks: a flood of ACKs of every length and value that
// do not acknowledge a new block makes the server send nothing; each burst
// stays within 1..WindowSizeMax whatever the last byte said; the transfer
// then completes intact.
func TestMsftwindowHostileAcks(t *testing.T) {
	const winMax = 8
	ts, mc := startMsft(t, Config{WindowSizeMax: winMax, RetransmitTimeout: 5 * time.Second}, 60*100+1, "windowsize", "64", "msftwindow", "31416")
	mc.mustRecv() // OACK
	rnd := rand.New(rand.NewPCG(17, 1))
	flood := func() {
		t.Helper()
		for range 2000 {
			b := make([]byte, 2+rnd.IntN(700))
			for i := range b {
				b[i] = byte(rnd.Uint32())
			}
			b[0], b[1] = 0, opACK
			if len(b) >= 4 {
				// The last block acknowledged (steers, sends nothing), an
				// old one, or one never sent.
				k := []uint16{mc.acked, mc.acked - uint16(rnd.IntN(int(mc.acked)+1)), mc.base + winMax + 1 + uint16(rnd.IntN(60000))}[rnd.IntN(3)]
				binary.BigEndian.PutUint16(b[2:], k)
			}
			mc.send(b)
		}
		if b := mc.recv(200 * time.Millisecond); b != nil {
			t.Fatalf("the flood brought block %d", dataBlock(t, b))
		}
	}
	for i := 0; !mc.done; i++ {
		ask := byte(rnd.IntN(256))
		if i == 0 {
			ask = 255
		}
		mc.ackWin(mc.base, ask)
		mc.expect(mc.burst(ask, winMax))
		if i%3 == 0 {
			flood()
		}
	}
	mc.ackWin(mc.base, 0)
	mc.check(ts, 0)
}
