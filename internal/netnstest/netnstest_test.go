package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// TestSweep: a namespace left by a test process that is gone is removed; one
// of a live process stays.
func TestSweep(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it creates network namespaces (run the suite with scripts/test.sh)")
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("%s%d-1", Prefix, gone.Process.Pid)
	live := fmt.Sprintf("%s%d-999999", Prefix, os.Getpid())
	for _, ns := range []string{dead, live} {
		if err := run("ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = run("ip", "netns", "del", ns) })
	}
	sweep()
	if _, err := os.Stat("/run/netns/" + dead); !os.IsNotExist(err) {
		t.Errorf("%s of a process that is gone: still there (%v)", dead, err)
	}
	if _, err := os.Stat("/run/netns/" + live); err != nil {
		t.Errorf("%s of this live process: %v", live, err)
	}
}
