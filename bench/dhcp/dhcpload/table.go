package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"
)

func readResult(path string) (Result, error) {
	var r Result
	b, err := os.ReadFile(path)
	if err != nil {
		return r, fmt.Errorf("read result: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("decode result %s: %w", path, err)
	}
	return r, nil
}

func pct(p PhaseResult) float64 {
	if p.Sent == 0 {
		return 0
	}
	return 100 * float64(p.Answered) / float64(p.Sent)
}

func rate(p PhaseResult) float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Answered) / p.Elapsed.Seconds()
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// printTable compares a candidate (a) with a reference (b) and checks the
// targets of issue 2: CPU per reply at most half the reference's, the whole
// burst answered, p99 at most the reference's, peak RSS at most 16 MiB.
func printTable(w io.Writer, pathA, pathB string) error {
	a, err := readResult(pathA)
	if err != nil {
		return err
	}
	b, err := readResult(pathB)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "metric\t%s\t%s\tratio\ttarget\t\n", a.Name, b.Name)
	row := func(metric, format string, va, vb float64, target string, ok bool) {
		ratio := "-"
		if vb != 0 {
			ratio = fmt.Sprintf("%.2f", va/vb)
		}
		mark := ""
		if target != "" {
			mark = " ok"
			if !ok {
				mark = " MISS"
			}
		}
		fmt.Fprintf(tw, "%s\t"+format+"\t"+format+"\t%s\t%s%s\t\n", metric, va, vb, ratio, target, mark)
	}
	ca, cb := us(a.CPUPerReply), us(b.CPUPerReply)
	row("CPU per reply (µs)", "%.1f", ca, cb, "<= 0.5x", cb > 0 && ca <= cb/2)
	share := func(r Result) float64 {
		if r.CPU == 0 {
			return 0
		}
		return 100 * float64(r.SysCPU) / float64(r.CPU)
	}
	row("  of which in the kernel (%)", "%.0f", share(a), share(b), "", true)
	pa, pb := pct(a.Burst), pct(b.Burst)
	row(fmt.Sprintf("burst of %d answered (%%)", a.Burst.Sent), "%.1f", pa, pb, "100 %", a.Burst.Sent > 0 && a.Burst.Answered == a.Burst.Sent)
	row(fmt.Sprintf("closed loop, %d in flight (replies/s)", a.InFlight), "%.0f", rate(a.Closed), rate(b.Closed), "", true)
	row("one at a time p50 (µs)", "%.0f", us(a.Seq.P50), us(b.Seq.P50), "", true)
	row("one at a time p99 (µs)", "%.0f", us(a.Seq.P99), us(b.Seq.P99), "<= 1x", a.Seq.P99 > 0 && a.Seq.P99 <= b.Seq.P99)
	row("peak RSS (MiB)", "%.1f", float64(a.PeakRSS)/(1<<20), float64(b.PeakRSS)/(1<<20), "<= 16 MiB", a.PeakRSS > 0 && a.PeakRSS <= 16<<20)
	bad := func(r Result) float64 { return float64(r.Seq.Malformed + r.Closed.Malformed + r.Burst.Malformed) }
	row("malformed replies", "%.0f", bad(a), bad(b), "0", bad(a) == 0)
	return tw.Flush()
}
