package tftpd

import (
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// chaos is what a lossyRelay does to each datagram, in the spirit of
// `tc qdisc add dev lo root netem loss 2% reorder 5% duplicate 1% delay 1ms`:
// drop some, send some twice, delay most by delay and send the rest at once
// (so they overtake the delayed ones).
type chaos struct {
	loss, dup, reorder float64
	delay              time.Duration
}

// lossyRelay stands between TFTP clients and a server on loopback and
// applies chaos to every datagram in both directions. Each client gets its
// own pair of relay sockets so the TID rules of RFC 1350 still hold: the
// client sees replies from a new port, the server sees one client port.
//
// The kernel this was written on has no sch_netem (CONFIG_NET_SCH_NETEM is
// not set), so the impairment is done in-process; it also needs no root.
type lossyRelay struct {
	t      testing.TB
	srv    *net.UDPAddr
	c      chaos
	front  *net.UDPConn
	mu     sync.Mutex
	rnd    *rand.Rand
	byPeer map[string]*relaySession
	conns  []*net.UDPConn
}

type relaySession struct {
	client   *net.UDPAddr
	toServer *net.UDPConn // talks to the server
	toClient *net.UDPConn // the "transfer TID" the client sees
	mu       sync.Mutex
	srvTID   *net.UDPAddr
}

func startLossyRelay(t testing.TB, srv *net.UDPAddr, c chaos, seed uint64) *net.UDPAddr {
	r := &lossyRelay{t: t, srv: srv, c: c, rnd: rand.New(rand.NewPCG(seed, 1)), byPeer: map[string]*relaySession{}}
	r.front = r.listen()
	go func() {
		buf := make([]byte, 70000)
		for {
			n, from, err := r.front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			s := r.session(from)
			r.forward(s.toServer, buf[:n], r.srv)
		}
	}()
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.conns {
			c.Close()
		}
	})
	return r.front.LocalAddr().(*net.UDPAddr)
}

func (r *lossyRelay) listen() *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
	return c
}

func (r *lossyRelay) session(client *net.UDPAddr) *relaySession {
	r.mu.Lock()
	s, ok := r.byPeer[client.String()]
	r.mu.Unlock()
	if ok {
		return s
	}
	s = &relaySession{client: client, toServer: r.listen(), toClient: r.listen()}
	r.mu.Lock()
	r.byPeer[client.String()] = s
	r.mu.Unlock()
	go func() { // server -> client
		buf := make([]byte, 70000)
		for {
			n, from, err := s.toServer.ReadFromUDP(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.srvTID = from
			s.mu.Unlock()
			r.forward(s.toClient, buf[:n], s.client)
		}
	}()
	go func() { // client -> server's transfer TID
		buf := make([]byte, 70000)
		for {
			n, _, err := s.toClient.ReadFromUDP(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			to := s.srvTID
			s.mu.Unlock()
			if to != nil {
				r.forward(s.toServer, buf[:n], to)
			}
		}
	}()
	return s
}

func (r *lossyRelay) forward(c *net.UDPConn, b []byte, to *net.UDPAddr) {
	r.mu.Lock()
	drop, dup, early := r.rnd.Float64() < r.c.loss, r.rnd.Float64() < r.c.dup, r.rnd.Float64() < r.c.reorder
	r.mu.Unlock()
	if drop {
		return
	}
	p := append([]byte(nil), b...)
	send := func() { c.WriteToUDP(p, to) }
	copies := 1
	if dup {
		copies = 2
	}
	for range copies {
		if early {
			send()
		} else {
			time.AfterFunc(r.c.delay, send)
		}
	}
}

// TestLossAndReorder downloads through 2% loss, 5% reordering, 1%
// duplication and 1 ms delay, lock-step and windowed, with every real
// client, and checks every byte.
func TestLossAndReorder(t *testing.T) {
	dir := t.TempDir()
	sums := map[string][32]byte{
		"lock.bin":   randomFile(t, dir, "lock.bin", 512<<10),
		"window.bin": randomFile(t, dir, "window.bin", 3<<20),
		"small.bin":  randomFile(t, dir, "small.bin", 200<<10),
	}
	// A short retransmit timeout keeps recovery from lost packets fast.
	// The retries must outlast the clients' own timeouts: when the last
	// ACK of a window is lost (and the one extra ACK atftp sends for a
	// resent window too), atftp ignores the blocks it has and acknowledges
	// again only after its 5 s timeout; 30 retries (3 s) abandoned such
	// transfers first.
	ts := startServer(t, Config{RetransmitTimeout: 100 * time.Millisecond, Retries: 100}, dir)
	cases := []struct {
		name, file string
		get        getter
	}{
		{"curl lock-step 1468", "lock.bin", curlGet(1468)},
		{"tftp-hpa lock-step 512", "small.bin", hpaGet("binary")},
		{"atftp window 4 512", "small.bin", atftpGet(512, 4)},
		{"atftp window 16 1468", "window.bin", atftpGet(1468, 16)},
		{"atftp window 64 1468", "window.bin", atftpGet(1468, 64)},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			relay := startLossyRelay(t, ts.addr, chaos{loss: 0.02, dup: 0.01, reorder: 0.05, delay: time.Millisecond}, uint64(i))
			start := time.Now()
			out := filepath.Join(t.TempDir(), "out")
			c.get(t, relay, c.file, out)
			if sum, n := fileSum(t, out); sum != sums[c.file] {
				t.Fatalf("sha256 mismatch (%d bytes)", n)
			}
			// The last ACK may be lost after the client has everything, so
			// the server's verdict is logged, not checked.
			st := ts.next(t)
			t.Logf("%s: %v, %d retransmits, err=%v", c.name, time.Since(start).Round(time.Millisecond), st.Retransmits, st.Err)
		})
	}
	t.Run("pin client lock-step 1468", func(t *testing.T) {
		relay := startLossyRelay(t, ts.addr, chaos{loss: 0.02, dup: 0.01, reorder: 0.05, delay: time.Millisecond}, 99)
		if sum, _ := pinGet(t, relay, "small.bin", "octet", 1468); sum != sums["small.bin"] {
			t.Fatal("sha256 mismatch")
		}
		st := ts.next(t)
		t.Logf("pin: %d retransmits, err=%v", st.Retransmits, st.Err)
	})
}
