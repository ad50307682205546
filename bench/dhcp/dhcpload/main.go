// Command dhcpload is the ProxyDHCP load generator of the pxeproxy benchmark
// (bench/dhcp/run.sh). It sends PXE DISCOVERs (distinct MACs and xids, option
// 93 alternating 0 and 7) to one or more ProxyDHCP servers (-target, each on
// its own link) and measures, in order: one-at-a-time latency (the targets in
// turn, request by request, so they share the same machine noise),
// closed-loop throughput with N requests in flight, and the share of a
// back-to-back burst that is answered (these two one target at a time). Given
// a server's PID it reads its CPU time and peak RSS from /proc.
//
// It opens a broadcast DHCP socket: run it only inside a network namespace
// made for the test (run.sh does), never on a real network.
//
// With -v6 it sends DHCPv6 SOLICITs instead (v6.go): the same sockets,
// phases and results, the request and the reply check aside.
//
// With -table A.json B.json it prints the comparison table of two runs.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Result is one server's run; run.sh keeps it as JSON for -table.
type Result struct {
	Name        string        `json:"name"`
	PID         int           `json:"pid,omitempty"`
	Seq         PhaseResult   `json:"seq"`
	Closed      PhaseResult   `json:"closed"`
	Burst       PhaseResult   `json:"burst"`
	InFlight    int           `json:"in_flight"`
	Stray       int64         `json:"stray"`
	Replies     int           `json:"replies"`
	CPU         time.Duration `json:"cpu_ns"`
	SysCPU      time.Duration `json:"sys_cpu_ns"` // the kernel's part of CPU
	CPUPerReply time.Duration `json:"cpu_per_reply_ns"`
	PeakRSS     int64         `json:"peak_rss_bytes"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dhcpload:", err)
		os.Exit(1)
	}
}

// target is one server under test: -target NAME,IFACE[,PID].
type target struct {
	name, iface string
	pid         int
	c           *client
	res         Result
}

type targetList []*target

func (l *targetList) String() string { return fmt.Sprint(len(*l), " targets") }

func (l *targetList) Set(v string) error {
	f := strings.Split(v, ",")
	if len(f) < 2 || len(f) > 3 || f[0] == "" {
		return fmt.Errorf("want NAME,IFACE[,PID], got %q", v)
	}
	t := &target{name: f[0], iface: f[1]}
	if len(f) == 3 {
		pid, err := strconv.Atoi(f[2])
		if err != nil || pid <= 0 {
			return fmt.Errorf("want a PID, got %q", f[2])
		}
		t.pid = pid
	}
	*l = append(*l, t)
	return nil
}

// cpu returns the server's CPU time so far (0 when no PID was given).
func (t *target) cpu() cpuUse {
	if t.pid == 0 {
		return cpuUse{}
	}
	d, err := cpuTime(t.pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dhcpload:", err)
	}
	return d
}

func run() error {
	var (
		targets  targetList
		server   = flag.String("server", "255.255.255.255:67", "where DISCOVERs go")
		out      = flag.String("out", "", "write each target's result as JSON to DIR/NAME.json")
		rcvbuf   = flag.Int("rcvbuf", 64<<20, "generator receive buffer in bytes (SO_RCVBUFFORCE)")
		burstN   = flag.Int("burst", 20000, "DISCOVERs in the burst (0: skip)")
		inflight = flag.Int("inflight", 32, "requests in flight in the closed loop")
		closed   = flag.Duration("closed", 5*time.Second, "closed-loop duration (0: skip)")
		seqN     = flag.Int("seq", 10000, "one-at-a-time requests per target (0: skip)")
		seqMax   = flag.Duration("seq-max", 60*time.Second, "upper bound on the one-at-a-time phase")
		timeout  = flag.Duration("timeout", time.Second, "a request without reply after this is lost")
		quiet    = flag.Duration("quiet", time.Second, "the burst ends when no reply came for this long")
		show     = flag.Bool("show", false, "print the first BIOS and UEFI reply of each target decoded")
		table    = flag.Bool("table", false, "print the table comparing two JSON results given as arguments (candidate, reference)")
	)
	flag.Var(&targets, "target", "server under test as NAME,IFACE[,PID]: DISCOVERs leave by IFACE (SO_BINDTODEVICE), PID is read for CPU time and peak RSS; repeat for several servers")
	flag.Parse()
	if *table {
		if flag.NArg() != 2 {
			return fmt.Errorf("-table needs two result files, got %d", flag.NArg())
		}
		return printTable(os.Stdout, flag.Arg(0), flag.Arg(1))
	}
	if len(targets) == 0 {
		return fmt.Errorf("no -target given")
	}
	dst, err := net.ResolveUDPAddr("udp4", *server)
	if err != nil {
		return fmt.Errorf("flag -server %q: %w", *server, err)
	}
	family := "" // in the phase names
	if *v6Mode {
		family = "IPv6 "
	}
	var cs []*client
	for _, t := range targets {
		c, err := dialClient(t.iface, *rcvbuf, dst, *v6Mode)
		if err != nil {
			return fmt.Errorf("target %s: %w", t.name, err)
		}
		defer c.conn.Close()
		go c.receive()
		t.c = c
		t.res = Result{Name: t.name, PID: t.pid, InFlight: *inflight}
		cs = append(cs, c)
	}
	for _, t := range targets {
		if err := t.c.waitReady(1, 200*time.Millisecond, 10*time.Second); err != nil {
			return fmt.Errorf("target %s: %w", t.name, err)
		}
	}
	settle()

	// A phase set to 0 is skipped (quick experiments, profiles of one phase).
	if *seqN > 0 && !*v6Mode {
		chks := make([]*checker, len(targets))
		fns := make([]func([]byte), len(targets))
		t0 := make([]cpuUse, len(targets))
		for i, t := range targets {
			chks[i] = &checker{show: *show, name: t.name}
			fns[i] = chks[i].check
			t0[i] = t.cpu()
		}
		rs, err := oneAtATime(cs, 2, *seqN, *seqMax, *timeout, fns)
		if err != nil {
			return err
		}
		settle()
		for i, t := range targets {
			r := rs[i]
			r.setCPU(t.cpu().sub(t0[i]))
			r.Malformed += chks[i].bad
			r.Answered -= chks[i].bad
			r.NoFile = chks[i].noFile
			r.Errors = append(r.Errors, chks[i].errs...)
			t.res.Seq = r
			report(t.name, "one at a time (targets in turn)", r)
		}
	}
	// Throughput phases run one target at a time: servers must not compete.
	for _, t := range targets {
		if *closed <= 0 {
			break
		}
		t0 := t.cpu()
		r := t.c.lanes(3, *inflight, 1<<24, *closed, *timeout)
		settle()
		r.setCPU(t.cpu().sub(t0))
		t.res.Closed = r
		report(t.name, fmt.Sprintf("%sclosed loop, %d in flight", family, *inflight), r)
	}
	for _, t := range targets {
		if *burstN <= 0 {
			break
		}
		t0 := t.cpu()
		r, copies := t.c.burst(4, *burstN, *quiet, 30*time.Second)
		settle()
		r.setCPU(t.cpu().sub(t0))
		if !*v6Mode {
			r.check(copies)
		}
		t.res.Burst = r
		report(t.name, fmt.Sprintf("%sburst of %d", family, *burstN), r)
	}

	for _, t := range targets {
		res := &t.res
		if t.pid != 0 {
			res.CPU = res.Seq.CPU + res.Closed.CPU + res.Burst.CPU
			res.SysCPU = res.Seq.SysCPU + res.Closed.SysCPU + res.Burst.SysCPU
			res.Replies = res.Seq.Answered + res.Closed.Answered + res.Burst.Answered
			if res.Replies > 0 {
				res.CPUPerReply = res.CPU / time.Duration(res.Replies)
			}
			if res.PeakRSS, err = peakRSS(t.pid); err != nil {
				return fmt.Errorf("target %s: %w", t.name, err)
			}
		}
		res.Stray = t.c.stray.Load()
		fmt.Fprintf(os.Stderr, "%s: server cpu %s (sys %s) for %d replies = %s/reply, peak rss %.1f MiB, %d late replies\n",
			t.name, res.CPU, res.SysCPU, res.Replies, res.CPUPerReply, float64(res.PeakRSS)/(1<<20), res.Stray)
		if *out == "" {
			continue
		}
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		if err := os.WriteFile(filepath.Join(*out, t.name+".json"), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		if *v6Mode {
			continue // no one-at-a-time phase
		}
		var lat []byte
		for _, d := range res.Seq.InOrder {
			lat = strconv.AppendInt(lat, int64(d), 10)
			lat = append(lat, '\n')
		}
		if err := os.WriteFile(filepath.Join(*out, t.name+".seq.txt"), lat, 0o644); err != nil {
			return fmt.Errorf("write latencies: %w", err)
		}
	}
	return nil
}

// check fully decodes the burst's replies. It runs after the burst so that it
// does not slow the receive loop while the server is being measured.
func (r *PhaseResult) check(copies [][]byte) {
	for _, b := range copies {
		if b == nil {
			continue
		}
		d, err := fullCheck(b)
		if err != nil {
			r.Malformed++
			r.Answered--
			r.note(err)
			continue
		}
		if !hasBootFile(d) {
			r.NoFile++
		}
	}
}

func (r *PhaseResult) setCPU(u cpuUse) { r.CPU, r.SysCPU = u.User+u.Sys, u.Sys }

// settle lets replies still in flight arrive before the CPU clock is read and
// the next phase starts (they count as late, not for the next phase).
func settle() { time.Sleep(300 * time.Millisecond) }

func report(name, what string, r PhaseResult) {
	fmt.Fprintf(os.Stderr, "%s: %s: sent %d answered %d lost %d dup %d malformed %d no-file %d send-errors %d in %s",
		name, what, r.Sent, r.Answered, r.Lost, r.Dup, r.Malformed, r.NoFile, r.SendErrors, r.Elapsed.Round(time.Millisecond))
	if r.SendTime > 0 {
		fmt.Fprintf(os.Stderr, " (sent in %s)", r.SendTime.Round(time.Millisecond))
	}
	if r.P50 > 0 {
		fmt.Fprintf(os.Stderr, " p50 %s p90 %s p95 %s p99 %s max %s", r.P50, r.P90, r.P95, r.P99, r.Max)
	}
	if r.Answered > 0 && r.CPU > 0 {
		fmt.Fprintf(os.Stderr, " cpu %s/reply (%.0f%% in the kernel)", r.CPU/time.Duration(r.Answered), 100*float64(r.SysCPU)/float64(r.CPU))
	}
	fmt.Fprintln(os.Stderr)
	for _, e := range r.Errors {
		fmt.Fprintf(os.Stderr, "%s:   error: %s\n", name, e)
	}
}

// checker fully decodes each one-at-a-time reply (off the latency clock).
type checker struct {
	mu     sync.Mutex
	show   bool
	name   string
	shown  map[iana.Arch]bool
	bad    int
	noFile int
	errs   []string
}

func (k *checker) check(b []byte) {
	d, err := fullCheck(b)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.bad++
		if len(k.errs) < 5 {
			k.errs = append(k.errs, err.Error())
		}
		return
	}
	if !hasBootFile(d) {
		k.noFile++
	}
	if !k.show {
		return
	}
	arch := archFor(counterOf(d))
	if k.shown == nil {
		k.shown = map[iana.Arch]bool{}
	}
	if !k.shown[arch] {
		k.shown[arch] = true
		fmt.Fprintf(os.Stderr, "%s: reply to a DISCOVER with option 93 = %d:\n%s\n", k.name, arch, d.Summary())
	}
}

func counterOf(d *dhcpv4.DHCPv4) uint32 {
	_, ctr := splitXid(binary.BigEndian.Uint32(d.TransactionID[:]))
	return ctr
}
