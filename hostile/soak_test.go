//go:build linux

package hostile

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/netnstest"
)

// TestSoak is the long run behind the README's "Reliability" figures, not a
// CI test: with PXEPROXY_SOAK set to a duration (30m), it goes round the
// floods of TestHostileLAN, with honest DHCP and TFTP clients in each round,
// and samples RSS, goroutines and open files every 10 s; the figures must
// stay flat. bench/soak/run.sh runs it.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("PXEPROXY_SOAK"))
	if err != nil {
		t.Skip("set PXEPROXY_SOAK=30m to run the soak (bench/soak/run.sh)")
	}
	if !netnstest.Private(t) {
		return
	}
	l := newLab(t)
	floods := []func(context.Context){l.floodArchLabels, l.floodOneClient, l.floodDenied, l.floodGiaddr,
		l.flood4011, l.floodConflict, l.floodTFTPSlots, l.floodTFTPNames, l.floodHTTPIdle}
	start := time.Now()
	end := start.Add(d)
	next := start
	var samples []string
	var first, last [3]int64
	round := 0
	for time.Now().Before(end) {
		if time.Now().After(next) {
			s := l.sample(t)
			if len(samples) == 0 {
				first = s
			}
			last = s
			line := fmt.Sprintf("%6.0fs rss=%.1fMiB goroutines=%d fds=%d round=%d", time.Since(start).Seconds(),
				float64(s[0])/(1<<20), s[1], s[2], round)
			samples = append(samples, line)
			t.Log(line)
			next = next.Add(10 * time.Second)
		}
		f := floods[round%len(floods)]
		ctx, cancel := context.WithTimeout(context.Background(), floodFor)
		go f(ctx)
		if err := l.honestDiscover(); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		if err := l.honestTFTP(); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		<-ctx.Done()
		cancel()
		time.Sleep(200 * time.Millisecond)
		round++
	}
	t.Logf("first sample: rss %.1f MiB, %d goroutines, %d fds; last: rss %.1f MiB, %d goroutines, %d fds; %d rounds",
		float64(first[0])/(1<<20), first[1], first[2], float64(last[0])/(1<<20), last[1], last[2], round)
	if last[1] > first[1]*2+50 || last[2] > first[2]*2+50 {
		t.Errorf("goroutines or open files grew: %v -> %v", first, last)
	}
}

// sample reads pxeproxy's RSS (bytes), goroutines (from /metrics) and open
// file descriptors.
func (l *lab) sample(t *testing.T) [3]int64 {
	var s [3]int64
	pid := l.cmd.Process.Pid
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				s[0] = kb << 10
			}
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(l.get(t, "/metrics")))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			s[1], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s[2] = int64(len(ents))
	}
	return s
}
