//go:build linux

// Package netnstest runs tests that open DHCP sockets inside private network
// namespaces, so that no packet of a test can reach a real network.
//
// Private re-runs the calling test in a namespace of its own (`unshare
// --net`), even when the suite already runs in a private one: `go test ./...`
// runs packages in parallel, and two tests binding port 67 in one namespace
// would collide.
// Inside it, Netns creates named namespaces joined to the test's own by veth
// pairs, and Do runs a function with the calling OS thread switched into one
// of them: sockets opened there stay there. Bridge joins several peers into
// one LAN; Dnsmasq runs a real DHCP server on it.
package netnstest

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pxeproxy/pxeproxy/internal/testlog"
)

const childEnv = "PXEPROXY_NETNS_CHILD"

// Prefix starts the name of every interface and namespace these helpers make.
const Prefix = "pxt"

// Private makes sure the test runs in a network namespace of its own. It
// returns true in the re-run child, which goes on with the test. In the
// parent it runs this one test again in a new namespace, reports that run's
// output and result as its own, and returns false: the caller returns.
func Private(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) != "" {
		if err := run("ip", "link", "set", "lo", "up"); err != nil {
			t.Fatalf("bring up loopback: %v", err)
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it creates network namespaces (run the suite with scripts/test.sh)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--net", "--", exe, "-test.run", "^" + t.Name() + "$", "-test.v", "-test.count=1"}
	if f := flag.Lookup("test.timeout"); f != nil {
		args = append(args, "-test.timeout="+f.Value.String()) // the child stops in time too
	}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	// A parent killed by its timeout takes the child with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread() // Pdeathsig follows the thread that starts the child
	out, err := cmd.CombinedOutput()
	runtime.UnlockOSThread()
	t.Logf("re-ran in a private network namespace (unshare --net):\n%s", out)
	if err != nil {
		t.Fatalf("in the private namespace: %v", err)
	}
	return false
}

var seq atomic.Int64

// Peer is a namespace joined to the test's namespace by a veth pair.
type Peer struct {
	NS        string // namespace name
	HostIf    string // veth end in the test's namespace
	PeerIf    string // veth end inside NS
	HostAddr  net.IP
	PeerAddr  net.IP
	HostIndex int
}

// Netns creates a namespace and a veth pair with hostCIDR on the test's side
// and peerCIDR on the other (both "a.b.c.d/nn"); removed when the test ends.
func Netns(t *testing.T, hostCIDR, peerCIDR string) *Peer {
	t.Helper()
	sweepOnce.Do(sweep)
	n := seq.Add(1)
	p := &Peer{
		NS: fmt.Sprintf("%s%d-%d", Prefix, os.Getpid(), n),
		// Unique across the test processes `go test ./...` runs at once in
		// the same namespace (at most 15 bytes: IFNAMSIZ).
		HostIf: fmt.Sprintf("%sh%x-%x", Prefix, os.Getpid(), n),
		PeerIf: fmt.Sprintf("%sp%x-%x", Prefix, os.Getpid(), n),
	}
	steps := [][]string{
		{"ip", "netns", "add", p.NS},
		{"ip", "link", "add", p.HostIf, "type", "veth", "peer", "name", p.PeerIf},
		{"ip", "link", "set", p.PeerIf, "netns", p.NS},
		{"ip", "addr", "add", hostCIDR, "dev", p.HostIf},
		{"ip", "link", "set", p.HostIf, "up"},
		{"ip", "-n", p.NS, "addr", "add", peerCIDR, "dev", p.PeerIf},
		{"ip", "-n", p.NS, "link", "set", p.PeerIf, "up"},
		{"ip", "-n", p.NS, "link", "set", "lo", "up"},
	}
	t.Cleanup(func() {
		_ = run("ip", "link", "del", p.HostIf)
		_ = run("ip", "netns", "del", p.NS)
	})
	for _, s := range steps {
		if err := run(s...); err != nil {
			t.Fatalf("set up namespace: %v", err)
		}
	}
	p.HostAddr, _, _ = net.ParseCIDR(hostCIDR)
	p.PeerAddr, _, _ = net.ParseCIDR(peerCIDR)
	ifc, err := net.InterfaceByName(p.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	p.HostIndex = ifc.Index
	return p
}

var sweepOnce sync.Once

// sweep removes the namespaces of test processes that are gone: a test
// killed outright (SIGKILL, a CI job stopped) runs no cleanup, and a named
// namespace outlives every process in it. The name holds its maker's pid.
func sweep() {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		var pid, n int
		if _, err := fmt.Sscanf(e.Name(), Prefix+"%d-%d", &pid, &n); err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = run("ip", "netns", "del", e.Name())
		}
	}
}

// Do runs fn on an OS thread switched into the peer's namespace. Sockets
// that fn opens belong to that namespace for their whole life.
func (p *Peer) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is not unlocked: it ends with the goroutine, so a
		// thread whose namespace changed is never reused by the runtime.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + p.NS)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", p.NS, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Dnsmasq runs a DHCP-only dnsmasq (no DNS) on iface, inside namespace
// ns ("" for the test's own), until the test ends, and waits until it holds
// UDP 67.
func Dnsmasq(t *testing.T, ns, iface string, args ...string) *exec.Cmd {
	t.Helper()
	dir := t.TempDir()
	cmdline := []string{"dnsmasq", "--conf-file=/dev/null", "--keep-in-foreground", "--no-resolv", "--no-hosts",
		"--port=0", "--no-ping", "--log-facility=-", "--log-dhcp", "--user=root", "--group=root",
		"--pid-file=" + dir + "/pid", "--dhcp-leasefile=" + dir + "/leases", "--interface=" + iface}
	cmdline = append(cmdline, args...)
	if ns != "" {
		cmdline = append([]string{"ip", "netns", "exec", ns}, cmdline...)
	}
	var out testlog.Buffer
	cmd := exec.Command(cmdline[0], cmdline[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Logf("dnsmasq log:\n%s", out.String())
	})
	for i := 0; ; i++ {
		check := []string{"ss", "-Hnlu", "sport = :67"}
		if ns != "" {
			check = append([]string{"ip", "netns", "exec", ns}, check...)
		}
		got, _ := exec.Command(check[0], check[1:]...).Output()
		if len(bytes.TrimSpace(got)) > 0 {
			return cmd
		}
		if i == 50 {
			t.Fatalf("dnsmasq does not hold port 67 after 5 s:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SiteLAN builds a LAN shared by the test's namespace (where pxeproxy runs,
// <p>.0.2), the site's DHCP server (corp, <p>.0.1) and a PXE client
// (client, <p>.0.9), all /24 on bridge br; p is the first two bytes of the
// addresses, such as "10.71".
func SiteLAN(t *testing.T, p string) (corp, client *Peer, br string) {
	t.Helper()
	corp = Netns(t, p+".1.1/30", p+".0.1/24")
	client = Netns(t, p+".1.5/30", p+".0.9/24")
	return corp, client, bridge(t, p+".0.2/24", corp, client)
}

// bridge puts the test's ends of the peers' veth pairs into one bridge
// carrying cidr: a LAN with every peer and the test's namespace on it.
func bridge(t *testing.T, cidr string, peers ...*Peer) string {
	t.Helper()
	br := fmt.Sprintf("%sbr%d", Prefix, os.Getpid()%10000)
	must(t, "ip", "link", "add", br, "type", "bridge", "forward_delay", "0")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", br).Run() })
	for _, p := range peers {
		must(t, "ip", "addr", "flush", "dev", p.HostIf)
		must(t, "ip", "link", "set", p.HostIf, "master", br)
	}
	must(t, "ip", "addr", "add", cidr, "dev", br)
	must(t, "ip", "link", "set", br, "up")
	return br
}

func must(t *testing.T, args ...string) {
	t.Helper()
	if err := run(args...); err != nil {
		t.Fatal(err)
	}
}

func run(args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// WaitDAD waits until duplicate address detection is over for every IPv6
// address of both ends of the veth pair: a tentative address can be neither
// a source nor a destination.
func (p *Peer) WaitDAD(t *testing.T) {
	t.Helper()
	waitDAD(t, "", p.HostIf)
	waitDAD(t, p.NS, p.PeerIf)
}

// waitDAD waits for the addresses of dev in namespace ns ("" for the test's
// own).
func waitDAD(t *testing.T, ns, dev string) {
	t.Helper()
	args := []string{"-6", "addr", "show", "dev", dev}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		if !strings.Contains(string(out), "tentative") && strings.Contains(string(out), "scope link") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("addresses of %s still tentative:\n%s", dev, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
