// Package dhcptest holds what the tests of several packages need to run a
// DHCP server loop and talk to it: Serve runs a loop until the test ends,
// Exchange is the client's side of one request, Await waits for a reply of
// either family. It opens no socket itself and builds on any OS.
package dhcptest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Serve runs serve in a goroutine until the test ends, then cancels its
// context and fails the test unless serve returns nil: a loop must take
// the end of its context as a clean exit.
func Serve(t testing.TB, serve func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after cancel, want nil", err)
		}
	})
}

// Exchange sends req from conn to dst and returns the first reply with the
// request's xid, or nil when none comes within wait.
func Exchange(t testing.TB, conn net.PacketConn, dst net.Addr, req *dhcpv4.DHCPv4, wait time.Duration) (*dhcpv4.DHCPv4, net.Addr) {
	t.Helper()
	if _, err := conn.WriteTo(req.ToBytes(), dst); err != nil {
		t.Fatalf("send: %v", err)
	}
	return Await(conn, wait, func(b []byte) (*dhcpv4.DHCPv4, bool) {
		rep, err := dhcpv4.FromBytes(b)
		return rep, err == nil && rep.TransactionID == req.TransactionID && rep.OpCode == dhcpv4.OpcodeBootReply
	})
}

// Await reads datagrams from conn until parse accepts one, and returns what
// parse made of it and its source; the zero T and nil when none is
// accepted within wait. It serves DHCPv4 and DHCPv6 alike.
func Await[T any](conn net.PacketConn, wait time.Duration, parse func([]byte) (T, bool)) (T, net.Addr) {
	deadline := time.Now().Add(wait)
	buf := make([]byte, 64<<10)
	for {
		_ = conn.SetReadDeadline(deadline)
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var zero T
			return zero, nil
		}
		if v, ok := parse(buf[:n]); ok {
			return v, from
		}
	}
}
