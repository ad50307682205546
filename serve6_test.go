package main

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pxeproxy/pxeproxy/internal/envcfg"
	"github.com/pxeproxy/pxeproxy/internal/netnstest"
	"github.com/pxeproxy/pxeproxy/internal/pxeclass"
	"github.com/pxeproxy/pxeproxy/metrics"
	"github.com/pxeproxy/pxeproxy/proxy6"
)

func TestConfigIPv6(t *testing.T) {
	c := loadEnv(t)
	if c.IPv6 != envcfg.AutoAuto || c.ServerIP6.IP != nil {
		t.Fatalf("defaults: PXE_IPV6 %q, PXE_SERVER_IP6 %v", c.IPv6, c.ServerIP6)
	}
	if c = loadEnv(t, "PXE_IPV6", "OFF", "PXE_SERVER_IP6", "fd00::5"); c.IPv6 != envcfg.AutoOff || c.ServerIP6.String() != "fd00::5" {
		t.Fatalf("parsed %+v", c)
	}
	if w := c.warnings(); len(w) != 1 || !strings.Contains(w[0], "PXE_SERVER_IP6") {
		t.Fatalf("warnings %q", w)
	}
	for name, c := range map[string]struct{ key, val, want string }{
		"switch":          {"PXE_IPV6", "sometimes", `PXE_IPV6="sometimes": expected on, off or auto`},
		"link-local":      {"PXE_SERVER_IP6", "fe80::1", `PXE_SERVER_IP6="fe80::1": expected a global or ULA unicast IPv6 address`},
		"ipv4":            {"PXE_SERVER_IP6", "10.0.0.5", `PXE_SERVER_IP6="10.0.0.5"`},
		"v4-mapped":       {"PXE_SERVER_IP6", "::ffff:10.0.0.5", `PXE_SERVER_IP6="::ffff:10.0.0.5"`},
		"multicast":       {"PXE_SERVER_IP6", "ff02::1:2", `PXE_SERVER_IP6="ff02::1:2"`},
		"loopback":        {"PXE_SERVER_IP6", "::1", `PXE_SERVER_IP6="::1"`},
		"unspecified":     {"PXE_SERVER_IP6", "::", `PXE_SERVER_IP6="::"`},
		"with brackets":   {"PXE_SERVER_IP6", "[fd00::5]", `PXE_SERVER_IP6="[fd00::5]"`},
		"tftp addr6 port": {"PXE_TFTP_ADDR", "[fd00::5]", `PXE_TFTP_ADDR="[fd00::5]"`},
	} {
		t.Run(name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(c.key, c.val)
			_, err := loadConfig()
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("%s=%q: error %v, want one line with %q", c.key, c.val, err, c.want)
			}
		})
	}
}

// TestProxy6Config: the DHCPv6 side gets the IPv4 boot settings (proxy6.Open
// then drops an IPv4 PXE_HTTP_URL and picks the Server ID).
func TestProxy6Config(t *testing.T) {
	env := []string{"PXE_BOOTFILES", "16=http-x64.efi", "PXE_ALLOW_MACS", "52:54:00", "PXE_DENY_MACS", "52:54:00:de",
		"PXE_MAC_BOOTFILES", "52:54:00:12:34:56=one.efi", "PXE_HTTP_ADDR", ":8080", "PXE_SERVER_IP6", "2001:db8::5",
		"PXE_INTERFACES", "lo"}
	cfg := loadEnv(t, env...)
	c := proxy6Config(cfg, proxyConfig(cfg), nil)
	if c.BootFiles[7] != "snponly.efi" || c.BootFiles[16] != "http-x64.efi" || c.IPXEScript != "boot.ipxe" ||
		c.HTTPPort != 8080 || c.HTTPURL != "" || c.ServerIP.String() != "2001:db8::5" || c.ServerID != nil ||
		len(c.Allow) != 1 || len(c.Deny) != 1 || len(c.MACBootFiles) != 1 || c.MACBootFiles[0].File != "one.efi" ||
		c.MACBootFiles[0].Prefix.String() != "52:54:00:12:34:56" || len(c.Interfaces) != 1 {
		t.Fatalf("proxy6 config %+v", c)
	}
	// Only a listener that clients of a family can reach makes HTTP boot
	// URLs for it; one bound to an address is named by that address.
	type boot struct {
		base string
		port int
	}
	for addr, want := range map[string][2]boot{
		"0.0.0.0:8080":   {{"", 8080}, {"", 8080}},
		"[::]:8080":      {{"", 8080}, {"", 8080}},
		"[fd00::5]:8080": {{"", 0}, {"http://[fd00::5]:8080", 0}},
		"10.0.0.5:8080":  {{"http://10.0.0.5:8080", 0}, {"", 0}},
		"127.0.0.1:8080": {{"", 0}, {"", 0}},
		"[::1]:8080":     {{"", 0}, {"", 0}},
	} {
		cfg := loadEnv(t, append(env, "PXE_HTTP_ADDR", addr)...)
		p4 := proxyConfig(cfg)
		c := proxy6Config(cfg, p4, nil)
		if got := (boot{p4.HTTPURL, p4.HTTPPort}); got != want[0] {
			t.Errorf("PXE_HTTP_ADDR=%s: IPv4 HTTP boot %+v, want %+v", addr, got, want[0])
		}
		if got := (boot{c.HTTPURL, c.HTTPPort}); got != want[1] {
			t.Errorf("PXE_HTTP_ADDR=%s: IPv6 HTTP boot %+v, want %+v", addr, got, want[1])
		}
	}
	cfg = loadEnv(t, append(env, "PXE_HTTP_URL", "http://[fd00::5]:8080/boot")...)
	if c := proxy6Config(cfg, proxyConfig(cfg), nil); c.HTTPURL != "http://[fd00::5]:8080/boot" || c.HTTPPort != 0 {
		t.Errorf("PXE_HTTP_URL: proxy6 HTTPURL %q port %d", c.HTTPURL, c.HTTPPort)
	}
}

// TestArchLabelFlood: iPXE clients get the script whatever architecture they
// claim, so the reply metric's arch label must not grow with the values a
// LAN sends: every option 61 value at once makes the configured
// architectures' labels and "other".
func TestArchLabelFlood(t *testing.T) {
	cfg := loadEnv(t, "PXE_BOOTFILES", "4242=odd.efi")
	m := metrics.New(metrics.Config{Archs: slices.Collect(maps.Keys(cfg.bootFiles()))})
	c := proxy6Config(cfg, proxyConfig(cfg), m)
	for a := range 1 << 16 {
		c.OnAnswer(&proxy6.Answer{Arch: uint16(a), Class: pxeclass.IPXE}, proxy6.Ingress{Port: proxy6.PortDHCP})
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, f := range fams {
		if f.GetName() == "pxeproxy_proxy_replies_total" {
			series = len(f.GetMetric())
		}
	}
	if want := len(cfg.bootFiles()) + 1; series != want {
		t.Fatalf("%d reply series after every arch value, want %d (the configured ones and other)", series, want)
	}
}

// TestServeIPv6EndToEnd runs the whole program with PXE_IPV6 left at auto on
// an interface with a ULA address, and drives it from a client namespace the
// way EDK2 does: SOLICIT to ff02::1:2, the 4011 REQUEST to the address in
// option 59, then the boot file over TFTP on IPv6 (curl). A denied client
// and an ordinary one get nothing. Every reply is checked to carry no
// address, and the metrics to count the IPv6 ports.
func TestServeIPv6EndToEnd(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	lan := netnstest.Netns(t, "fd77::1/64", "fd77::2/64")
	lan.WaitDAD(t)
	boot := bytes.Repeat([]byte("snponly"), 40000)
	root := bootFolder(t, map[string][]byte{"snponly.efi": boot})
	logs := startServe(t, loadEnv(t, "PXE_INTERFACES", lan.HostIf, "PXE_TFTP_ROOT", root, "PXE_TFTP_ADDR", ":69",
		"PXE_HTTP_ADDR", "127.0.0.1:18086", "PXE_DENY_MACS", "02:00:00:00:de"), "http://127.0.0.1:18086/healthz")
	if !strings.Contains(logs.String(), "svc=proxy6") || !strings.Contains(logs.String(), "tftp6=true") {
		t.Fatalf("no IPv6 start line:\n%s", logs)
	}

	solicit := func(mac string, vendor string) *dhcpv6.Message {
		hw, _ := net.ParseMAC(mac)
		m, err := dhcpv6.NewMessage()
		if err != nil {
			t.Fatal(err)
		}
		m.MessageType = dhcpv6.MessageTypeSolicit
		m.AddOption(dhcpv6.OptClientID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: hw}))
		m.AddOption(dhcpv6.OptElapsedTime(0))
		m.AddOption(&dhcpv6.OptIANA{IaId: [4]byte{1, 2, 3, 4}})
		m.AddOption(dhcpv6.OptRequestedOption(dhcpv6.OptionBootfileURL, dhcpv6.OptionBootfileParam))
		m.AddOption(dhcpv6.OptClientArchType(iana.EFI_X86_64))
		m.AddOption(&dhcpv6.OptVendorClass{EnterpriseNumber: 343, Data: [][]byte{[]byte(vendor)}})
		return m
	}
	const pxe = "PXEClient:Arch:00007:UNDI:003000"
	wantURL := "tftp://[fd77::1]/snponly.efi"
	var got []*dhcpv6.Message
	err := lan.Do(func() error {
		c, err := net.ListenPacket("udp6", "[::]:546")
		if err != nil {
			return err
		}
		defer c.Close()
		all := &net.UDPAddr{IP: net.ParseIP("ff02::1:2"), Port: 547, Zone: lan.PeerIf}
		// Denied and ordinary clients first: nothing may come back.
		for _, m := range []*dhcpv6.Message{solicit("02:00:00:00:de:01", pxe), solicit("02:00:00:00:06:02", "MSFT 5.0")} {
			if r, err := exchange6(c, all, m, 700*time.Millisecond); err != nil || r != nil {
				return fmt.Errorf("answered a client it must not (%v): %v", err, r)
			}
		}
		var adv *dhcpv6.Message
		for range 10 { // the server may not have joined ff02::1:2 yet
			if adv, err = exchange6(c, all, solicit("02:00:00:00:06:01", pxe), time.Second); err != nil || adv != nil {
				break
			}
		}
		if adv == nil {
			return fmt.Errorf("no ADVERTISE (%v)", err)
		}
		got = append(got, adv)
		// EDK2's boot-server REQUEST: our Server ID, no IA, from its
		// address and port 4011 to the address of option 59.
		c4011, err := net.ListenPacket("udp6", "[fd77::2]:4011")
		if err != nil {
			return err
		}
		defer c4011.Close()
		req := solicit("02:00:00:00:06:01", pxe)
		req.MessageType = dhcpv6.MessageTypeRequest
		req.Options.Del(dhcpv6.OptionIANA)
		req.AddOption(adv.Options.GetOne(dhcpv6.OptionServerID))
		rep, err := exchange6(c4011, &net.UDPAddr{IP: net.ParseIP("fd77::1"), Port: 4011}, req, 3*time.Second)
		if err != nil || rep == nil {
			return fmt.Errorf("no 4011 REPLY (%v)", err)
		}
		got = append(got, rep)
		return nil
	})
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, logs)
	}
	for i, m := range got {
		for _, code := range []dhcpv6.OptionCode{dhcpv6.OptionIANA, dhcpv6.OptionIATA, dhcpv6.OptionIAPD, dhcpv6.OptionStatusCode} {
			if m.Options.GetOne(code) != nil {
				t.Errorf("reply %d (%s) carries option %s", i, m.MessageType, code)
			}
		}
		if m.Options.BootFileURL() != wantURL {
			t.Errorf("reply %d (%s): option 59 %q, want %q", i, m.MessageType, m.Options.BootFileURL(), wantURL)
		}
	}

	out, err := exec.Command("ip", "netns", "exec", lan.NS, "curl", "-sS", "--fail", "--max-time", "20", wantURL).Output()
	if err != nil || !bytes.Equal(out, boot) {
		t.Fatalf("TFTP over IPv6: %d bytes, %v; log:\n%s", len(out), err, logs)
	}
	if !strings.Contains(logs.String(), `msg="tftp transfer" svc=tftp peer=[fd77::2]:`) {
		t.Errorf("no finished transfer to [fd77::2] in the log:\n%s", logs)
	}

	metrics := scrape(t, "http://127.0.0.1:18086/metrics")
	for series, v := range map[string]string{
		`pxeproxy_proxy_replies_total{arch="7",class="uefi",port="547"}`:  "1",
		`pxeproxy_proxy_replies_total{arch="7",class="uefi",port="4011"}`: "1",
		`pxeproxy_proxy_ignored_total{port="547",reason="mac-denied"}`:    "1",
		`pxeproxy_proxy_ignored_total{port="547",reason="not-pxe"}`:       "1",
		`pxeproxy_tftp_transfers_total{result="ok"}`:                      "1",
	} {
		if metrics[series] != v {
			t.Errorf("%s = %q, want %s", series, metrics[series], v)
		}
	}
}

// exchange sends m from conn to dst and returns the first DHCPv6 reply with
// its transaction id, or nil when none comes within wait.
func exchange6(conn net.PacketConn, dst net.Addr, m *dhcpv6.Message, wait time.Duration) (*dhcpv6.Message, error) {
	if _, err := conn.WriteTo(m.ToBytes(), dst); err != nil {
		return nil, err
	}
	buf := make([]byte, 2048)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return nil, nil
		}
		r, err := dhcpv6.MessageFromBytes(buf[:n])
		if err == nil && r.TransactionID == m.TransactionID {
			return r, nil
		}
	}
}
