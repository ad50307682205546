//go:build linux

package hostile

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxeproxy/pxeproxy/internal/netnstest"
	"golang.org/x/sys/unix"
)

// The bounds every flood is held to (issue: a hostile or broken LAN).
const (
	// maxRSS catches growth without bound, which reached hundreds of MB in
	// seconds. One process lives through every flood and the Go heap keeps
	// what earlier floods freed, so the later floods peak higher than the
	// first: the figures are in the README (Reliability).
	maxRSS        = 48 << 20 // bytes
	maxLogPerPush = 1 << 20  // bytes of log per flood
	maxMetrics    = 64 << 10 // bytes of /metrics
	floodFor      = 3 * time.Second
)

const binEnv = "PXEPROXY_HOSTILE_BIN"

// TestMain builds the real binary once; the re-runs in private namespaces
// inherit its path.
func TestMain(m *testing.M) {
	if os.Getenv(binEnv) == "" {
		dir, err := os.MkdirTemp("", "pxeproxy-hostile")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		bin := filepath.Join(dir, "pxeproxy")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/pxeproxy/pxeproxy").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build pxeproxy: %v\n%s", err, out)
			os.Exit(1)
		}
		os.Setenv(binEnv, bin)
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// lab is pxeproxy in the test's namespace and a LAN namespace where the
// attacker (10.77.0.50) and an honest client (10.77.0.60) live.
type lab struct {
	t    *testing.T
	lan  *netnstest.Peer
	cmd  *exec.Cmd
	root string

	logBytes atomic.Int64
	logMu    sync.Mutex
	logTail  []byte
	paused   atomic.Bool // the log reader stops reading (a stalled pipe)

	peakRSS atomic.Int64
	exited  chan error // the process's end

	capMu      sync.Mutex
	violations []string
	allowed    map[string]bool // extra unicast destinations (relays)

	replies  *net.UDPConn // the honest client's :68 socket in the LAN
	answered sync.Map     // xid -> true
	denied   atomic.Int64 // offers to a MAC of PXE_DENY_MACS
	hostMAC  net.HardwareAddr
	peerMAC  net.HardwareAddr
}

const (
	ourIP    = "10.77.0.1"
	attacker = "10.77.0.50"
	honest   = "10.77.0.60"
)

func TestHostileLAN(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	l := newLab(t)
	// Each flood runs for a few seconds against the one running binary; the
	// checks after each are the same: alive, memory, log volume, honest
	// clients answered, and (at the end) no packet to a forbidden place.
	floods := []struct {
		name string
		run  func(ctx context.Context)
	}{
		{"arch labels", l.floodArchLabels},
		{"one client's discovers", l.floodOneClient},
		{"deny list and odd hlen", func(ctx context.Context) {
			l.floodDenied(ctx)
			time.Sleep(500 * time.Millisecond) // PXE_REPLY_DELAY
			if n := l.denied.Load(); n > 0 {
				t.Errorf("%d offers went to a denied MAC (hlen 0, 3 or 5)", n)
			}
		}},
		{"giaddr", l.floodGiaddr},
		{"port 4011 sources", l.flood4011},
		{"conflict offers", l.floodConflict},
		{"tftp slots", l.floodTFTPSlots},
		{"tftp long names", l.floodTFTPNames},
		{"http idle connections", l.floodHTTPIdle},
		{"log output blocked", l.floodLogBlocked},
		// Last: the Go heap keeps some of what 256 transfers took for a
		// while, which the floods after it would count.
		{"tftp slots from many addresses", l.floodTFTPForged},
	}
	for _, f := range floods {
		t.Run(f.name, func(t *testing.T) { l.push(t, f.run) })
	}
	t.Run("tftp reflection", l.checkReflection)
	t.Run("metrics size", func(t *testing.T) {
		body := l.get(t, "/metrics")
		if len(body) > maxMetrics {
			t.Errorf("/metrics is %d bytes after the floods (bound %d)", len(body), maxMetrics)
		}
	})
	t.Run("capture", func(t *testing.T) {
		time.Sleep(500 * time.Millisecond)
		l.capMu.Lock()
		defer l.capMu.Unlock()
		if len(l.violations) > 0 {
			t.Errorf("%d packets left for destinations outside the rules, first: %s", len(l.violations), strings.Join(l.violations[:min(10, len(l.violations))], "; "))
		}
	})
	t.Run("shutdown with a blocked log", func(t *testing.T) {
		l.paused.Store(true)
		defer l.paused.Store(false)
		// Fill the pipe: each SIGHUP makes a line that names no client,
		// so no limit holds it back; 100 lines are over 4 KiB.
		for range 100 {
			_ = l.cmd.Process.Signal(syscall.SIGHUP)
			time.Sleep(5 * time.Millisecond)
		}
		start := time.Now()
		_ = l.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-l.exited:
			l.exited <- err
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("exit took %v with the log output blocked", d)
			}
		case <-time.After(10 * time.Second):
			t.Error("no exit 10 s after SIGTERM with the log output blocked")
			_ = l.cmd.Process.Kill()
		}
	})
}

func newLab(t *testing.T) *lab {
	l := &lab{t: t, allowed: map[string]bool{}}
	l.lan = netnstest.Netns(t, ourIP+"/24", attacker+"/24")
	sh(t, "ip", "-n", l.lan.NS, "addr", "add", honest+"/24", "dev", l.lan.PeerIf)
	// A default route through the LAN: a reply to 8.8.8.8 or any other
	// off-link place would show up in the capture instead of failing.
	sh(t, "ip", "route", "add", "default", "via", attacker)
	hi, err := net.InterfaceByName(l.lan.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	l.hostMAC = hi.HardwareAddr
	if err := l.lan.Do(func() error {
		pi, err := net.InterfaceByName(l.lan.PeerIf)
		if err == nil {
			l.peerMAC = pi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	l.root = t.TempDir()
	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)
	must(t, os.WriteFile(filepath.Join(l.root, "undionly.kpxe"), big, 0o644))
	must(t, os.WriteFile(filepath.Join(l.root, "snponly.efi"), big, 0o644))
	must(t, os.WriteFile(filepath.Join(l.root, "boot.ipxe"), []byte("#!ipxe\nexit\n"), 0o644))
	l.startCapture()
	l.startReplies()
	l.start()
	return l
}

func (l *lab) start() {
	t := l.t
	cmd := exec.Command(os.Getenv(binEnv))
	// Killed with the test process, even one killed by its timeout. The
	// signal follows the thread that started the child, so that thread
	// stays locked and alive until the child ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(),
		"PXE_INTERFACES="+l.lan.HostIf,
		"PXE_TFTP_ROOT="+l.root,
		"PXE_HTTP_ADDR=:8080",
		"PXE_DENY_MACS=02:de:00:00:00:01",
		"PXE_REPLY_DELAY=200ms",
		"PXE_SHUTDOWN_GRACE=2s",
		"PXE_DHCP_RCVBUF=1048576",
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The smallest pipe (one page): a paused reader then blocks the
	// program's log output after a few dozen lines, as a stalled
	// `docker logs` pipe does after 64 KiB.
	if f, ok := stderr.(*os.File); ok {
		if _, err := unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
			t.Fatalf("shrink the log pipe: %v", err)
		}
	}
	started := make(chan error)
	l.exited = make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			l.exited <- cmd.Wait()
		}
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	l.cmd = cmd
	t.Cleanup(func() {
		if l.alive() {
			_ = cmd.Process.Kill()
			<-l.exited
		}
		if t.Failed() {
			l.logMu.Lock()
			t.Logf("pxeproxy log tail:\n%s", l.logTail)
			l.logMu.Unlock()
		}
	})
	go l.readLogs(stderr)
	go l.sampleRSS()
	for range 100 {
		if r, err := http.Get("http://127.0.0.1:8080/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("pxeproxy never became healthy")
}

// readLogs counts the log bytes and keeps a tail; while paused it stops
// reading, so the pipe fills and the writer blocks.
func (l *lab) readLogs(r io.Reader) {
	buf := make([]byte, 64<<10)
	for {
		for l.paused.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		n, err := r.Read(buf)
		l.logBytes.Add(int64(n))
		l.logMu.Lock()
		l.logTail = append(l.logTail, buf[:n]...)
		if len(l.logTail) > 32<<10 {
			l.logTail = l.logTail[len(l.logTail)-16<<10:]
		}
		l.logMu.Unlock()
		if err != nil {
			return
		}
	}
}

// alive reports whether pxeproxy still runs.
func (l *lab) alive() bool {
	select {
	case err := <-l.exited:
		l.exited <- err
		return false
	default:
		return true
	}
}

func (l *lab) sampleRSS() {
	for l.alive() {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", l.cmd.Process.Pid))
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				for {
					old := l.peakRSS.Load()
					if kb<<10 <= old || l.peakRSS.CompareAndSwap(old, kb<<10) {
						break
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// push runs one flood for floodFor while an honest client boots, then
// checks the bounds.
func (l *lab) push(t *testing.T, flood func(ctx context.Context)) {
	l.peakRSS.Store(0)
	logStart := l.logBytes.Load()
	ctx, cancel := context.WithTimeout(context.Background(), floodFor)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); flood(ctx) }()
	// The honest client: DISCOVERs (retried like firmware) and a TFTP
	// download, during the flood.
	time.Sleep(500 * time.Millisecond)
	dhcpErr := l.honestDiscover()
	tftpErr := l.honestTFTP()
	wg.Wait()
	time.Sleep(300 * time.Millisecond) // the log writer's flush
	if !l.alive() {
		err := <-l.exited
		l.exited <- err
		t.Fatalf("pxeproxy is gone: %v", err)
	}
	if dhcpErr != nil {
		t.Errorf("honest DHCP client during the flood: %v", dhcpErr)
	}
	if tftpErr != nil {
		t.Errorf("honest TFTP client during the flood: %v", tftpErr)
	}
	if rss := l.peakRSS.Load(); rss > maxRSS {
		t.Errorf("peak RSS %.1f MiB (bound %d MiB)", float64(rss)/(1<<20), maxRSS>>20)
	}
	if n := l.logBytes.Load() - logStart; n > maxLogPerPush {
		t.Errorf("%d bytes of log for the flood (bound %d)", n, maxLogPerPush)
	}
	t.Logf("peak RSS %.1f MiB, log %d bytes", float64(l.peakRSS.Load())/(1<<20), l.logBytes.Load()-logStart)
}

var honestSeq atomic.Uint32

// honestDiscover sends a UEFI DISCOVER from a fresh MAC and waits for the
// proxy offer, retransmitting after 1, 2 and 4 s as firmware does.
func (l *lab) honestDiscover() error {
	n := honestSeq.Add(1)
	xid := dhcpv4.TransactionID{0xa0, 0, byte(n >> 8), byte(n)}
	mac := net.HardwareAddr{0x02, 0xaa, 0, 0, byte(n >> 8), byte(n)}
	pkt := discover(mac, xid, 7, "PXEClient:Arch:00007:UNDI:003016")
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if err := l.lan.Do(func() error {
			return sendUDP(honest, 68, net.IPv4bcast, 67, l.lan.PeerIf, pkt.ToBytes())
		}); err != nil {
			return err
		}
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			if _, ok := l.answered.Load(xid); ok {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return fmt.Errorf("no proxy offer for xid %s in 7 s (3 tries)", xid)
}

// honestTFTP downloads the BIOS boot file from the honest address with
// curl, an independent client.
func (l *lab) honestTFTP() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.lan.NS, "curl", "-sS", "--max-time", "8",
		"--interface", honest, "--tftp-blksize", "1428", "-o", "/dev/null", "-w", "%{size_download}",
		"tftp://"+ourIP+"/undionly.kpxe").CombinedOutput()
	if err != nil {
		return fmt.Errorf("curl: %v: %s", err, out)
	}
	if string(out) != strconv.Itoa(1<<20) {
		return fmt.Errorf("curl got %s bytes, want %d", out, 1<<20)
	}
	return nil
}

// startReplies listens on the LAN's port 68 and notes every proxy offer's
// xid (the honest client's among them).
func (l *lab) startReplies() {
	t := l.t
	if err := l.lan.Do(func() error {
		c, err := listenUDP(":68", l.lan.PeerIf)
		l.replies = c
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.replies.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := l.replies.Read(buf)
			if err != nil {
				return
			}
			if n > 240 && buf[0] == 2 && buf[4] == 0xa0 {
				l.answered.Store(dhcpv4.TransactionID(buf[4:8]), true)
			}
			if n > 240 && buf[0] == 2 && buf[28] == 0x02 && buf[29] == 0xde {
				l.denied.Add(1)
			}
		}
	}()
}

// startCapture reads every frame that reaches the LAN side and records UDP
// packets from our side whose destination breaks the rules: only the
// broadcast to port 68, a host on the LAN, or a relay the test named.
func (l *lab) startCapture() {
	t := l.t
	var fd int
	if err := l.lan.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_IP)))
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(l.lan.PeerIf)
		if err != nil {
			return err
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index})
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	_, lanNet, _ := net.ParseCIDR("10.77.0.0/24")
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			p := buf[:n]
			if len(p) < 28 || p[9] != unix.IPPROTO_UDP {
				continue
			}
			ihl := int(p[0]&0x0f) * 4
			src, dst := net.IP(p[12:16]), net.IP(p[16:20])
			if !src.Equal(net.ParseIP(ourIP)) && !src.IsUnspecified() && lanNet.Contains(src) {
				continue // sent by a LAN host, not by us
			}
			dport := binary.BigEndian.Uint16(p[ihl+2:])
			sport := binary.BigEndian.Uint16(p[ihl:])
			ok := src.Equal(net.ParseIP(ourIP)) &&
				((dst.Equal(net.IPv4bcast) && dport == 68) ||
					(lanNet.Contains(dst) && !dst.Equal(net.ParseIP("10.77.0.255")) && !dst.Equal(net.ParseIP("10.77.0.0"))))
			l.capMu.Lock()
			if !ok && !l.allowed[dst.String()] {
				l.violations = append(l.violations, fmt.Sprintf("%s:%d -> %s:%d", src, sport, dst, dport))
			}
			l.capMu.Unlock()
		}
	}()
}

// floodArchLabels: every option 93 value from iPXE and HTTPClient clients,
// which a metric label once took as it came.
func (l *lab) floodArchLabels(ctx context.Context) {
	l.sendLoop(ctx, func(i int) []byte {
		mac := net.HardwareAddr{0x02, 0xa1, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		var d *dhcpv4.DHCPv4
		if i%2 == 0 {
			d = discover(mac, xidOf(i), uint16(i), "PXEClient:Arch:00000:UNDI:002001")
			d.UpdateOption(dhcpv4.OptUserClass("iPXE"))
		} else {
			d = discover(mac, xidOf(i), uint16(i), "HTTPClient:Arch:00016:UNDI:003001")
		}
		return d.ToBytes()
	})
}

// floodOneClient: one MAC sending DISCOVERs as fast as it can.
func (l *lab) floodOneClient(ctx context.Context) {
	mac := net.HardwareAddr{0x02, 0xa2, 0, 0, 0, 1}
	l.sendLoop(ctx, func(i int) []byte { return discover(mac, xidOf(i), 0, "PXEClient:Arch:00000:UNDI:002001").ToBytes() })
}

// floodDenied: a denied MAC, also with hlen 0, 3 and 5, which once slipped
// past the deny list.
func (l *lab) floodDenied(ctx context.Context) {
	mac := net.HardwareAddr{0x02, 0xde, 0, 0, 0, 1}
	l.sendLoop(ctx, func(i int) []byte {
		b := discover(mac, xidOf(i), 7, "PXEClient:Arch:00007:UNDI:003016").ToBytes()
		b[2] = []byte{6, 0, 3, 5}[i%4]
		return b
	})
}

// floodGiaddr: relay addresses that are no relay.
func (l *lab) floodGiaddr(ctx context.Context) {
	bad := []string{"255.255.255.255", "10.77.0.255", "224.0.0.1", "127.0.0.1", ourIP, "0.0.0.1", "240.0.0.1"}
	l.sendLoop(ctx, func(i int) []byte {
		d := discover(net.HardwareAddr{0x02, 0xa4, 0, 0, byte(i >> 8), byte(i)}, xidOf(i), 0, "PXEClient:Arch:00000:UNDI:002001")
		d.GatewayIPAddr = net.ParseIP(bad[i%len(bad)])
		return d.ToBytes()
	})
}

// flood4011: boot-server requests from sources no client has: off-link,
// a subnet broadcast, and 0.0.0.0 to the broadcast address.
func (l *lab) flood4011(ctx context.Context) {
	type src struct {
		ip, dst string
		port    int
	}
	srcs := []src{{"8.8.8.8", ourIP, 53}, {"10.77.0.255", ourIP, 4011}, {"0.0.0.0", "255.255.255.255", 4011}, {"0.0.0.0", "255.255.255.255", 9}, {attacker, ourIP, 0}}
	var fd int
	_ = l.lan.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_IP)))
		return err
	})
	defer unix.Close(fd)
	var peerIndex int
	_ = l.lan.Do(func() error {
		i, err := net.InterfaceByName(l.lan.PeerIf)
		if err == nil {
			peerIndex = i.Index
		}
		return err
	})
	for i := 0; ctx.Err() == nil && i < 200_000; i++ {
		s := srcs[i%len(srcs)]
		d := discover(net.HardwareAddr{0x02, 0xa5, 0, 0, byte(i >> 8), byte(i)}, xidOf(i), 7, "PXEClient:Arch:00007:UNDI:003016")
		d.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRequest))
		d.ClientIPAddr = net.ParseIP(s.ip)
		dstMAC := l.hostMAC
		if s.dst == "255.255.255.255" {
			dstMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		}
		frame := spoofed(net.ParseIP(s.ip), s.port, net.ParseIP(s.dst), 4011, d.ToBytes())
		_ = unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: peerIndex, Halen: 6, Addr: mac8(dstMAC)})
		if i%64 == 63 {
			time.Sleep(time.Millisecond)
		}
	}
}

// floodConflict: a fake DHCP server whose option 54 changes in every
// broadcast offer, which once defeated "once per server".
func (l *lab) floodConflict(ctx context.Context) {
	l.sendEach(ctx, attacker+":67", &net.UDPAddr{IP: net.IPv4bcast, Port: 68}, 300_000, func(i int) []byte {
		o, _ := dhcpv4.New(dhcpv4.WithReply(&dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootRequest, HWType: 1, ClientHWAddr: net.HardwareAddr{2, 0xa6, 0, 0, 0, 1}}),
			dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
			dhcpv4.WithYourIP(net.IPv4(10, 77, 0, 99)),
			dhcpv4.WithServerIP(net.IPv4(10, 77, 0, 50)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)))),
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient")))
		return o.ToBytes()
	})
}

// floodTFTPSlots: the attacker opens read requests it never acknowledges,
// from new source ports, and one transfer it acknowledges every 0.9 s.
func (l *lab) floodTFTPSlots(ctx context.Context) {
	_ = l.lan.Do(func() error {
		var conns []*net.UDPConn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		slow, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(attacker)}, &net.UDPAddr{IP: net.ParseIP(ourIP), Port: 69})
		if err == nil {
			conns = append(conns, slow)
			_, _ = slow.Write(rrq("undionly.kpxe", "blksize", "512"))
		}
		for i := 0; ctx.Err() == nil && i < 2000; i++ {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(attacker)})
			if err != nil {
				break
			}
			conns = append(conns, c)
			_, _ = c.WriteToUDP(rrq("undionly.kpxe"), &net.UDPAddr{IP: net.ParseIP(ourIP), Port: 69})
			if i%50 == 49 {
				time.Sleep(20 * time.Millisecond)
			}
		}
		// The slow client: ACK whatever arrived last, every 0.9 s.
		buf := make([]byte, 2048)
		for ctx.Err() == nil {
			_ = slow.SetReadDeadline(time.Now().Add(900 * time.Millisecond))
			if _, from, err := slow.ReadFromUDP(buf); err == nil && binary.BigEndian.Uint16(buf) == 3 {
				_, _ = slow.WriteToUDP([]byte{0, 4, buf[2], buf[3]}, from)
			}
			time.Sleep(900 * time.Millisecond)
		}
		return nil
	})
}

// floodTFTPForged: read requests never acknowledged from 40 addresses, 8
// each (the per-address cap), more than the 256 slots: what one host
// forging its source address can send.
func (l *lab) floodTFTPForged(ctx context.Context) {
	var addrs []string
	for i := range 40 {
		a := fmt.Sprintf("10.77.0.%d", 100+i)
		if sh := exec.Command("ip", "-n", l.lan.NS, "addr", "add", a+"/24", "dev", l.lan.PeerIf); sh.Run() == nil {
			addrs = append(addrs, a)
		}
	}
	defer func() {
		for _, a := range addrs {
			_ = exec.Command("ip", "-n", l.lan.NS, "addr", "del", a+"/24", "dev", l.lan.PeerIf).Run()
		}
	}()
	_ = l.lan.Do(func() error {
		var conns []*net.UDPConn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for _, a := range addrs {
			for range 8 {
				c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(a)})
				if err != nil {
					return err
				}
				conns = append(conns, c)
				_, _ = c.WriteToUDP(rrq("undionly.kpxe"), &net.UDPAddr{IP: net.ParseIP(ourIP), Port: 69})
			}
		}
		// The slots stay taken for the whole flood: each unanswered
		// transfer waits out its retries (about 6 s) unless evicted.
		<-ctx.Done()
		return nil
	})
}

// floodTFTPNames: read requests with 3,950-byte file names.
func (l *lab) floodTFTPNames(ctx context.Context) {
	_ = l.lan.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(attacker)})
		if err != nil {
			return err
		}
		defer c.Close()
		name := strings.Repeat("n", 3950)
		for i := 0; ctx.Err() == nil && i < 100_000; i++ {
			_, _ = c.WriteToUDP(rrq(name+strconv.Itoa(i)), &net.UDPAddr{IP: net.ParseIP(ourIP), Port: 69})
			if i%32 == 31 {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	})
}

// floodHTTPIdle: thousands of idle keep-alive connections.
func (l *lab) floodHTTPIdle(ctx context.Context) {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	_ = l.lan.Do(func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(attacker)}, Timeout: 200 * time.Millisecond}
		for i := 0; ctx.Err() == nil && i < 3000; i++ {
			c, err := d.Dial("tcp4", ourIP+":8080")
			if err != nil {
				continue
			}
			conns = append(conns, c)
			_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
		}
		return nil
	})
	// The honest HTTP client gets its answer while they are held.
	if err := l.lan.Do(func() error {
		out, err := exec.Command("ip", "netns", "exec", l.lan.NS, "curl", "-sS", "--max-time", "3", "--interface", honest,
			"http://"+ourIP+":8080/healthz").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("ok")) {
			return fmt.Errorf("honest /healthz: %v %s", err, out)
		}
		return nil
	}); err != nil {
		l.t.Errorf("during the idle-connection flood: %v", err)
	}
	<-ctx.Done()
}

// floodLogBlocked: the log output stops taking lines (a stalled `docker
// logs` pipe) while a client floods.
func (l *lab) floodLogBlocked(ctx context.Context) {
	l.paused.Store(true)
	defer l.paused.Store(false)
	l.floodOneClient(ctx)
}

// checkReflection: one read request that is never answered brings back at
// most two small datagrams (the answer and at most one retransmission).
func (l *lab) checkReflection(t *testing.T) {
	var got, bytesBack int
	_ = l.lan.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(attacker)})
		if err != nil {
			return err
		}
		defer c.Close()
		req := rrq("undionly.kpxe")
		_, _ = c.WriteToUDP(req, &net.UDPAddr{IP: net.ParseIP(ourIP), Port: 69})
		buf := make([]byte, 65536)
		deadline := time.Now().Add(8 * time.Second)
		for {
			_ = c.SetReadDeadline(deadline)
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				break
			}
			got++
			bytesBack += n
		}
		t.Logf("a %d-byte request brought back %d datagrams, %d bytes", len(req), got, bytesBack)
		return nil
	})
	if got > 2 {
		t.Errorf("an unanswered %d-byte read request brought back %d datagrams (%d bytes); want at most 2", len(rrq("undionly.kpxe")), got, bytesBack)
	}
}

// sendLoop sends packets from the attacker to the broadcast address on
// port 67 until ctx ends (at most 200,000).
func (l *lab) sendLoop(ctx context.Context, next func(i int) []byte) {
	l.sendEach(ctx, attacker+":6800", &net.UDPAddr{IP: net.IPv4bcast, Port: 67}, 200_000, next)
}

// sendEach sends up to max packets from the attacker's address from to
// dst until ctx ends, a millisecond's pause every 64 so that the flood
// stays bounded.
func (l *lab) sendEach(ctx context.Context, from string, dst *net.UDPAddr, max int, next func(i int) []byte) {
	_ = l.lan.Do(func() error {
		c, err := listenUDP(from, l.lan.PeerIf)
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; ctx.Err() == nil && i < max; i++ {
			_, _ = c.WriteToUDP(next(i), dst)
			if i%64 == 63 {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	})
}

func (l *lab) get(t *testing.T, path string) []byte {
	r, err := http.Get("http://127.0.0.1:8080" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return b
}

func discover(mac net.HardwareAddr, xid dhcpv4.TransactionID, arch uint16, vendor string) *dhcpv4.DHCPv4 {
	d, _ := dhcpv4.NewDiscovery(mac, dhcpv4.WithTransactionID(xid), dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vendor)))
	d.Options[dhcpv4.OptionClientSystemArchitectureType.Code()] = []byte{byte(arch >> 8), byte(arch)}
	return d
}

func xidOf(i int) dhcpv4.TransactionID {
	return dhcpv4.TransactionID{0x5a, byte(i >> 16), byte(i >> 8), byte(i)}
}

func rrq(file string, opts ...string) []byte {
	b := []byte{0, 1}
	for _, s := range append([]string{file, "octet"}, opts...) {
		b = append(append(b, s...), 0)
	}
	return b
}

// sendUDP sends one datagram from src:sport out of ifname.
func sendUDP(src string, sport int, dst net.IP, dport int, ifname string, b []byte) error {
	c, err := listenUDP(net.JoinHostPort(src, strconv.Itoa(sport)), ifname)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WriteToUDP(b, &net.UDPAddr{IP: dst, Port: dport})
	return err
}

// listenUDP opens a broadcast-capable UDP socket bound to addr and ifname.
func listenUDP(addr, ifname string) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
			_ = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
		})
	}}
	c, err := lc.ListenPacket(context.Background(), "udp4", addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.UDPConn), nil
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// spoofed builds an IPv4 UDP datagram with any source; the UDP checksum is
// 0 ("none"), which a receiver accepts.
func spoofed(src net.IP, sport int, dst net.IP, dport int, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0], p[8], p[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	copy(p[12:16], src.To4())
	copy(p[16:20], dst.To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(p[20:], uint16(sport))
	binary.BigEndian.PutUint16(p[22:], uint16(dport))
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func mac8(m net.HardwareAddr) [8]byte {
	var a [8]byte
	copy(a[:], m)
	return a
}
