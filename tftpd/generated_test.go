package tftpd

import (
	"crypto/sha256"
	"errors"
	"io/fs"
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
	t.Cleanup(func() { r.Close() }) // after the server's cleanup: LIFO
	ts := serveRoot(t, "127.0.0.1:0", Config{Root: r}, testWriter{t})
	addr := ts.addr

	sum, n := pinGet(t, addr, "boot.ipxe", "octet", 1468)
	if sum != sha256.Sum256([]byte(menu)) || n != int64(len(menu)) {
		t.Fatalf("octet: %d bytes, want %d", n, len(menu))
	}
	if st := ts.next(t); st.Err != nil || st.Bytes != int64(len(menu)) {
		t.Fatalf("stats %+v", st)
	}
	if sum, _ := pinGet(t, addr, "BOOT.IPXE", "octet", 512); sum != sha256.Sum256([]byte(menu)) {
		t.Fatal("case-folded name: other content")
	}
	ts.next(t)

	rc := newRawClient(t, addr)
	rc.request(opRRQ, "broken.ipxe", "octet")
	wantError(t, rc.mustRecv(), errCodeAccess, "access violation")
	if st := ts.next(t); st.Err == nil || errors.Is(st.Err, ErrNotFound) {
		t.Fatalf("failed generator: stats %+v", st)
	}
}
