package tftpd

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// realClients names the independent TFTP clients and the Debian package
// that ships each. A missing one fails the test: CI installs them.
var realClients = map[string]string{"curl": "curl", "atftp": "atftp", "tftp": "tftp-hpa"}

func needBin(t testing.TB, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("TFTP client %q not found (install Debian package %q): %v", bin, realClients[bin], err)
	}
	return p
}

// getter downloads file from srv into out with one real client.
type getter func(t testing.TB, srv *net.UDPAddr, file, out string) (trace string)

func curlGet(blksize int) getter {
	return func(t testing.TB, srv *net.UDPAddr, file, out string) string {
		args := []string{"-sS", "--fail", "--max-time", "120", "-o", out}
		if blksize > 0 {
			args = append(args, "--tftp-blksize", fmt.Sprint(blksize))
		}
		args = append(args, fmt.Sprintf("tftp://%s/%s", srv, file))
		return runClient(t, "curl", args...)
	}
}

func atftpGet(blksize, window int) getter {
	return func(t testing.TB, srv *net.UDPAddr, file, out string) string {
		args := []string{"--trace", "--option", "tsize 0"}
		if blksize > 0 {
			args = append(args, "--option", fmt.Sprintf("blksize %d", blksize))
		}
		if window > 0 {
			args = append(args, "--option", fmt.Sprintf("windowsize %d", window))
		}
		args = append(args, "-g", "-r", file, "-l", out, srv.IP.String(), fmt.Sprint(srv.Port))
		return runClient(t, "atftp", args...)
	}
}

func hpaGet(mode string) getter {
	return func(t testing.TB, srv *net.UDPAddr, file, out string) string {
		return runClient(t, "tftp", srv.IP.String(), fmt.Sprint(srv.Port), "-m", mode, "-c", "get", file, out)
	}
}

func runClient(t testing.TB, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(needBin(t, bin), args...)
	outb, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, tail(outb))
	}
	return string(outb)
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func fileSum(t testing.TB, p string) ([32]byte, int64) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil)), n
}

// bigFile is one > 32 MiB file shared by the tests that cross the 16-bit
// block number wrap at blksize 512 (65535 x 512 = 32 MiB).
var bigFile struct {
	once sync.Once
	dir  string
	sum  [32]byte
}

const bigSize = 33<<20 + 12345

func bigDir(t testing.TB) (string, [32]byte) {
	bigFile.once.Do(func() {
		dir, err := os.MkdirTemp("", "tftpd-big-")
		if err != nil {
			t.Fatal(err)
		}
		bigFile.dir = dir
		bigFile.sum = randomFile(t, dir, "boot.wim", bigSize)
	})
	return bigFile.dir, bigFile.sum
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigFile.dir != "" {
		os.RemoveAll(bigFile.dir)
	}
	os.Exit(code)
}

func TestRealClients(t *testing.T) {
	for bin := range realClients {
		needBin(t, bin)
	}
	dir := t.TempDir()
	sums := map[string][32]byte{
		"undionly.kpxe":        randomFile(t, dir, "undionly.kpxe", 70*1024),
		"exact.bin":            randomFile(t, dir, "exact.bin", 64*1468),
		"empty":                randomFile(t, dir, "empty", 0),
		"Boot/x64/wdsnbp.com":  randomFile(t, dir, "wdsnbp.com", 3<<20),
		"pxelinux.cfg/default": {},
	}
	os.MkdirAll(filepath.Join(dir, "Boot/x64"), 0o755)
	os.Rename(filepath.Join(dir, "wdsnbp.com"), filepath.Join(dir, "Boot/x64/wdsnbp.com"))
	writeFile(t, dir, "pxelinux.cfg/default", "DEFAULT linux\nLABEL linux\r\n  KERNEL vmlinuz\n")
	sums["pxelinux.cfg/default"], _ = fileSum(t, filepath.Join(dir, "pxelinux.cfg/default"))
	ts := startServer(t, Config{}, dir)

	cases := []struct {
		name, file string
		get        getter
		blksize    int
		window     int
	}{
		{"curl default", "undionly.kpxe", curlGet(0), 512, 1},
		{"curl 1468", "undionly.kpxe", curlGet(1468), 1468, 1},
		{"curl exact multiple", "exact.bin", curlGet(1468), 1468, 1},
		{"curl 8", "undionly.kpxe", curlGet(8), 8, 1},
		{"curl windows path", `boot/X64/WDSNBP.COM`, curlGet(1468), 1468, 1},
		{"atftp lock-step", "undionly.kpxe", atftpGet(1468, 0), 1468, 1},
		{"atftp window 4", `Boot/x64/wdsnbp.com`, atftpGet(1468, 4), 1468, 4},
		{"atftp window 16", `boot/x64/wdsnbp.com`, atftpGet(1468, 16), 1468, 16},
		{"atftp window 64", "exact.bin", atftpGet(1468, 64), 1468, 64},
		{"atftp window 64 big blocks", `Boot\x64\wdsnbp.com`, atftpGet(65464, 64), 65464, 64},
		// curl 7.88 fails on empty files with any server (tftpd-hpa too:
		// "getpeername() failed with errno 107"), so only atftp covers them.
		{"atftp empty", "empty", atftpGet(1468, 16), 1468, 16},
		{"tftp-hpa binary", "undionly.kpxe", hpaGet("binary"), 512, 1},
		{"tftp-hpa binary 3M", `\Boot\x64\wdsnbp.com`, hpaGet("binary"), 512, 1},
		{"tftp-hpa netascii", "pxelinux.cfg/default", hpaGet("netascii"), 512, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			trace := c.get(t, ts.addr, c.file, out)
			st := ts.next(t)
			sum, n := fileSum(t, out)
			key := strings.ReplaceAll(c.file, `\`, "/")
			for k := range sums {
				if strings.EqualFold(strings.TrimPrefix(key, "/"), k) {
					key = k
				}
			}
			if sum != sums[key] {
				t.Fatalf("sha256 mismatch for %s (%d bytes)", c.file, n)
			}
			if st.Err != nil || st.BlockSize != c.blksize || st.WindowSize != c.window {
				t.Fatalf("stats %+v; want blksize %d windowsize %d", st, c.blksize, c.window)
			}
			if strings.HasPrefix(c.name, "atftp") {
				// atftp --trace prints the OACK it received.
				want := fmt.Sprintf("windowsize: %d", c.window)
				if c.window == 0 || c.window == 1 {
					want = "received OACK"
				}
				if !strings.Contains(trace, "received OACK") || !strings.Contains(trace, want) {
					t.Fatalf("atftp trace lacks OACK with %q:\n%s", want, tail([]byte(trace)))
				}
			}
		})
	}
}

// TestBlockNumberWrap downloads a file above 32 MiB at blksize 512, so the
// 16-bit block number rolls over, lock-step (curl) and windowed (atftp).
func TestBlockNumberWrap(t *testing.T) {
	dir, want := bigDir(t)
	ts := startServer(t, Config{}, dir)
	for name, get := range map[string]getter{
		"curl lock-step":  curlGet(512),
		"atftp window 16": atftpGet(512, 16),
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			start := time.Now()
			get(t, ts.addr, "BOOT.WIM", out)
			st := ts.next(t)
			if sum, n := fileSum(t, out); sum != want || n != bigSize {
				t.Fatalf("got %d bytes; sha256 mismatch=%v", n, sum != want)
			}
			if st.Err != nil || st.Bytes != bigSize || st.BlockSize != 512 {
				t.Fatalf("stats %+v", st)
			}
			t.Logf("%s: %d bytes in %v", name, st.Bytes, time.Since(start))
		})
	}
}
