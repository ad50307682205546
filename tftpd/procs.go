package tftpd

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// A transfer waits for its ACKs in one of two ways (sock.recv): blocked in
// read(2) on a thread that keeps its P (heldRead), or parked in Go's
// netpoller. Held, a block is one wake-up of that thread by the client's
// ACK, straight on the CPU the client ran on; parked, it is a non-blocking
// read that finds nothing, a park, a netpoller wake-up and a goroutine
// switch. With many transfers the netpoller's thread finds several ready at
// each wake-up and the parked way is the cheaper; with a few, each ACK
// wakes that thread alone and costs more than the held way. Measured here
// (bench/tftp, 2 CPUs, 16 MiB to each curl at blksize 1468): 2 clients
// 39 MB/s with one held and one parked, 64-69 MB/s with both held (atftpd,
// a thread per transfer: 67); 8 clients 51 against 56-63 (atftpd 59); 32
// clients 58-61 with one held against 51-57 with all held (atftpd 51-58).
//
// A held thread keeps its P, and one P must always stay free for
// everything else (GOMAXPROCS-1 held at most). So while at most heldMax
// transfers run, procs raises GOMAXPROCS to one more than the number of
// transfers, and gives the runtime its default back as soon as there are
// fewer or more. An explicit GOMAXPROCS in the environment is left alone.
// Each change of GOMAXPROCS is a stop-the-world (here 34 µs median, 222 µs
// at most over 200 changes; runtime.SetDefaultGOMAXPROCS 151 µs), at most
// once per transfer start and end while at most heldMax run.
const heldMax = 8

type procsCtl struct {
	mu     sync.Mutex
	active int  // transfers running, all servers of the process
	raised bool // GOMAXPROCS set by us
	fixed  bool // GOMAXPROCS from the environment: never changed

	// held is how many transfers may wait in heldRead at once
	// (GOMAXPROCS-1); cpus is GOMAXPROCS as the runtime chose it, which the
	// spin rule counts against (sock.read). Read per block, so atomics.
	held atomic.Int32
	cpus atomic.Int32
}

var procs = newProcsCtl()

func newProcsCtl() *procsCtl {
	c := &procsCtl{fixed: os.Getenv("GOMAXPROCS") != ""}
	n := int32(runtime.GOMAXPROCS(0))
	c.held.Store(n - 1)
	c.cpus.Store(n)
	return c
}

// add records d transfers starting (d > 0) or ending (d < 0) and sets
// GOMAXPROCS for the new count.
func (c *procsCtl) add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active += d
	if c.fixed {
		return
	}
	if !c.raised {
		// The runtime may have changed its default since (a cgroup quota).
		c.cpus.Store(int32(runtime.GOMAXPROCS(0)))
	}
	cpus := int(c.cpus.Load())
	want := 0 // the runtime's default
	if c.active <= heldMax && c.active+1 > cpus {
		want = c.active + 1
	}
	switch {
	case want > 0:
		if !c.raised || int(c.held.Load()) != want-1 {
			// Lower the budget before GOMAXPROCS, raise it after: never
			// more transfers held than Ps-1.
			c.held.Store(min(c.held.Load(), int32(want-1)))
			runtime.GOMAXPROCS(want)
			c.held.Store(int32(want - 1))
			c.raised = true
		}
	case c.raised:
		c.held.Store(min(c.held.Load(), int32(cpus-1)))
		runtime.SetDefaultGOMAXPROCS()
		n := int32(runtime.GOMAXPROCS(0))
		c.cpus.Store(n)
		c.held.Store(n - 1)
		c.raised = false
	}
}
