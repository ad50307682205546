package feed

import (
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/pxeproxy/pxeproxy/bootfs"
	"github.com/pxeproxy/pxeproxy/journal"
)

// Bounds of the PE/COFF header read. EDK2 (BasePeCoffLib PeCoffLoaderGetPeHeader)
// takes e_lfanew anywhere in the file; real images put the PE header within
// the first few hundred bytes, so one further than maxLfanew is not taken
// for a boot file.
const (
	dosHeaderLen = 64
	maxLfanew    = 64 << 10
	// peHeaderLen covers "PE\0\0", the COFF header (20 bytes) and a PE32+
	// optional header up to the security data directory (112 + 5*8 bytes).
	peHeaderLen = 4 + 20 + 152
)

// PE/COFF values (Microsoft PE format specification).
const (
	magicPE32     = 0x10b
	magicPE32Plus = 0x20b
	// Subsystems of UEFI images: application, boot service driver, runtime
	// driver, ROM.
	subsystemEFIApp = 10
	subsystemEFIROM = 13
	dirSecurity     = 4 // data directory of the Authenticode certificate table
)

// inspectImage reads what r (size bytes) is as a UEFI executable from its
// headers alone, at most dosHeaderLen+peHeaderLen bytes whatever the file
// holds: anything that is not a well-formed PE/COFF image with an EFI
// subsystem is reported as not EFI.
func inspectImage(r io.ReaderAt, size int64) journal.Image {
	var dos [dosHeaderLen]byte
	if size < dosHeaderLen || readFull(r, dos[:], 0) != nil || dos[0] != 'M' || dos[1] != 'Z' {
		return journal.Image{}
	}
	off := int64(binary.LittleEndian.Uint32(dos[0x3c:]))
	if off < 4 || off > maxLfanew || off+4+20+2 > size {
		return journal.Image{}
	}
	var h [peHeaderLen]byte
	n := int(min(int64(len(h)), size-off))
	if readFull(r, h[:n], off) != nil {
		return journal.Image{}
	}
	p := h[:n]
	if string(p[:4]) != "PE\x00\x00" {
		return journal.Image{}
	}
	machine := binary.LittleEndian.Uint16(p[4:])
	optLen := int(binary.LittleEndian.Uint16(p[4+16:]))
	opt := p[24:]
	if optLen < len(opt) {
		opt = opt[:optLen]
	}
	// Subsystem is at offset 68 of both optional header forms; the data
	// directories follow NumberOfRvaAndSizes at 92 (PE32) or 108 (PE32+).
	if len(opt) < 70 {
		return journal.Image{}
	}
	var dirs int
	switch binary.LittleEndian.Uint16(opt) {
	case magicPE32:
		dirs = 92
	case magicPE32Plus:
		dirs = 108
	default:
		return journal.Image{}
	}
	if sub := binary.LittleEndian.Uint16(opt[68:]); sub < subsystemEFIApp || sub > subsystemEFIROM {
		return journal.Image{}
	}
	img := journal.Image{EFI: true, Machine: machine}
	sec := dirs + 4 + dirSecurity*8
	if len(opt) >= sec+8 && binary.LittleEndian.Uint32(opt[dirs:]) > dirSecurity {
		// A WIN_CERTIFICATE is at least its 8-byte header; the table must
		// lie in the file (its address is a file offset, not an RVA).
		at, n := int64(binary.LittleEndian.Uint32(opt[sec:])), int64(binary.LittleEndian.Uint32(opt[sec+4:]))
		img.Signed = n >= 8 && at > 0 && at+n <= size
	}
	return img
}

func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		// ReaderAt may return EOF with a full buffer at the end of a file.
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// imageKey identifies one version of a file for the cache.
type imageKey struct {
	name  string
	size  int64
	mtime time.Time
}

// maxImages bounds the cache: a boot folder serves a handful of boot files,
// and a flood of transfers of other names only empties it.
const maxImages = 256

// images reads and remembers what the boot folder's files are, so a flood
// of transfers of the same file reads its headers once.
type images struct {
	files fs.FS
	mu    sync.Mutex
	known map[imageKey]journal.Image
}

// image says what name (as the client asked for it) is; ok is false when it
// cannot be opened or read as a regular file.
func (c *images) image(name string) (journal.Image, bool) {
	if c.files == nil {
		return journal.Image{}, false
	}
	// The TFTP server also matches names case-insensitively: a file asked
	// for in another case is not inspected (the verdict then says what it
	// said before it knew images).
	name, err := bootfs.Clean(name)
	if err != nil || !fs.ValidPath(name) {
		return journal.Image{}, false
	}
	// Stat first: opening a FIFO planted in a folder that is not a bootfs
	// view (which refuses them) would block until a writer comes.
	st, err := fs.Stat(c.files, name)
	if err != nil || !st.Mode().IsRegular() {
		return journal.Image{}, false
	}
	k := imageKey{name, st.Size(), st.ModTime()}
	c.mu.Lock()
	img, ok := c.known[k]
	c.mu.Unlock()
	if ok {
		return img, true // a flood of transfers of one file opens it once
	}
	f, err := c.files.Open(name)
	if err != nil {
		return journal.Image{}, false
	}
	defer f.Close()
	r, isAt := f.(io.ReaderAt)
	if !isAt {
		// Not seekable (a generated file): the headers lie in its first
		// maxLfanew+peHeaderLen bytes or are not taken.
		b, err := io.ReadAll(io.LimitReader(f, maxLfanew+peHeaderLen))
		if err != nil {
			return journal.Image{}, false
		}
		r = bytes.NewReader(b)
	}
	img = inspectImage(r, st.Size())
	c.mu.Lock()
	if len(c.known) >= maxImages {
		clear(c.known)
	}
	if c.known == nil {
		c.known = map[imageKey]journal.Image{}
	}
	c.known[k] = img
	c.mu.Unlock()
	return img, true
}
