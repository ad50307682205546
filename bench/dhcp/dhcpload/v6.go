package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// The IPv6 mode (-v6): EDK2-shaped DHCPv6 SOLICITs to ff02::1:2 on each
// target's link, ADVERTISEs back to the generator's link-local :546. The
// same closed-loop and burst phases and the same Result as IPv4, so that
// -table compares an IPv6 run with an IPv4 one. The one-at-a-time phase is
// not run: its blocking second socket relies on broadcast replies reaching
// every socket on :68, and unicast replies to :546 reach one.
var v6Mode = flag.Bool("v6", false, "send DHCPv6 SOLICITs to ff02::1:2 on each target's link instead of DHCPv4 DISCOVERs (-seq is not run)")

// A DHCPv6 transaction id has 24 bits: the phase takes the top 4, the
// counter the other 20 (a million requests a phase).
func makeXid6(phase uint8, ctr uint32) uint32 { return uint32(phase&0xf)<<20 | ctr&0xfffff }

func splitXid6(xid uint32) (uint8, uint32) { return uint8(xid >> 20 & 0xf), xid & 0xfffff }

// solicit6 is an EDK2 SOLICIT (Dhcp6Io.c Dhcp6SendSolicitMsg and
// PxeBcDhcp6.c PxeBcBuildDhcp6Options, in their order): Client ID
// (DUID-UUID, its last 4 bytes the counter: every request is another
// machine), Elapsed Time, empty IA_NA, ORO 59 60 23 16, UNDI, arch, vendor
// class 343 PXEClient. Its xid and UUID are patched per packet.
type solicit6 struct {
	b       []byte
	uuidEnd int // offset just past the DUID-UUID
}

func newSolicit6(arch uint16) solicit6 {
	opt := func(b []byte, code uint16, v ...byte) []byte {
		b = binary.BigEndian.AppendUint16(b, code)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		return append(b, v...)
	}
	b := []byte{1, 0, 0, 0}
	b = opt(b, 1, append([]byte{0, 4}, bytes.Repeat([]byte{0xaa}, 16)...)...)
	end := len(b)
	b = opt(b, 8, 0, 0)
	b = opt(b, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)
	b = opt(b, 6, 0, 59, 0, 60, 0, 23, 0, 16)
	b = opt(b, 62, 1, 3, 0)
	b = opt(b, 61, byte(arch>>8), byte(arch))
	class := fmt.Sprintf("PXEClient:Arch:%05d:UNDI:003000", arch)
	vc := binary.BigEndian.AppendUint32(nil, 343)
	vc = binary.BigEndian.AppendUint16(vc, uint16(len(class)))
	b = opt(b, 16, append(vc, class...)...)
	return solicit6{b: b, uuidEnd: end}
}

func (s solicit6) fill(dst []byte, xid uint32) {
	copy(dst, s.b)
	dst[1], dst[2], dst[3] = byte(xid>>16), byte(xid>>8), byte(xid)
	binary.BigEndian.PutUint32(dst[s.uuidEnd-4:], xid)
}

// pick alternates x86-64 (7) and AArch64 (11) UEFI clients.
func pick6(ts [2]solicit6, ctr uint32) solicit6 { return ts[ctr%2] }

var (
	errNotAdv     = errors.New("not an ADVERTISE")
	errLeases     = errors.New("an IA, address, status code or preference in a proxy ADVERTISE")
	errClientID   = errors.New("client id does not echo the request")
	errNoBootURL6 = errors.New("no tftp:// option 59")
	errOptions6   = errors.New("option list overruns the message")
)

// check6 validates an ADVERTISE without a decoder, cheaply enough for every
// reply at full rate, and returns its xid: ADVERTISE, no IA_NA/IA_TA/IA_PD/
// IAADDR/Status/Preference, Client ID echoing the DUID of that request,
// option 59 a tftp:// URL.
func check6(b []byte) (uint32, error) {
	if len(b) < 4 {
		return 0, errShort
	}
	if b[0] != 2 {
		return 0, errNotAdv
	}
	xid := uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	var clientOK, urlOK bool
	for o := b[4:]; len(o) > 0; {
		if len(o) < 4 {
			return 0, errOptions6
		}
		code, n := binary.BigEndian.Uint16(o), int(binary.BigEndian.Uint16(o[2:]))
		if len(o) < 4+n {
			return 0, errOptions6
		}
		v := o[4 : 4+n]
		o = o[4+n:]
		switch code {
		case 3, 4, 5, 7, 13, 25:
			return 0, errLeases
		case 1:
			clientOK = n == 18 && v[0] == 0 && v[1] == 4 && binary.BigEndian.Uint32(v[14:]) == xid
		case 59:
			urlOK = bytes.HasPrefix(v, []byte("tftp://["))
		}
	}
	if !clientOK {
		return 0, errClientID
	}
	if !urlOK {
		return 0, errNoBootURL6
	}
	return xid, nil
}

// client6 is the generator's side on one link: a UDP socket on [::]:546
// bound to the link, its receive loop handing each reply to the running
// phase.
type client6 struct {
	conn  *net.UDPConn
	pc    *ipv6.PacketConn
	dst   *net.UDPAddr
	ts    [2]solicit6
	cur   atomic.Pointer[phase]
	stray atomic.Int64
}

func dialClient6(iface string, rcvbuf int) (*client6, error) {
	var serr error
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		err := rc.Control(func(fd uintptr) {
			s := int(fd)
			serr = errors.Join(
				unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf),
				unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20),
				unix.BindToDevice(s, iface),
			)
		})
		return errors.Join(err, serr)
	}}
	c, err := lc.ListenPacket(context.Background(), "udp6", "[::]:546")
	if err != nil {
		return nil, fmt.Errorf("listen udp [::]:546 on %s: %w", iface, err)
	}
	uc := c.(*net.UDPConn)
	return &client6{conn: uc, pc: ipv6.NewPacketConn(uc), ts: [2]solicit6{newSolicit6(7), newSolicit6(11)},
		dst: &net.UDPAddr{IP: net.ParseIP("ff02::1:2"), Port: 547, Zone: iface}}, nil
}

func (c *client6) receive() {
	ms := make([]ipv6.Message, batch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	for {
		n, err := c.pc.ReadBatch(ms, 0)
		if err != nil {
			return
		}
		now := time.Now()
		for _, m := range ms[:n] {
			b := m.Buffers[0][:m.N]
			p := c.cur.Load()
			xid, err := check6(b)
			if err != nil {
				if p != nil {
					p.malformed(err)
				}
				continue
			}
			id, ctr := splitXid6(xid)
			if p == nil || p.id != id {
				c.stray.Add(1)
				continue
			}
			p.deliver(ctr, b, now)
		}
	}
}

// burst6 is burst for SOLICITs (see client.burst).
func (c *client6) burst6(id uint8, n int, quiet, limit time.Duration) PhaseResult {
	p := &phase{id: id, seen: make([]bool, n), copies: make([][]byte, n), done: make(chan struct{})}
	plen := len(c.ts[0].b)
	buf := make([]byte, n*plen)
	ms := make([]ipv6.Message, n)
	for i := range n {
		b := buf[i*plen : (i+1)*plen]
		pick6(c.ts, uint32(i)).fill(b, makeXid6(id, uint32(i)))
		ms[i] = ipv6.Message{Buffers: [][]byte{b}, Addr: c.dst}
	}
	c.cur.Store(p)
	start := time.Now()
	sent := 0
	for fails := 0; sent < n && fails < 100; {
		k, err := c.pc.WriteBatch(ms[sent:min(sent+batch, n)], 0)
		sent += k
		if err != nil {
			p.sendFailed(err)
			fails++
			time.Sleep(time.Millisecond)
		}
	}
	sendTime := time.Since(start)
	for end := start.Add(limit); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		p.mu.Lock()
		last, all := p.last, p.res.Answered == n
		p.mu.Unlock()
		if last.IsZero() {
			last = start.Add(sendTime)
		}
		if all || time.Since(last) > quiet {
			break
		}
	}
	c.cur.Store(nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.Sent, p.res.SendTime = sent, sendTime
	if !p.last.IsZero() {
		p.res.Elapsed = p.last.Sub(start)
	}
	return p.res
}

// lanes6 is the closed loop for SOLICITs (see client.lanes).
func (c *client6) lanes6(id uint8, k int, dur, timeout time.Duration) PhaseResult {
	p := &phase{id: id, laneCtr: make([]int64, k), laneSent: make([]time.Time, k),
		laneCh: make([]chan []byte, k), lat: make([]time.Duration, 0, 1<<18), start: time.Now()}
	for i := range k {
		p.laneCtr[i] = -1
		p.laneCh[i] = make(chan []byte, 1)
	}
	c.cur.Store(p)
	stop := p.start.Add(dur)
	var wg sync.WaitGroup
	for lane := range k {
		wg.Go(func() {
			b := make([]byte, len(c.ts[0].b))
			t := time.NewTimer(time.Hour)
			defer t.Stop()
			for ctr := lane; ctr < 1<<20 && time.Now().Before(stop); ctr += k {
				pick6(c.ts, uint32(ctr)).fill(b, makeXid6(id, uint32(ctr)))
				p.mu.Lock()
				p.laneCtr[lane], p.laneSent[lane] = int64(ctr), time.Now()
				p.mu.Unlock()
				if _, err := c.conn.WriteToUDP(b, c.dst); err != nil {
					p.sendFailed(err)
					p.mu.Lock()
					p.laneCtr[lane] = -1
					p.mu.Unlock()
					time.Sleep(time.Millisecond)
					continue
				}
				p.sent.Add(1)
				t.Reset(timeout)
				select {
				case <-p.laneCh[lane]:
				case <-t.C:
					p.mu.Lock()
					if p.laneCtr[lane] == int64(ctr) {
						p.laneCtr[lane], p.res.Lost = -1, p.res.Lost+1
					}
					p.mu.Unlock()
					select {
					case <-p.laneCh[lane]:
					default:
					}
				}
			}
		})
	}
	wg.Wait()
	c.cur.Store(nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.Elapsed = time.Since(p.start)
	p.res.Sent = int(p.sent.Load())
	percentiles(&p.res, p.lat)
	return p.res
}

// runV6 measures each target over IPv6: ready, closed loop, burst, CPU and
// peak RSS, and writes the same Result as IPv4 runs.
func runV6(targets targetList, rcvbuf, burstN, inflight int, closed, timeout, quiet time.Duration, out string) error {
	cs := make([]*client6, len(targets))
	for i, t := range targets {
		c, err := dialClient6(t.iface, rcvbuf)
		if err != nil {
			return fmt.Errorf("target %s: %w", t.name, err)
		}
		defer c.conn.Close()
		go c.receive()
		cs[i] = c
		t.res = Result{Name: t.name, PID: t.pid, InFlight: inflight}
		ready := false
		for end := time.Now().Add(10 * time.Second); !ready && time.Now().Before(end); {
			ready = c.lanes6(1, 1, 200*time.Millisecond, 200*time.Millisecond).Answered > 0
		}
		if !ready {
			return fmt.Errorf("target %s: no ADVERTISE within 10s", t.name)
		}
	}
	settle()
	for i, t := range targets {
		if closed > 0 {
			t0 := t.cpu()
			r := cs[i].lanes6(3, inflight, closed, timeout)
			settle()
			r.setCPU(t.cpu().sub(t0))
			t.res.Closed = r
			report(t.name, fmt.Sprintf("IPv6 closed loop, %d in flight", inflight), r)
		}
		if burstN > 0 {
			t0 := t.cpu()
			r := cs[i].burst6(4, burstN, quiet, 30*time.Second)
			settle()
			r.setCPU(t.cpu().sub(t0))
			t.res.Burst = r
			report(t.name, fmt.Sprintf("IPv6 burst of %d", burstN), r)
		}
	}
	for i, t := range targets {
		res := &t.res
		res.Stray = cs[i].stray.Load()
		if t.pid != 0 {
			res.CPU, res.SysCPU = res.Closed.CPU+res.Burst.CPU, res.Closed.SysCPU+res.Burst.SysCPU
			if res.Replies = res.Closed.Answered + res.Burst.Answered; res.Replies > 0 {
				res.CPUPerReply = res.CPU / time.Duration(res.Replies)
			}
			var err error
			if res.PeakRSS, err = peakRSS(t.pid); err != nil {
				return fmt.Errorf("target %s: %w", t.name, err)
			}
		}
		fmt.Fprintf(os.Stderr, "%s: server cpu %s (sys %s) for %d replies = %s/reply, peak rss %.1f MiB, %d late replies\n",
			t.name, res.CPU, res.SysCPU, res.Replies, res.CPUPerReply, float64(res.PeakRSS)/(1<<20), res.Stray)
		if out == "" {
			continue
		}
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		if err := os.WriteFile(filepath.Join(out, t.name+".json"), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	return nil
}
