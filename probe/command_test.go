package probe

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/pxeproxy/pxeproxy/dhcpsock"
	"github.com/pxeproxy/pxeproxy/internal/dhcptest"
	"github.com/pxeproxy/pxeproxy/internal/netnstest"
	"github.com/pxeproxy/pxeproxy/internal/pxeboot"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
	"github.com/pxeproxy/pxeproxy/proxy"
)

// TestProbeCmdUsage: bad arguments stop before any socket is opened.
func TestProbeCmdUsage(t *testing.T) {
	for name, args := range map[string][]string{
		"no interface":      {},
		"two interfaces":    {"lo", "lo"},
		"arch out of range": {"-arch", "70000", "lo"},
		"bad timeout":       {"-timeout", "-1s", "lo"},
		"unknown flag":      {"-x", "lo"},
		"bad mac":           {"-mac", "01:02", "lo"},
		"no such interface": {"pxt-none"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if c := Command(context.Background(), args, &stdout, &stderr); c != 2 {
				t.Fatalf("exit %d, want 2; stdout %q stderr %q", c, stdout.String(), stderr.String())
			}
			if stdout.Len() != 0 || stderr.Len() == 0 {
				t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
			}
		})
	}
}

// TestProbeCmdTwoServers runs `pxeproxy probe` on a client's interface on a
// LAN with two servers: the site's DHCP server (a real dnsmasq) and
// pxeproxy. First a well-behaved dnsmasq (lease only): exit 0, the address
// from dnsmasq and the boot file from pxeproxy. Then a dnsmasq that sets
// option 60 PXEClient: exit 1, the conflict named.
func TestProbeCmdTwoServers(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	corp, client, br := netnstest.SiteLAN(t, "10.72")
	logs := &testlog.Buffer{}
	serveProxy(t, logs.Logger(), br)

	probeIn := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := -1
		if err := client.Do(func() error {
			code = Command(context.Background(), append(args, client.PeerIf), &stdout, &stderr)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		t.Logf("pxeproxy probe %s:\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
		return code, stdout.String()
	}
	expect := func(t *testing.T, out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
	}

	t.Run("lease server and pxeproxy: boots", func(t *testing.T) {
		dns := netnstest.Dnsmasq(t, corp.NS, corp.PeerIf, "--dhcp-range=10.72.0.100,10.72.0.150,1h")
		code, out := probeIn("-timeout", "1500ms")
		if code != 0 {
			t.Errorf("exit %d, want 0", code)
		}
		expect(t, out, "arch 0 (x86 BIOS)", "from 10.72.0.1:67, server 10.72.0.1, yiaddr 10.72.0.1", "[DhcpOnly]",
			"from 10.72.0.2:67, server 10.72.0.2, yiaddr 0.0.0.0  [ProxyPxe10]", `file "undionly.kpxe"`, `60 "PXEClient"`,
			"43 060108", `boot file "undionly.kpxe" from 10.72.0.2 (EDK2 rule 3.`, "result: a PXE client would boot")
		if strings.Contains(out, "conflict:") {
			t.Error("a plain lease server reported as a conflict")
		}
		code, out = probeIn("-timeout", "1500ms", "-arch", "7", "-mac", "random")
		if code != 0 {
			t.Errorf("uefi: exit %d, want 0", code)
		}
		expect(t, out, "arch 7 (EFI x86-64)", "[ProxyBinl]", `boot file "snponly.efi" from 10.72.0.2 (EDK2 rule 6.`)
		_ = dns.Process.Kill()
		_ = dns.Wait()
	})
	t.Run("lease server with PXEClient: conflict, no boot", func(t *testing.T) {
		netnstest.Dnsmasq(t, corp.NS, corp.PeerIf, "--dhcp-range=10.72.0.100,10.72.0.150,1h", "--dhcp-option-force=60,PXEClient")
		code, out := probeIn("-timeout", "1500ms")
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		expect(t, out, "[DhcpBinl]", "EDK2 rule 5.", "PXE-E55", "conflict: server 10.72.0.1 (pxeclient-on-lease)",
			"result: a PXE client would NOT boot")
	})
	t.Run("no server at all: no boot", func(t *testing.T) {
		// Only pxeproxy answers: no address (PXE-E51).
		code, out := probeIn("-timeout", "1s")
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		expect(t, out, "verdict: no address", "PXE-E51")
	})
}

// serveProxy runs the proxy on port 67 for ifaces until the test ends.
func serveProxy(t *testing.T, log *slog.Logger, ifaces ...string) {
	t.Helper()
	tr, _, err := dhcpsock.Listen67(context.Background(), 1<<20, log)
	if err != nil {
		t.Fatalf("listen on port 67: %v", err)
	}
	srv := proxy.New(proxy.ServerConfig{Config: proxy.Config{Settings: pxeboot.Settings{BootFiles: map[uint16]string{0: "undionly.kpxe", 7: "snponly.efi", 9: "snponly.efi"}}}, Interfaces: ifaces}, log)
	dhcptest.Serve(t, func(ctx context.Context) error { return srv.Serve(ctx, tr, proxy.PortDHCP) })
}
