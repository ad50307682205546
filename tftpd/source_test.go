package tftpd

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestFirstBlockTakesNoReadAhead: the first block, all a client that never
// answers gets, is read without a read-ahead buffer; the second takes one.
// 256 transfers from forged addresses each held 64 KiB before.
func TestFirstBlockTakesNoReadAhead(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 200)
	path, f := tempFile(t, data)
	src := newOctetSource(f, int64(len(data)), newReadAheadPool())
	defer src.release()
	buf := make([]byte, 512)
	for _, n := range []int64{1, 1, 2, 1, 7} {
		got, err := src.block(n, buf)
		end := min(int64(len(data)), n*512)
		if err != nil || !bytes.Equal(buf[:got], data[(n-1)*512:end]) {
			t.Fatalf("block %d: %d bytes, %v", n, got, err)
		}
		if n == 2 && src.buf == nil {
			t.Fatal("no read-ahead buffer for block 2")
		}
		if n == 1 && src.buf == nil && src.cache != nil {
			t.Fatal("a cache without a buffer")
		}
		if n == 1 && src.buf != nil && src.cache == nil {
			t.Fatal("block 1 after block 2 not from the cache")
		}
	}
	// A fresh source: block 1 alone takes no buffer.
	fresh := newOctetSource(f, int64(len(data)), newReadAheadPool())
	if _, err := fresh.block(1, buf); err != nil || fresh.buf != nil {
		t.Fatalf("block 1 of a fresh source: buffer %v, err %v; want none", fresh.buf != nil, err)
	}
	fresh.release()
	// The file shrank under the transfer: an error, not a short block.
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	short := newOctetSource(f, int64(len(data)), newReadAheadPool())
	if _, err := short.block(1, buf); err == nil {
		t.Fatal("no error for a file shorter than announced")
	}
}

// tempFile writes data to a file in the test's temporary folder and opens it
// (closed when the test ends).
func tempFile(t *testing.T, data []byte) (string, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return path, f
}
