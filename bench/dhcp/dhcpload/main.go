// Command dhcpload is the ProxyDHCP load generator of the pxeproxy benchmark
// (bench/dhcp/run.sh). It sends PXE DISCOVERs (distinct MACs and xids, option
// 93 alternating 0 and 7) to a ProxyDHCP server and measures, in order:
// one-at-a-time latency, closed-loop throughput with N requests in flight, and
// the share of a back-to-back burst that is answered. With -pid it also reads
// the server's CPU time and peak RSS from /proc.
//
// It opens a broadcast DHCP socket: run it only inside a network namespace
// made for the test (run.sh does), never on a real network.
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
	CPUPerReply time.Duration `json:"cpu_per_reply_ns"`
	PeakRSS     int64         `json:"peak_rss_bytes"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dhcpload:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		name     = flag.String("name", "server", "label of the server in the output")
		iface    = flag.String("iface", "", "interface to send and receive on (SO_BINDTODEVICE)")
		server   = flag.String("server", "255.255.255.255:67", "where DISCOVERs go")
		pid      = flag.Int("pid", 0, "server PID for CPU time and peak RSS (0: not measured)")
		out      = flag.String("out", "", "write the result as JSON to this file")
		rcvbuf   = flag.Int("rcvbuf", 64<<20, "generator receive buffer in bytes (SO_RCVBUFFORCE)")
		burstN   = flag.Int("burst", 20000, "DISCOVERs in the burst")
		inflight = flag.Int("inflight", 32, "requests in flight in the closed loop")
		closed   = flag.Duration("closed", 5*time.Second, "closed-loop duration")
		seqN     = flag.Int("seq", 2000, "one-at-a-time requests")
		seqMax   = flag.Duration("seq-max", 60*time.Second, "upper bound on the one-at-a-time phase")
		timeout  = flag.Duration("timeout", time.Second, "a request without reply after this is lost")
		quiet    = flag.Duration("quiet", time.Second, "the burst ends when no reply came for this long")
		show     = flag.Bool("show", false, "print the first BIOS and UEFI reply decoded")
		table    = flag.Bool("table", false, "print the table comparing two JSON results given as arguments (candidate, reference)")
	)
	flag.Parse()
	if *table {
		if flag.NArg() != 2 {
			return fmt.Errorf("-table needs two result files, got %d", flag.NArg())
		}
		return printTable(os.Stdout, flag.Arg(0), flag.Arg(1))
	}
	dst, err := net.ResolveUDPAddr("udp4", *server)
	if err != nil {
		return fmt.Errorf("flag -server %q: %w", *server, err)
	}
	c, err := dialClient(*iface, *rcvbuf, dst)
	if err != nil {
		return err
	}
	defer c.conn.Close()
	go c.receive()

	if err := c.waitReady(1, 200*time.Millisecond, 10*time.Second); err != nil {
		return fmt.Errorf("server %s: %w", *name, err)
	}
	settle()
	res := Result{Name: *name, PID: *pid, InFlight: *inflight}
	cpu := func() time.Duration {
		if *pid == 0 {
			return 0
		}
		d, err := cpuTime(*pid)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dhcpload:", err)
		}
		return d
	}
	cpu0 := cpu()

	chk := &checker{show: *show}
	t0 := cpu()
	res.Seq = c.lanes(2, 1, *seqN, *seqMax, *timeout, chk.check)
	settle()
	res.Seq.CPU = cpu() - t0
	res.Seq.Malformed += chk.bad
	res.Seq.Answered -= chk.bad
	res.Seq.NoFile = chk.noFile
	res.Seq.Errors = append(res.Seq.Errors, chk.errs...)
	report(*name, "one at a time", res.Seq)

	t0 = cpu()
	res.Closed = c.lanes(3, *inflight, 1<<24, *closed, *timeout, nil)
	settle()
	res.Closed.CPU = cpu() - t0
	report(*name, fmt.Sprintf("closed loop, %d in flight", *inflight), res.Closed)

	t0 = cpu()
	var copies [][]byte
	res.Burst, copies = c.burst(4, *burstN, *quiet, 30*time.Second)
	settle()
	res.Burst.CPU = cpu() - t0
	// The full decode runs after the burst so that it does not slow the
	// receive loop while the server is being measured.
	for _, b := range copies {
		if b == nil {
			continue
		}
		d, err := fullCheck(b)
		if err != nil {
			res.Burst.Malformed++
			res.Burst.Answered--
			if len(res.Burst.Errors) < 5 {
				res.Burst.Errors = append(res.Burst.Errors, err.Error())
			}
			continue
		}
		if !hasBootFile(d) {
			res.Burst.NoFile++
		}
	}
	report(*name, fmt.Sprintf("burst of %d", *burstN), res.Burst)

	if *pid != 0 {
		res.CPU = cpu() - cpu0
		res.Replies = res.Seq.Answered + res.Closed.Answered + res.Burst.Answered
		if res.Replies > 0 {
			res.CPUPerReply = res.CPU / time.Duration(res.Replies)
		}
		if res.PeakRSS, err = peakRSS(*pid); err != nil {
			return err
		}
	}
	res.Stray = c.stray.Load()
	fmt.Fprintf(os.Stderr, "%s: server cpu %s for %d replies = %s/reply, peak rss %.1f MiB, %d late replies\n",
		*name, res.CPU, res.Replies, res.CPUPerReply, float64(res.PeakRSS)/(1<<20), res.Stray)
	if *out != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	return nil
}

// settle lets replies still in flight arrive before the CPU clock is read and
// the next phase starts (they count as late, not for the next phase).
func settle() { time.Sleep(300 * time.Millisecond) }

func report(name, what string, r PhaseResult) {
	fmt.Fprintf(os.Stderr, "%s: %s: sent %d answered %d lost %d dup %d malformed %d no-file %d in %s",
		name, what, r.Sent, r.Answered, r.Lost, r.Dup, r.Malformed, r.NoFile, r.Elapsed.Round(time.Millisecond))
	if r.SendTime > 0 {
		fmt.Fprintf(os.Stderr, " (sent in %s)", r.SendTime.Round(time.Millisecond))
	}
	if r.P50 > 0 {
		fmt.Fprintf(os.Stderr, " p50 %s p99 %s max %s", r.P50, r.P99, r.Max)
	}
	if r.Answered > 0 && r.CPU > 0 {
		fmt.Fprintf(os.Stderr, " cpu %s/reply", r.CPU/time.Duration(r.Answered))
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
		fmt.Fprintf(os.Stderr, "reply to a DISCOVER with option 93 = %d:\n%s\n", arch, d.Summary())
	}
}

func counterOf(d *dhcpv4.DHCPv4) uint32 {
	_, ctr := splitXid(binary.BigEndian.Uint32(d.TransactionID[:]))
	return ctr
}
