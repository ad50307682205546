//go:build linux

package dhcpsock_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"github.com/pxeproxy/pxeproxy/conflict"
	"github.com/pxeproxy/pxeproxy/dhcpsock"
	"github.com/pxeproxy/pxeproxy/internal/netnstest"
	"github.com/pxeproxy/pxeproxy/probe"
)

// TestListen67RawFallback: dnsmasq holds UDP 67 on the same host, as a
// site's DHCP server would; pxeproxy falls back to the raw listener and a
// PXE client behind a veth still gets our proxy offer from port 67 with
// our option 54, next to dnsmasq's lease offer.
func TestListen67RawFallback(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	lan := netnstest.Netns(t, "10.70.0.1/24", "10.70.0.9/24")
	netnstest.Dnsmasq(t, "", lan.HostIf, "--dhcp-range=10.70.0.100,10.70.0.150,1h")
	if _, _, err := dhcpsock.Listen(context.Background(), ":67", 0); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("binding :67 next to dnsmasq: %v, want EADDRINUSE", err)
	}
	logs := &lockedBuffer{}
	if mode := serveProxy(t, logs.Logger(), lan.HostIf); mode != dhcpsock.ModeRaw {
		t.Fatalf("mode %q, want %q", mode, dhcpsock.ModeRaw)
	}

	req := probe.Discover(0, probe.RandomMAC(), dhcpv4.TransactionID{0x67, 0, 0, 1}, [16]byte{1})
	replies := probeFrom(t, lan, req, 2*time.Second)
	var ours, leases int
	for _, r := range replies {
		p := r.Packet
		switch {
		case p.YourIPAddr.IsUnspecified():
			ours++
			if r.From.String() != "10.70.0.1:67" || !p.ServerIdentifier().Equal(lan.HostAddr) ||
				p.BootFileName != "undionly.kpxe" || string(p.Options.Get(dhcpv4.OptionClassIdentifier)) != "PXEClient" {
				t.Errorf("proxy offer from %s:\n%s", r.From, p.Summary())
			}
		default:
			leases++
			if r.From.Port != 67 {
				t.Errorf("dnsmasq's offer from %s", r.From)
			}
		}
	}
	if ours != 1 || leases != 1 {
		t.Fatalf("%d proxy offers and %d lease offers, want 1 and 1; log:\n%s", ours, leases, logs)
	}
	if v := probe.Judge(replies, "PXEClient"); !v.Boots || v.File != "undionly.kpxe" {
		t.Fatalf("verdict %+v", v)
	}
	if !strings.Contains(logs.String(), "mode="+dhcpsock.ModeRaw) || !strings.Contains(logs.String(), `msg="pxe reply"`) {
		t.Fatalf("log:\n%s", logs)
	}

	t.Run("without CAP_NET_RAW the start stops with one line", func(t *testing.T) {
		errc := make(chan error, 1)
		go func() {
			// Capabilities are per thread: drop CAP_NET_RAW on this
			// locked thread only; it ends with the goroutine.
			runtime.LockOSThread()
			hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
			var data [2]unix.CapUserData
			if err := unix.Capget(&hdr, &data[0]); err != nil {
				errc <- err
				return
			}
			data[0].Effective &^= 1 << unix.CAP_NET_RAW
			if err := unix.Capset(&hdr, &data[0]); err != nil {
				errc <- err
				return
			}
			tr, _, err := dhcpsock.Listen67(context.Background(), 0, (&lockedBuffer{}).Logger())
			if err == nil {
				tr.Close()
			}
			errc <- err
		}()
		err := <-errc
		if err == nil || strings.Contains(err.Error(), "\n") ||
			!strings.Contains(err.Error(), "port 67 is taken") || !strings.Contains(err.Error(), "NET_RAW") ||
			!strings.Contains(err.Error(), "stop the other server") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestConflictDetection runs a real dnsmasq that answers PXE clients with
// option 60 PXEClient and a boot file (the KB 259670 mistake) on a LAN
// shared with pxeproxy and a client: the passive watcher names that server
// once, and ignores pxeproxy's own broadcast offer.
func TestConflictDetection(t *testing.T) {
	if !netnstest.Private(t) {
		return
	}
	corp, client, br := netnstest.SiteLAN(t, "10.71")
	netnstest.Dnsmasq(t, corp.NS, corp.PeerIf, "--dhcp-range=10.71.0.100,10.71.0.150,1h",
		"--dhcp-option-force=60,PXEClient", "--dhcp-boot=pxelinux.0")

	logs := &lockedBuffer{}
	log := logs.Logger()
	if mode := serveProxy(t, log, br); mode != dhcpsock.ModeUDP {
		t.Fatalf("mode %q", mode)
	}
	var mu sync.Mutex
	var found []conflict.Finding
	ctx, cancel := context.WithCancel(context.Background())
	r := dhcpsock.ListenReplies(ctx, true, log)
	if r == nil {
		t.Fatalf("no conflict watcher:\n%s", logs)
	}
	d := conflict.New(conflict.Config{
		Ours:      conflict.OwnAddrs(nil),
		OnFinding: func(f conflict.Finding) { mu.Lock(); found = append(found, f); mu.Unlock() },
	}, log)
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, r) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watcher: %v", err)
		}
	}()

	for i := range 2 { // two clients booting: still one warning
		req := probe.Discover(0, probe.RandomMAC(), dhcpv4.TransactionID{0x71, 0, 0, byte(i)}, [16]byte{2})
		if replies := probeFrom(t, client, req, 1500*time.Millisecond); len(replies) != 2 {
			t.Fatalf("client got %d replies, want dnsmasq's and ours; log:\n%s", len(replies), logs)
		}
	}
	time.Sleep(200 * time.Millisecond) // the watcher reads what the client read
	out := logs.String()
	if n := strings.Count(out, `msg="another DHCP server conflicts with pxeproxy"`); n != 1 {
		t.Fatalf("%d conflict warnings, want 1:\n%s", n, out)
	}
	for _, want := range []string{"level=WARN", "server=10.71.0.1 kind=pxeclient-on-lease", `option 60 \"PXEClient\"`, `option 67 \"pxelinux.0\"`, "PXE-E55"} {
		if !strings.Contains(out, want) {
			t.Errorf("warning lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "server=10.71.0.2 kind=") {
		t.Errorf("our own offer was reported:\n%s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(found) != 2 || found[0].Kind != conflict.KindPXEClientLease || !found[0].Server.Equal(corp.PeerAddr) {
		t.Errorf("findings counted: %+v, want 2 from 10.71.0.1", found)
	}
}
