package dhcpserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"
)

// testTable serves the interfaces of *ifs (by name, addresses as given),
// on a clock the test moves; loads counts the reloads.
func testTable(ifs *map[string]string, now *time.Time, loads *int) *Table[string] {
	t := NewTable(nil, func(ifc *net.Interface, addrs []net.Addr) (string, bool) {
		a := (*ifs)[ifc.Name]
		return ifc.Name + "=" + a, a != ""
	})
	t.Lookup = func() ([]net.Interface, error) {
		*loads++
		var out []net.Interface
		for i, name := range []string{"eth0", "eth1", "lo"} {
			flags := net.FlagUp
			if name == "lo" {
				flags |= net.FlagLoopback
			}
			out = append(out, net.Interface{Index: i + 1, Name: name, Flags: flags})
		}
		return out, nil
	}
	t.AddrsOf = func(*net.Interface) ([]net.Addr, error) { return nil, nil }
	t.Now = func() time.Time { return *now }
	return t
}

// TestTable: unknown indexes reload at most every RefreshMissMin, known
// ones every RefreshEvery; loopback and interfaces build refuses are not
// served; Refresh says whether an entry changed and is rate-limited too.
func TestTable(t *testing.T) {
	ifs := map[string]string{"eth0": "10.0.0.1", "lo": "127.0.0.1"}
	now, loads := time.Unix(1000, 0), 0
	tab := testTable(&ifs, &now, &loads)
	if got := tab.Get(1); got != "eth0=10.0.0.1" {
		t.Fatalf("Get(1) = %q", got)
	}
	for range 100 {
		if tab.Get(2) != "" || tab.Get(3) != "" {
			t.Fatal("eth1 (refused by build) or lo (loopback) served")
		}
	}
	if loads != 1 {
		t.Fatalf("%d loads for misses within RefreshMissMin, want 1", loads)
	}
	ifs["eth1"] = "10.0.1.1"
	now = now.Add(RefreshMissMin + time.Millisecond)
	if got := tab.Get(2); got != "eth1=10.0.1.1" || loads != 2 {
		t.Fatalf("Get(2) after RefreshMissMin = %q after %d loads", got, loads)
	}
	if got := tab.Snapshot(); !slices.Equal(got, []string{"eth0=10.0.0.1", "eth1=10.0.1.1"}) {
		t.Fatalf("Snapshot = %q", got)
	}
	equal := func(a, b string) bool { return a == b }
	now = now.Add(RefreshMissMin + time.Millisecond)
	if tab.Refresh(equal) {
		t.Fatal("Refresh reports a change where there is none")
	}
	ifs["eth0"] = "10.0.0.2"
	if tab.Refresh(equal) {
		t.Fatal("Refresh within RefreshMissMin of the last load reloaded")
	}
	now = now.Add(RefreshMissMin + time.Millisecond)
	if !tab.Refresh(equal) || tab.Get(1) != "eth0=10.0.0.2" {
		t.Fatal("Refresh missed eth0's new address")
	}
	if !tab.Any(func(s string) bool { return s == "eth1=10.0.1.1" }) || tab.Any(func(s string) bool { return s == "" }) {
		t.Fatal("Any is wrong")
	}
}

// TestQueue: replies leave in order, not before their time; a full queue
// refuses; stop ends the sender, and what still waits is never sent.
func TestQueue(t *testing.T) {
	q := NewQueue[int](3)
	start := time.Now()
	for i := range 3 {
		if !q.Push(start.Add(50*time.Millisecond), i) {
			t.Fatalf("push %d refused", i)
		}
	}
	if q.Push(start, 3) || q.Len() != 3 {
		t.Fatalf("a full queue took a fourth reply (len %d)", q.Len())
	}
	sent := make(chan int, 10)
	stop := q.Start(context.Background(), func(_ context.Context, v int) { sent <- v })
	for i := range 3 {
		select {
		case v := <-sent:
			if v != i || time.Since(start) < 50*time.Millisecond {
				t.Fatalf("reply %d after %v, want %d after 50ms", v, time.Since(start), i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("reply %d not sent", i)
		}
	}
	q.Push(time.Now().Add(time.Hour), 9)
	stop()
	select {
	case v := <-sent:
		t.Fatalf("reply %d sent after stop", v)
	default:
	}
}

func TestReason(t *testing.T) {
	a, b := errors.New("reason-a"), errors.New("reason-b")
	for err, want := range map[error]string{
		fmt.Errorf("wrapped: %w", b):    "reason-b",
		a:                               "reason-a",
		errors.New("something else"):    "other",
		fmt.Errorf("both: %w %w", b, a): "reason-a", // the first of known wins
	} {
		if got := Reason(err, []error{a, b}); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}
