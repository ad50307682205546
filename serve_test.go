package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/pxeproxy/pxeproxy/internal/netnstest"
	"github.com/pxeproxy/pxeproxy/metrics"
	"github.com/pxeproxy/pxeproxy/proxy"
	"github.com/pxeproxy/pxeproxy/proxy6"
	"github.com/pxeproxy/pxeproxy/tftpd"
)

// TestServeEndToEnd runs the whole program (serve with the configuration
// read from the environment) in a private namespace and drives it from a
// client namespace: a known load of PXE, ordinary and refused clients, a
// delayed reply, then /metrics and /healthz are checked value by value.
func TestServeEndToEnd(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	lan := netnstest.Netns(t, "10.73.0.1/24", "10.73.0.50/24")
	root := bootFolder(t, map[string][]byte{"undionly.kpxe": []byte("x")})
	logs := startServe(t, loadEnv(t, "PXE_INTERFACES", lan.HostIf, "PXE_TFTP_ROOT", root, "PXE_HTTP_ADDR", "127.0.0.1:18080",
		"PXE_DENY_MACS", "02:00:00:00:de", "PXE_ALLOW_MACS", "02:00:00", "PXE_REPLY_DELAY", "300ms"), "http://127.0.0.1:18080/healthz")

	var c net.PacketConn
	if err := lan.Do(func() (err error) {
		c, err = listen68(lan.PeerIf)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The known load: 5 BIOS and 3 UEFI clients inside the allow list, 2
	// denied, 1 outside the allow list, 4 ordinary DHCP clients.
	type client struct {
		mac    string
		vendor string
		arch   byte
		want   bool
	}
	var clients []client
	for i := range 5 {
		clients = append(clients, client{fmt.Sprintf("02:00:00:00:01:%02x", i), "PXEClient:Arch:00000:UNDI:002001", 0, true})
	}
	for i := range 3 {
		clients = append(clients, client{fmt.Sprintf("02:00:00:00:02:%02x", i), "PXEClient:Arch:00007:UNDI:003016", 7, true})
	}
	for i := range 2 {
		clients = append(clients, client{fmt.Sprintf("02:00:00:00:de:%02x", i), "PXEClient:Arch:00000:UNDI:002001", 0, false})
	}
	clients = append(clients, client{"52:54:00:00:00:01", "PXEClient:Arch:00000:UNDI:002001", 0, false})
	for i := range 4 {
		clients = append(clients, client{fmt.Sprintf("02:00:00:00:03:%02x", i), "MSFT 5.0", 0, false})
	}
	sent := time.Now()
	want := map[dhcpv4.TransactionID]string{}
	for i, cl := range clients {
		mac, _ := net.ParseMAC(cl.mac)
		req, _ := dhcpv4.NewDiscovery(mac, dhcpv4.WithTransactionID(dhcpv4.TransactionID{0x73, 0, 0, byte(i)}),
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier(cl.vendor)))
		if strings.HasPrefix(cl.vendor, "PXE") {
			req.Options[dhcpv4.OptionClientSystemArchitectureType.Code()] = []byte{0, cl.arch}
		}
		if cl.want {
			want[req.TransactionID] = cl.mac
		}
		if _, err := c.WriteTo(req.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: 67}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[dhcpv4.TransactionID]string{}
	buf := make([]byte, 1500)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for len(got) < len(want)+1 {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			break
		}
		rep, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || rep.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		if !rep.YourIPAddr.IsUnspecified() {
			t.Fatalf("reply with yiaddr %s", rep.YourIPAddr)
		}
		got[rep.TransactionID] = rep.ClientHWAddr.String()
	}
	if time.Since(sent) < 300*time.Millisecond {
		t.Errorf("replies came before PXE_REPLY_DELAY")
	}
	if len(got) != len(want) {
		t.Fatalf("answered %v, want exactly %v; log:\n%s", got, want, logs)
	}
	for xid, mac := range want {
		// Delayed replies are encoded before the loop reads the next
		// request: each must still carry its own client's MAC.
		if got[xid] != mac {
			t.Fatalf("xid %s answered for %s, want %s", xid, got[xid], mac)
		}
	}
	if n := strings.Count(logs.String(), "msg=refused"); n != 3 {
		t.Errorf("%d refused lines at Info, want 3 (2 denied, 1 not allowed):\n%s", n, logs)
	}

	metrics := scrape(t, "http://127.0.0.1:18080/metrics")
	for series, v := range map[string]string{
		`pxeproxy_proxy_replies_total{arch="0",class="bios",port="67"}`:    "5",
		`pxeproxy_proxy_replies_total{arch="7",class="uefi",port="67"}`:    "3",
		`pxeproxy_proxy_ignored_total{port="67",reason="mac-denied"}`:      "2",
		`pxeproxy_proxy_ignored_total{port="67",reason="mac-not-allowed"}`: "1",
		`pxeproxy_proxy_ignored_total{port="67",reason="not-pxe"}`:         "4",
		`pxeproxy_log_dropped_total`:                                       "7",
	} {
		if metrics[series] != v {
			t.Errorf("%s = %q, want %s", series, metrics[series], v)
		}
	}
}

// logDropped stands for the log writer's count of dropped lines: what
// serve is given, /metrics shows.
func logDropped() uint64 { return 7 }

// startServe runs serve with the configuration in the environment until
// the test ends, and waits until healthURL answers. Its log is returned.
func startServe(t *testing.T, cfg *Config, healthURL string) *lockedBuffer {
	t.Helper()
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})), logDropped)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitHTTP(t, healthURL, logs)
	return logs
}

func waitHTTP(t *testing.T, url string, logs *lockedBuffer) {
	t.Helper()
	for range 100 {
		if r, err := http.Get(url); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered 200; log:\n%s", url, logs)
}

// scrape returns every sample line of a Prometheus text page by series.
func scrape(t *testing.T, url string) map[string]string {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			out[line[:i]] = line[i+1:]
		}
	}
	return out
}

// TestSecondInstance: a second pxeproxy on the same host stops at once
// with one error naming the real cause (another pxeproxy holds 4011), and
// does not first fall back to the raw listener for port 67 as if a DHCP
// server held it.
func TestSecondInstance(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	lan := netnstest.Netns(t, "10.74.0.1/24", "10.74.0.50/24")
	cfg := loadEnv(t, "PXE_INTERFACES", lan.HostIf, "PXE_TFTP", "off")
	first := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(first, nil)), nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("first instance: %v", err)
		}
	}()
	for i := 0; !strings.Contains(first.String(), "msg=listening"); i++ {
		if i == 100 {
			t.Fatalf("the first instance did not start:\n%s", first)
		}
		time.Sleep(20 * time.Millisecond)
	}

	second := &lockedBuffer{}
	err := serve(context.Background(), cfg, slog.New(slog.NewTextHandler(second, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), "port 4011") || !strings.Contains(err.Error(), "another pxeproxy") ||
		strings.Contains(err.Error(), "DHCP server or dnsmasq") {
		t.Errorf("second instance: %v, want one error naming another pxeproxy on port 4011", err)
	}
	if strings.Contains(second.String(), "raw AF_PACKET") {
		t.Errorf("the second instance blamed port 67 on another program first:\n%s", second)
	}
}

// TestTFTPFailureWords: the words tftpd gives a failed transfer are the
// metrics' reason labels (any other word would count as "other").
func TestTFTPFailureWords(t *testing.T) {
	for tw, mw := range map[string]string{tftpd.FailNotFound: metrics.FailNotFound, tftpd.FailAccess: metrics.FailAccess,
		tftpd.FailBusy: metrics.FailBusy, tftpd.FailOther: metrics.FailOther} {
		if tw != mw {
			t.Errorf("tftpd says %q where metrics count %q", tw, mw)
		}
	}
}

// TestIgnoreReasonsAreLabels: every reason proxy and proxy6 give a packet
// not answered keeps its own label on every port, whichever came first: a
// LAN host provoking a dozen kinds of refusal must not turn bad-giaddr or
// mac-denied into "other" for the rest of the run.
func TestIgnoreReasonsAreLabels(t *testing.T) {
	var reasons []string
	for _, err := range []error{proxy.ErrMalformed, proxy.ErrNotRequest, proxy.ErrNotPXE, proxy.ErrMessageType,
		proxy.ErrNoArch, proxy.ErrNoBootFile, proxy.ErrNoHTTP, proxy.ErrNoServerAddr, proxy.ErrDenied,
		proxy.ErrNotAllowed, proxy.ErrNotForUs, proxy.ErrBadHWAddr, proxy.ErrBadGiaddr, proxy.ErrBadSource} {
		reasons = append(reasons, proxy.Reason(err))
	}
	for _, err := range []error{proxy6.ErrMalformed, proxy6.ErrMessageType, proxy6.ErrNotPXE, proxy6.ErrNotRequested,
		proxy6.ErrNoArch, proxy6.ErrNoBootFile, proxy6.ErrNoHTTP, proxy6.ErrNoServerAddr, proxy6.ErrNoServerID,
		proxy6.ErrDenied, proxy6.ErrNotAllowed, proxy6.ErrNotForUs, proxy6.ErrRelayTooDeep} {
		reasons = append(reasons, proxy6.Reason(err))
	}
	// The loops' own reasons, and what an unknown error is.
	reasons = append(reasons, "no-pktinfo", "interface-not-served", proxy.ReasonDelayFull, proxy6.ReasonDelayFull,
		proxy.Reason(errors.New("x")))
	m := metrics.New(metrics.Config{})
	for _, port := range []int{proxy.PortDHCP, proxy.PortPXE, proxy6.PortDHCP} {
		for _, r := range reasons {
			m.ProxyIgnored(port, r)
		}
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	page := rec.Body.String()
	for _, port := range []int{proxy.PortDHCP, proxy.PortPXE, proxy6.PortDHCP} {
		for _, r := range reasons {
			if s := fmt.Sprintf(`pxeproxy_proxy_ignored_total{port="%d",reason="%s"}`, port, r); !strings.Contains(page, s) {
				t.Errorf("no series %s: the reason was counted under another label", s)
			}
		}
	}
}
