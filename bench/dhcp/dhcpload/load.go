package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

const batch = 64 // messages per sendmmsg/recvmmsg

// wire is what differs between the DHCPv4 and the DHCPv6 load: how a
// request is made and how a reply is checked. Everything else (sockets,
// phases, results) is shared.
type wire struct {
	size     int // length of every request
	counters int // how many requests one phase can tell apart
	// fill writes request ctr of phase id into dst (len(dst) == size).
	fill func(dst []byte, id uint8, ctr uint32)
	// check validates a reply cheaply enough for every reply at full rate
	// and returns the phase and counter of its request.
	check func(b []byte) (id uint8, ctr uint32, err error)
}

// checkXid makes a wire's check from check, which returns the xid of a
// valid reply, and split, the family's xid layout.
func checkXid(check func([]byte) (uint32, error), split func(uint32) (uint8, uint32)) func([]byte) (uint8, uint32, error) {
	return func(b []byte) (uint8, uint32, error) {
		xid, err := check(b)
		if err != nil {
			return 0, 0, err
		}
		id, ctr := split(xid)
		return id, ctr, nil
	}
}

// batchConn is the batch half of ipv4.PacketConn and ipv6.PacketConn:
// both Message types are golang.org/x/net's socket.Message.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// client is the generator's side on one link: one UDP socket (:68 for
// DHCPv4, where broadcast proxy offers arrive; [::]:546 for DHCPv6) bound
// to the test interface, and one receive loop that hands each reply to the
// running phase.
type client struct {
	iface string
	conn  *net.UDPConn
	pc    batchConn
	dst   *net.UDPAddr
	w     wire
	cur   atomic.Pointer[phase]
	stray atomic.Int64 // well-formed replies for no running phase (late ones)
}

// dialClient opens the client socket of one link: DHCPv4 (to dst, the
// -server address) or, with v6, DHCPv6 SOLICITs to ff02::1:2 on iface.
func dialClient(iface string, rcvbuf int, dst *net.UDPAddr, v6 bool) (*client, error) {
	var serr error
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		err := rc.Control(func(fd uintptr) {
			s := int(fd)
			serr = errors.Join(
				// FORCE ignores net.core.rmem_max (needs CAP_NET_ADMIN): the
				// generator must never be the one that drops replies.
				unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf),
				unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20),
			)
			if !v6 {
				// SO_REUSEADDR: oneAtATime's second socket on :68.
				serr = errors.Join(serr,
					unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
					unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_BROADCAST, 1))
			}
			if iface != "" {
				// Broadcasts and multicasts need an interface to leave by;
				// binding also keeps the test traffic on the test link.
				serr = errors.Join(serr, unix.BindToDevice(s, iface))
			}
		})
		return errors.Join(err, serr)
	}}
	network, laddr := "udp4", ":68"
	if v6 {
		network, laddr = "udp6", "[::]:546"
		dst = &net.UDPAddr{IP: net.ParseIP("ff02::1:2"), Port: 547, Zone: iface}
	}
	c, err := lc.ListenPacket(context.Background(), network, laddr)
	if err != nil {
		return nil, fmt.Errorf("listen %s %s on %s: %w", network, laddr, iface, err)
	}
	uc := c.(*net.UDPConn)
	cl := &client{iface: iface, conn: uc, dst: dst}
	if v6 {
		cl.pc, cl.w = ipv6.NewPacketConn(uc), wire6()
		return cl, nil
	}
	if cl.w, err = wire4(); err != nil {
		c.Close()
		return nil, err
	}
	cl.pc = ipv4.NewPacketConn(uc)
	return cl, nil
}

// receive runs until the socket is closed.
func (c *client) receive() {
	ms := make([]ipv4.Message, batch)
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
			c.handle(m.Buffers[0][:m.N], now)
		}
	}
}

func (c *client) handle(b []byte, now time.Time) {
	p := c.cur.Load()
	id, ctr, err := c.w.check(b)
	if err != nil {
		if p != nil {
			p.malformed(err)
		}
		return
	}
	if p == nil || p.id != id {
		c.stray.Add(1)
		return
	}
	if p.direct {
		return // oneAtATime reads its own copy
	}
	p.deliver(ctr, b, now)
}

// phase is the state of one measurement. Only the receive loop and the phase's
// own goroutines touch it, under mu.
type phase struct {
	id     uint8
	direct bool // replies are read by oneAtATime's own sockets
	mu     sync.Mutex
	res    PhaseResult

	// burst
	seen   []bool
	copies [][]byte
	done   chan struct{}
	last   time.Time

	// lanes: lane i has at most one request (ctr) in flight.
	laneCtr  []int64 // -1 when nothing is awaited
	laneSent []time.Time
	laneCh   []chan []byte
	lat      []time.Duration
	check    func([]byte)
	start    time.Time
	sent     atomic.Int64
}

// PhaseResult is what one phase measured.
type PhaseResult struct {
	Sent       int           `json:"sent"`
	Answered   int           `json:"answered"`
	Lost       int           `json:"lost"` // lanes: timed out
	Dup        int           `json:"dup"`
	Malformed  int           `json:"malformed"`
	SendErrors int           `json:"send_errors"`
	NoFile     int           `json:"no_file"` // decoded offers without a boot file
	Errors     []string      `json:"errors,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	SendTime   time.Duration `json:"send_ns,omitempty"` // burst: time to hand all packets to the kernel
	P50        time.Duration `json:"p50_ns,omitempty"`
	P90        time.Duration `json:"p90_ns,omitempty"`
	P95        time.Duration `json:"p95_ns,omitempty"`
	P99        time.Duration `json:"p99_ns,omitempty"`
	Max        time.Duration `json:"max_ns,omitempty"`
	CPU        time.Duration `json:"cpu_ns"`     // server utime+stime during the phase
	SysCPU     time.Duration `json:"sys_cpu_ns"` // of which stime (kernel)

	// InOrder is one-at-a-time's latency of each request in sending order,
	// -1 for a lost one (written next to the JSON, for tail analysis).
	InOrder []time.Duration `json:"-"`
}

func (p *phase) malformed(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.Malformed++
	p.res.note(err)
}

// sendFailed counts a request the generator could not send (it is not
// counted as sent, so it does not lower the answered share).
func (p *phase) sendFailed(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.SendErrors++
	p.res.note(fmt.Errorf("send: %w", err))
}

// note keeps the first few errors for the report.
func (r *PhaseResult) note(err error) {
	if len(r.Errors) < 5 {
		r.Errors = append(r.Errors, err.Error())
	}
}

func (p *phase) deliver(ctr uint32, b []byte, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen != nil { // burst
		if int(ctr) >= len(p.seen) {
			p.res.Dup++
			return
		}
		if p.seen[ctr] {
			p.res.Dup++
			return
		}
		p.seen[ctr] = true
		p.copies[ctr] = slices.Clone(b)
		p.res.Answered++
		p.last = now
		if p.res.Answered == len(p.seen) {
			close(p.done)
		}
		return
	}
	lane := int(ctr) % len(p.laneCtr)
	if p.laneCtr[lane] != int64(ctr) {
		p.res.Dup++ // a second or late reply
		return
	}
	p.laneCtr[lane] = -1
	p.res.Answered++
	if len(p.lat) < cap(p.lat) {
		p.lat = append(p.lat, now.Sub(p.laneSent[lane]))
	}
	var cp []byte
	if p.check != nil {
		cp = slices.Clone(b)
	}
	p.laneCh[lane] <- cp // buffered 1, and only one request is in flight per lane
}

// burst sends n requests back to back with sendmmsg, then waits until all are
// answered, no reply came for quiet, or limit passed.
func (c *client) burst(id uint8, n int, quiet, limit time.Duration) (PhaseResult, [][]byte) {
	p := &phase{id: id, seen: make([]bool, n), copies: make([][]byte, n), done: make(chan struct{})}
	plen := c.w.size
	buf := make([]byte, n*plen) // all packets built before the clock starts
	ms := make([]ipv4.Message, n)
	for i := range n {
		b := buf[i*plen : (i+1)*plen]
		c.w.fill(b, id, uint32(i))
		ms[i] = ipv4.Message{Buffers: [][]byte{b}, Addr: c.dst}
	}
	c.cur.Store(p)
	start := time.Now()
	sent := 0
	for fails := 0; sent < n && fails < 100; {
		k, err := c.pc.WriteBatch(ms[sent:min(sent+batch, n)], 0)
		sent += k
		if err != nil {
			p.sendFailed(err) // then retried, a bounded number of times
			fails++
			time.Sleep(time.Millisecond)
		}
	}
	sendTime := time.Since(start)
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-p.done:
			break wait
		case <-deadline.C:
			break wait
		case <-tick.C:
			p.mu.Lock()
			last := p.last
			p.mu.Unlock()
			if last.IsZero() {
				last = start.Add(sendTime)
			}
			if time.Since(last) > quiet {
				break wait
			}
		}
	}
	c.cur.Store(nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.Sent = sent
	p.res.SendTime = sendTime
	end := p.last
	if end.IsZero() {
		end = start
	}
	p.res.Elapsed = end.Sub(start)
	return p.res, p.copies
}

// newLanes prepares a phase of k lanes; each lane has at most one request in
// flight. check, when set, gets a copy of each reply (off the latency clock).
func (c *client) newLanes(id uint8, k, count int, check func([]byte)) *phase {
	p := &phase{id: id, laneCtr: make([]int64, k), laneSent: make([]time.Time, k),
		laneCh: make([]chan []byte, k), lat: make([]time.Duration, 0, min(count, 1<<20)),
		check: check, start: time.Now()}
	for i := range k {
		p.laneCtr[i] = -1
		p.laneCh[i] = make(chan []byte, 1)
	}
	c.cur.Store(p)
	return p
}

// roundTrip sends request ctr on lane and waits for its reply or the timeout.
// b is the lane's packet buffer, t its timer.
func (c *client) roundTrip(p *phase, lane, ctr int, b []byte, t *time.Timer, timeout time.Duration) {
	c.w.fill(b, p.id, uint32(ctr))
	p.mu.Lock()
	p.laneCtr[lane] = int64(ctr)
	p.laneSent[lane] = time.Now()
	p.mu.Unlock()
	if _, err := c.conn.WriteToUDP(b, c.dst); err != nil {
		p.sendFailed(err)
		p.mu.Lock()
		p.laneCtr[lane] = -1
		p.mu.Unlock()
		time.Sleep(time.Millisecond)
		return
	}
	p.sent.Add(1)
	t.Reset(timeout)
	select {
	case r := <-p.laneCh[lane]:
		if p.check != nil {
			p.check(r)
		}
	case <-t.C:
		p.mu.Lock()
		if p.laneCtr[lane] == int64(ctr) {
			p.laneCtr[lane] = -1
			p.res.Lost++
		}
		p.mu.Unlock()
		// The reply may have raced the timer: drop its token so it is not
		// taken for the next request's reply.
		select {
		case <-p.laneCh[lane]:
		default:
		}
	}
}

// finish ends a lanes or one-at-a-time phase and computes its latency
// percentiles.
func (c *client) finish(p *phase) PhaseResult {
	c.cur.Store(nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.Elapsed = time.Since(p.start)
	p.res.Sent = int(p.sent.Load())
	percentiles(&p.res, p.lat)
	return p.res
}

func percentiles(r *PhaseResult, lat []time.Duration) {
	slices.Sort(lat)
	if len(lat) > 0 {
		r.P50 = lat[len(lat)/2]
		r.P90 = lat[len(lat)*90/100]
		r.P95 = lat[len(lat)*95/100]
		r.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		r.Max = lat[len(lat)-1]
	}
}

// lanes runs a closed loop: each of k lanes sends a request, waits for its
// reply (or timeout) and sends the next, until count requests were sent or
// dur passed.
func (c *client) lanes(id uint8, k, count int, dur, timeout time.Duration) PhaseResult {
	p := c.newLanes(id, k, count, nil)
	stop := p.start.Add(dur)
	var wg sync.WaitGroup
	for lane := range k {
		wg.Go(func() {
			b := make([]byte, c.w.size)
			t := time.NewTimer(time.Hour)
			defer t.Stop()
			for ctr := lane; ctr < count && ctr < c.w.counters && time.Now().Before(stop); ctr += k {
				c.roundTrip(p, lane, ctr, b, t, timeout)
			}
		})
	}
	wg.Wait()
	return c.finish(p)
}

// oneAtATime measures latency with one request in flight in the whole run:
// request i goes to each client in turn, so that every server sees the same
// machine noise (the machine is shared; a tail measured minutes apart is not
// comparable), and each round starts with the next client, so that none
// always follows the same one.
//
// The instrument must add as little noise as it can: the requests go out
// and the replies come in on a locked thread of their own, through blocking
// system calls on a second socket per client (a broadcast reply reaches
// every socket on :68), timed right around them. Through the receive
// goroutine and the netpoller, every reply also waited for the generator's
// own scheduling (an epoll wake-up, a goroutine, a channel hand-off).
func oneAtATime(cs []*client, id uint8, count int, limit, timeout time.Duration, checks []func([]byte)) ([]PhaseResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fds := make([]int, len(cs))
	for i := range fds {
		fds[i] = -1
	}
	defer func() {
		for _, fd := range fds {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	ps := make([]*phase, len(cs))
	for i, c := range cs {
		fd, err := directSocket(c.iface, timeout)
		if err != nil {
			return nil, err
		}
		fds[i] = fd
		ps[i] = &phase{id: id, direct: true, lat: make([]time.Duration, 0, min(count, 1<<20)), start: time.Now()}
		c.cur.Store(ps[i])
	}
	b := make([]byte, cs[0].w.size)
	rb := make([]byte, 2048)
	stop := time.Now().Add(limit)
	for ctr := 0; ctr < count && time.Now().Before(stop); ctr++ {
		for j := range cs {
			i := (ctr + j) % len(cs)
			c, p := cs[i], ps[i]
			c.w.fill(b, id, uint32(ctr))
			sa := &unix.SockaddrInet4{Port: c.dst.Port, Addr: [4]byte(c.dst.IP.To4())}
			t0 := time.Now()
			if err := unix.Sendto(fds[i], b, 0, sa); err != nil {
				p.sendFailed(err)
				continue
			}
			p.sent.Add(1)
			p.res.InOrder = append(p.res.InOrder, -1)
			deadline := t0.Add(timeout)
			for {
				n, err := rawRecv(fds[i], rb)
				now := time.Now()
				if err == unix.EINTR {
					if now.After(deadline) {
						p.res.Lost++
						break
					}
					continue
				}
				if err != nil { // EAGAIN: SO_RCVTIMEO passed
					p.res.Lost++
					break
				}
				gotID, gotCtr, qerr := c.w.check(rb[:n])
				if qerr != nil {
					p.res.Malformed++
					continue
				}
				if gotID != id || gotCtr != uint32(ctr) {
					p.res.Dup++ // a late reply to an earlier request
					continue
				}
				p.res.Answered++
				p.lat = append(p.lat, now.Sub(t0))
				p.res.InOrder[len(p.res.InOrder)-1] = now.Sub(t0)
				if checks[i] != nil {
					checks[i](slices.Clone(rb[:n]))
				}
				break
			}
		}
	}
	out := make([]PhaseResult, len(cs))
	for i, c := range cs {
		out[i] = c.finish(ps[i])
	}
	return out, nil
}

// directSocket opens a blocking UDP socket on :68 bound to iface, with
// SO_RCVTIMEO = timeout, next to the client's own socket (SO_REUSEADDR).
func directSocket(iface string, timeout time.Duration) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	err = errors.Join(
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
	)
	if err == nil && iface != "" {
		err = unix.BindToDevice(fd, iface)
	}
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet4{Port: 68})
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("one-at-a-time socket on %s: %w", iface, err)
	}
	return fd, nil
}

// rawRecv is a blocking recv that keeps the thread's P (no scheduler
// bookkeeping around it): nothing else of the generator runs meanwhile.
func rawRecv(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// waitReady sends requests every interval until one is answered or limit
// passes, so that start-up cost is not part of any phase.
func (c *client) waitReady(id uint8, interval, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		r := c.lanes(id, 1, 1, interval, interval)
		if r.Answered > 0 {
			return nil
		}
	}
	return fmt.Errorf("no reply within %s", limit)
}
