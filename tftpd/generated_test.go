package tftpd

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/pxeproxy/pxeproxy/bootfs"
)

// TestGeneratedFile: a file the boot folder generates (the boot menu) goes
// out like a folder's, with its size as tsize; a generator
// that fails gives the client an error and a failed transfer.
func TestGeneratedFile(t *testing.T) {
	menu := "#!ipxe\n" + strings.Repeat("item x\n", 400) // a few blocks
	r, err := bootfs.New(bootfs.Config{Dirs: []string{t.TempDir()}, Generated: map[string]bootfs.Generator{
		"boot.ipxe":   func(fs.FS) ([]byte, error) { return []byte(menu), nil },
		"broken.ipxe": func(fs.FS) ([]byte, error) { return nil, errors.New("scan failed") },
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stats := make(chan Stats, 10)
	s, err := New(Config{Root: r, OnDone: func(st Stats) { stats <- st }},
		slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	defer func() { cancel(); <-done; conn.Close() }()
	addr := conn.LocalAddr().(*net.UDPAddr)

	sum, n := pinGet(t, addr, "boot.ipxe", "octet", 1468)
	if sum != sha256.Sum256([]byte(menu)) || n != int64(len(menu)) {
		t.Fatalf("octet: %d bytes, want %d", n, len(menu))
	}
	if st := <-stats; st.Err != nil || st.Bytes != int64(len(menu)) {
		t.Fatalf("stats %+v", st)
	}
	if sum, _ := pinGet(t, addr, "BOOT.IPXE", "octet", 512); sum != sha256.Sum256([]byte(menu)) {
		t.Fatal("case-folded name: other content")
	}
	<-stats

	rc := newRawClient(t, addr)
	rc.request(opRRQ, "broken.ipxe", "octet")
	wantError(t, rc.mustRecv(), errCodeAccess, "access violation")
	if st := <-stats; st.Err == nil || errors.Is(st.Err, ErrNotFound) {
		t.Fatalf("failed generator: stats %+v", st)
	}
}
