package tftpd

import (
	"os"
	"runtime"
	"testing"
)

// TestProcsRaise checks the GOMAXPROCS policy: while at most heldMax
// transfers run and they outnumber the runtime's Ps-1, one P per transfer
// plus one; beyond heldMax, and once they are done, the runtime's default.
// The spin rule keeps counting against the runtime's own value.
func TestProcsRaise(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS set in the environment: the policy is off")
	}
	defer runtime.SetDefaultGOMAXPROCS()
	cpus := runtime.GOMAXPROCS(0)
	c := newProcsCtl()
	check := func(when string, wantProcs int) {
		t.Helper()
		if got := runtime.GOMAXPROCS(0); got != wantProcs {
			t.Fatalf("%s: GOMAXPROCS %d, want %d", when, got, wantProcs)
		}
		if got := c.held.Load(); got != int32(wantProcs-1) {
			t.Fatalf("%s: held budget %d, want %d", when, got, wantProcs-1)
		}
		if got := c.cpus.Load(); got != int32(cpus) {
			t.Fatalf("%s: spin counts against %d, want the runtime's %d", when, got, cpus)
		}
	}
	for i := 1; i <= heldMax; i++ {
		c.add(1)
		check("transfers up", max(cpus, i+1))
	}
	c.add(1)
	check("heldMax+1 transfers", cpus)
	c.add(-1)
	check("back to heldMax", max(cpus, heldMax+1))
	for c.active > 0 {
		c.add(-1)
		check("transfers down", max(cpus, c.active+1))
	}
	check("no transfers", cpus)

	fixed := newProcsCtl()
	fixed.fixed = true
	for range 3 {
		fixed.add(1)
	}
	if got := runtime.GOMAXPROCS(0); got != cpus {
		t.Fatalf("GOMAXPROCS from the environment: changed to %d, want %d", got, cpus)
	}
}

// TestServerRaisesProcs: the server's transfers drive the policy, a second
// running transfer gets a P of its own, and the default is back once both
// are done.
func TestServerRaisesProcs(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS set in the environment: the policy is off")
	}
	cpus := runtime.GOMAXPROCS(0)
	dir := t.TempDir()
	writeFile(t, dir, "f", "one block")
	ts := startServer(t, Config{}, dir)
	a, b := newRawClient(t, ts.addr), newRawClient(t, ts.addr)
	a.request(opRRQ, "f", "octet")
	b.request(opRRQ, "f", "octet")
	dataBlock(t, a.mustRecv())
	dataBlock(t, b.mustRecv())
	if got, want := runtime.GOMAXPROCS(0), max(cpus, 3); got != want {
		t.Fatalf("two transfers running: GOMAXPROCS %d, want %d", got, want)
	}
	a.ack(1)
	b.ack(1)
	for range 2 {
		if st := ts.next(t); st.Err != nil {
			t.Fatalf("transfer: %v", st.Err)
		}
	}
	if got := runtime.GOMAXPROCS(0); got != cpus {
		t.Fatalf("transfers done: GOMAXPROCS %d, want the default %d", got, cpus)
	}
}
