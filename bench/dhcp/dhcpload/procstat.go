package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime/stime in /proc/PID/stat. It is 100 on
// every Linux architecture Go supports (the kernel reports sysconf(_SC_CLK_TCK)).
const clockTick = 10 * time.Millisecond

// cpuUse is a process's user and system (kernel) CPU time.
type cpuUse struct{ User, Sys time.Duration }

func (a cpuUse) sub(b cpuUse) cpuUse { return cpuUse{a.User - b.User, a.Sys - b.Sys} }

// cpuTime returns utime and stime of the whole process (all threads,
// including exited ones) from /proc/PID/stat.
func cpuTime(pid int) (cpuUse, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuUse{}, fmt.Errorf("read cpu time: %w", err)
	}
	return parseStat(b)
}

// parseStat reads fields 14 and 15 of /proc/PID/stat. The comm field (2) may
// contain spaces and parentheses, so fields are counted after the last ')'.
func parseStat(b []byte) (cpuUse, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpuUse{}, fmt.Errorf("parse stat: no comm field")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return cpuUse{}, fmt.Errorf("parse stat: %d fields after comm", len(f))
	}
	var ticks [2]int64
	for j, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return cpuUse{}, fmt.Errorf("parse stat: %w", err)
		}
		ticks[j] = v
	}
	return cpuUse{time.Duration(ticks[0]) * clockTick, time.Duration(ticks[1]) * clockTick}, nil
}

// peakRSS returns VmHWM (peak resident set size) in bytes from /proc/PID/status.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read peak rss: %w", err)
	}
	return parseHWM(b)
}

func parseHWM(b []byte) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("parse status: odd VmHWM line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse status: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("parse status: no VmHWM line")
}
