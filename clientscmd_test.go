package main

import (
	"bytes"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pxeproxy/pxeproxy/journal"
)

// TestClientsCmd prints the table of a journal served like the running
// instance's, found through PXE_HTTP_ADDR.
func TestClientsCmd(t *testing.T) {
	j := journal.New(journal.Config{}, slog.New(slog.DiscardHandler))
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	j.Discover(journal.Discover{MAC: mac, Port: journal.PortDHCP, Arch: 0, Vendor: "PXEClient:Arch:00000:UNDI:002001", Iface: "eth1"})
	j.Reply(journal.Reply{MAC: mac, Port: journal.PortDHCP, Reason: journal.ReasonDenied})
	srv := httptest.NewServer(j.Handler())
	defer srv.Close()

	clearEnv(t)
	t.Setenv("PXE_HTTP_ADDR", srv.Listener.Addr().String())
	var out bytes.Buffer
	if err := run([]string{"clients"}, &out, &out); err != nil {
		t.Fatalf("clients: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "MAC") || !strings.Contains(lines[1], "52:54:00:12:34:56") ||
		!strings.Contains(lines[1], "refused") {
		t.Fatalf("table:\n%s", out.String())
	}
}

func TestClientsCmdErrors(t *testing.T) {
	clearEnv(t)
	var out bytes.Buffer
	if err := run([]string{"clients"}, &out, &out); err == nil || !strings.Contains(err.Error(), "PXE_HTTP_ADDR is empty") {
		t.Errorf("without PXE_HTTP_ADDR: %v", err)
	}
	if err := run([]string{"clients", "extra"}, &out, &out); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("with an argument: %v", err)
	}
	// Nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("PXE_HTTP_ADDR", addr)
	if err := run([]string{"clients"}, &out, &out); err == nil || !strings.Contains(err.Error(), "is pxeproxy running?") {
		t.Errorf("no instance: %v", err)
	}
	// Something else answers there.
	srv := httptest.NewServer(nil)
	defer srv.Close()
	t.Setenv("PXE_HTTP_ADDR", srv.Listener.Addr().String())
	if err := run([]string{"clients"}, &out, &out); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("not pxeproxy: %v", err)
	}
}
