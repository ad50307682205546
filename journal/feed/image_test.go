package feed

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pxeproxy/pxeproxy/journal"
	"github.com/pxeproxy/pxeproxy/tftpd"
)

// peImage builds the headers of a PE/COFF image of size bytes: e_lfanew at
// 0x80, an optional header of magic (PE32 or PE32+) with subsystem, ndirs
// data directories and the security directory at secAt, secLen.
func peImage(machine, magic, subsystem uint16, ndirs, secAt, secLen uint32, size int) []byte {
	b := make([]byte, max(size, 0x80+peHeaderLen))
	copy(b, "MZ")
	le := binary.LittleEndian
	le.PutUint32(b[0x3c:], 0x80)
	p := b[0x80:]
	copy(p, "PE\x00\x00")
	le.PutUint16(p[4:], machine)
	dirs := 92
	if magic == magicPE32Plus {
		dirs = 108
	}
	le.PutUint16(p[4+16:], uint16(dirs+4+16*8))
	opt := p[24:]
	le.PutUint16(opt, magic)
	le.PutUint16(opt[68:], subsystem)
	le.PutUint32(opt[dirs:], ndirs)
	if dirs+4+5*8 <= len(opt) {
		le.PutUint32(opt[dirs+4+4*8:], secAt)
		le.PutUint32(opt[dirs+4+4*8+4:], secLen)
	}
	return b[:size]
}

func head(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countingReader fails a test that reads outside the file or more than the
// header bound.
type countingReader struct {
	t    testing.TB
	r    io.ReaderAt
	size int64
	read int
}

func (c *countingReader) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > c.size {
		c.t.Errorf("read of %d bytes at %d, outside the file's %d bytes", len(b), off, c.size)
	}
	c.read += len(b)
	return c.r.ReadAt(b, off)
}

const maxRead = dosHeaderLen + peHeaderLen

func inspectBytes(t testing.TB, b []byte, size int64) journal.Image {
	c := &countingReader{t: t, r: bytes.NewReader(b), size: size}
	img := inspectImage(c, size)
	if c.read > maxRead {
		t.Errorf("read %d bytes, more than the %d of the headers", c.read, maxRead)
	}
	return img
}

func TestInspectImage(t *testing.T) {
	const x64, ia32, arm64 = 0x8664, 0x14c, 0xaa64
	signed := peImage(x64, magicPE32Plus, 10, 16, 4096, 2000, 8192)
	hugeLfanew := peImage(x64, magicPE32Plus, 10, 16, 0, 0, 4096)
	binary.LittleEndian.PutUint32(hugeLfanew[0x3c:], 0xfffffff0)
	badSig := peImage(x64, magicPE32Plus, 10, 16, 0, 0, 4096)
	copy(badSig[0x80:], "NE\x00\x00")
	shortOpt := peImage(x64, magicPE32Plus, 10, 16, 0, 0, 4096)
	binary.LittleEndian.PutUint16(shortOpt[0x80+4+16:], 64)
	cases := map[string]struct {
		b    []byte
		size int64 // 0: len(b)
		want journal.Image
	}{
		"ipxe snponly.efi":                 {b: head(t, "snponly.efi.head"), size: 173792, want: journal.Image{EFI: true, Machine: x64}},
		"debian signed shim":               {b: head(t, "shimx64.efi.signed.head"), size: 1048504, want: journal.Image{EFI: true, Machine: x64, Signed: true}},
		"memtest86+ ia32":                  {b: head(t, "memtest86+ia32.efi.head"), size: 139776, want: journal.Image{EFI: true, Machine: ia32}},
		"text placeholder":                 {b: []byte("not an EFI image: the e2e arm64 scenario only proves that the firmware downloads it\n")},
		"empty":                            {b: nil},
		"MZ only":                          {b: []byte("MZ")},
		"signed arm64 PE32+":               {b: peImage(arm64, magicPE32Plus, 10, 16, 4096, 2000, 1024), size: 8192, want: journal.Image{EFI: true, Machine: arm64, Signed: true}},
		"signed, synthetic":                {b: signed, want: journal.Image{EFI: true, Machine: x64, Signed: true}},
		"unsigned PE32 driver":             {b: peImage(ia32, magicPE32, 11, 16, 0, 0, 1024), want: journal.Image{EFI: true, Machine: ia32}},
		"certificate past EOF":             {b: peImage(x64, magicPE32Plus, 10, 16, 4096, 2000, 4096), want: journal.Image{EFI: true, Machine: x64}},
		"certificate too small":            {b: peImage(x64, magicPE32Plus, 10, 16, 1024, 4, 4096), want: journal.Image{EFI: true, Machine: x64}},
		"four data directories":            {b: peImage(x64, magicPE32Plus, 10, 4, 1024, 2000, 4096), want: journal.Image{EFI: true, Machine: x64}},
		"windows GUI subsystem":            {b: peImage(x64, magicPE32Plus, 2, 16, 0, 0, 4096)},
		"ROM magic":                        {b: peImage(x64, 0x107, 10, 16, 0, 0, 4096)},
		"huge e_lfanew":                    {b: hugeLfanew},
		"no PE signature":                  {b: badSig},
		"optional header too short":        {b: shortOpt},
		"truncated in the optional header": {b: peImage(x64, magicPE32Plus, 10, 16, 0, 0, 0x80+24+40)},
		"truncated in the COFF header":     {b: peImage(x64, magicPE32Plus, 10, 16, 0, 0, 0x80+10)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			size := c.size
			if size == 0 {
				size = int64(len(c.b))
			}
			if got := inspectBytes(t, c.b, size); got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// FuzzInspectImage checks that any file is safe to inspect: reads stay in
// the file and within the header bound, and what debug/pe parses as an EFI
// image is found as one, with its machine.
func FuzzInspectImage(f *testing.F) {
	for _, n := range []string{"snponly.efi.head", "shimx64.efi.signed.head", "memtest86+ia32.efi.head"} {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(peImage(0xaa64, magicPE32Plus, 10, 16, 300, 8, 400))
	f.Add(peImage(0x14c, magicPE32, 10, 16, 0, 0, 300))
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, b []byte) {
		img := inspectBytes(t, b, int64(len(b)))
		if !img.EFI && img != (journal.Image{}) {
			t.Fatalf("not EFI but %+v", img)
		}
		if img.Signed && len(b) < 8 {
			t.Fatalf("signed in %d bytes", len(b))
		}
		pf, err := pe.NewFile(bytes.NewReader(b))
		if err != nil || len(b) < dosHeaderLen || b[0] != 'M' {
			return
		}
		lfanew := binary.LittleEndian.Uint32(b[0x3c:])
		sub := uint16(0)
		switch oh := pf.OptionalHeader.(type) {
		case *pe.OptionalHeader32:
			sub = oh.Subsystem
		case *pe.OptionalHeader64:
			sub = oh.Subsystem
		default:
			return
		}
		if sub >= subsystemEFIApp && sub <= subsystemEFIROM && lfanew <= maxLfanew && pf.SizeOfOptionalHeader >= 70 &&
			(!img.EFI || img.Machine != pf.Machine) {
			t.Fatalf("debug/pe reads an EFI image for machine 0x%x (subsystem %d), inspectImage %+v", pf.Machine, sub, img)
		}
	})
}

// noReaderAt hides a file's ReadAt, as a generated file has none.
type noReaderAt struct{ fs.FS }

type plainFile struct{ f fs.File }

func (p plainFile) Stat() (fs.FileInfo, error) { return p.f.Stat() }
func (p plainFile) Read(b []byte) (int, error) { return p.f.Read(b) }
func (p plainFile) Close() error               { return p.f.Close() }

func (n noReaderAt) Open(name string) (fs.File, error) {
	f, err := n.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return plainFile{f}, nil
}

func TestImagesCache(t *testing.T) {
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	efi := peImage(0x8664, magicPE32Plus, 10, 16, 0, 0, 1024)
	files := fstest.MapFS{
		"boot/snponly.efi": {Data: efi, ModTime: mtime},
		"placeholder.efi":  {Data: []byte("not EFI"), ModTime: mtime},
		"dir":              {Mode: fs.ModeDir},
	}
	c := &images{files: files}
	for name, want := range map[string]journal.Image{
		`boot\snponly.efi`:  {EFI: true, Machine: 0x8664},
		"/boot/snponly.efi": {EFI: true, Machine: 0x8664},
		"placeholder.efi":   {},
	} {
		if got, ok := c.image(name); !ok || got != want {
			t.Errorf("%s: %+v, %v; want %+v, true", name, got, ok, want)
		}
	}
	for _, name := range []string{"missing.efi", "dir", "../x", ""} {
		if got, ok := c.image(name); ok {
			t.Errorf("%q: %+v, want not known", name, got)
		}
	}
	// Same name, size and time: the cached reading, not the new bytes.
	files["boot/snponly.efi"].Data = make([]byte, len(efi))
	if got, _ := c.image("boot/snponly.efi"); !got.EFI {
		t.Errorf("cached file read again: %+v", got)
	}
	// A new version is read again.
	files["boot/snponly.efi"].ModTime = mtime.Add(time.Second)
	if got, _ := c.image("boot/snponly.efi"); got.EFI {
		t.Errorf("changed file not read again: %+v", got)
	}
	// Bounded under a flood of names.
	for i := range 3 * maxImages {
		files["f"+strconv.Itoa(i)] = &fstest.MapFile{Data: efi}
		c.image("f" + strconv.Itoa(i))
	}
	if n := len(c.known); n > maxImages {
		t.Errorf("cache holds %d readings, more than %d", n, maxImages)
	}
	// A file without ReadAt (a generated one) is read from its start.
	plain := &images{files: noReaderAt{files}}
	if got, ok := plain.image("f1"); !ok || got != (journal.Image{EFI: true, Machine: 0x8664}) {
		t.Errorf("file without ReadAt: %+v, %v", got, ok)
	}
}

// TestTransferImage follows a delivered file's headers from the boot folder
// to the journey's transfer event.
func TestTransferImage(t *testing.T) {
	files := fstest.MapFS{
		"snponly.efi":           {Data: peImage(0x8664, magicPE32Plus, 10, 16, 0, 0, 1024)},
		"arm64-placeholder.efi": {Data: []byte("not an EFI image\n")},
	}
	jw := New(Config{Clients: 10, Files: files, ARPPath: filepath.Join(t.TempDir(), "none")}, slog.New(slog.DiscardHandler))
	for i, c := range []struct {
		file string
		res  string
		want *journal.Image
	}{
		{"snponly.efi", tftpd.ResultOK, &journal.Image{EFI: true, Machine: 0x8664}},
		{"arm64-placeholder.efi", tftpd.ResultOK, &journal.Image{}},
		{"snponly.efi", tftpd.ResultAborted, nil}, // only a delivered file is read
		{"missing.efi", tftpd.ResultOK, nil},
	} {
		peer := "10.0.0." + strconv.Itoa(50+i)
		w := jw.StartTFTP(tftpd.Start{Peer: netip.MustParseAddrPort(peer + ":2000"), File: c.file, Size: 1024})
		w.End(c.res, "")
		cl, ok := jw.j.Client(peer)
		if !ok || len(cl.Timeline) != 1 {
			t.Fatalf("%s: no journey %+v", peer, cl)
		}
		if got := cl.Timeline[0].Image; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s: image %+v, want %+v", c.file, c.res, got, c.want)
		}
	}
}

// TestImagesFIFO: a FIFO in a plain folder is not opened (that would block
// the transfer's end until a writer came).
func TestImagesFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "boot.efi"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	go func() {
		_, ok := (&images{files: os.DirFS(dir)}).image("boot.efi")
		done <- ok
	}()
	select {
	case ok := <-done:
		if ok {
			t.Error("a FIFO was read as a file")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("inspecting a FIFO blocked")
	}
}
