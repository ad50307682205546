package journal

import (
	"bytes"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
)

func TestClosest(t *testing.T) {
	names := []string{"undionly.kpxe", "snponly.efi", "ipxe.efi", "boot.ipxe", "Boot/BCD", "boot/x64/wdsnbp.com",
		"grubx64.efi", "EFI/debian/grubx64.efi", "pxelinux.0", "pxelinux.cfg/default", "ldlinux.c32", "grubnetx64.efi.signed"}
	cases := map[string]string{
		"UNDIONLY.KPXE":              "undionly.kpxe",          // case
		`\boot\bcd`:                  "Boot/BCD",               // backslashes and case
		"snponly.efi.signed":         "snponly.efi",            // the name without its extension
		"grubnetx64.efi":             "grubnetx64.efi.signed",  // the name with one more extension (Debian's signed files)
		"snponly.efi.signed.bak":     "",                       // too far
		"undionly.pxe":               "undionly.kpxe",          // one edit
		"ipxe.kpxe":                  "ipxe.efi",               // another extension
		"debian/grubx64.efi":         "EFI/debian/grubx64.efi", // another folder, same name
		"x64/pxelinux.0":             "pxelinux.0",
		"pxelinux.cfg/01-52-54-00-1": "pxelinux.cfg/default", // nothing near
		"grubx86.efi":                "grubx64.efi",
		"":                           "",
	}
	cases["pxelinux.cfg/01-52-54-00-1"] = ""
	for in, want := range cases {
		if got := Closest(in, names); got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev = cur
	}
	return prev[len(b)]
}

// TestEditDistanceBand: the banded distance agrees with the plain one up to
// the limit.
func TestEditDistanceBand(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = "abc"[r.IntN(3)]
		}
		return string(b)
	}
	for range 20000 {
		a, b, limit := word(), word(), 1+r.IntN(3)
		want := min(levenshtein(a, b), limit+1)
		if got := editDistance(a, b, limit); got != want {
			t.Fatalf("editDistance(%q, %q, %d) = %d, want %d", a, b, limit, got, want)
		}
	}
}

func TestClosestOnNotFound(t *testing.T) {
	calls := 0
	j, c := newTest(t, Config{Names: func() []string { calls++; return []string{"Grubx64.efi", "boot.ipxe"} }})
	for i := range 100 {
		tr := j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer("10.0.0.1"), File: "grubx64.EFI"})
		tr.End(ResultNotFound, "")
		if i == 0 {
			d, _ := j.Client("10.0.0.1")
			if got := d.Timeline[0].Closest; got != "Grubx64.efi" {
				t.Fatalf("closest %q", got)
			}
		}
	}
	if calls != 1 {
		t.Fatalf("Names called %d times in one instant", calls)
	}
	c.Add(11 * time.Second)
	j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer("10.0.0.1"), File: "x"}).End(ResultNotFound, "")
	if calls != 2 {
		t.Fatalf("Names called %d times after its TTL", calls)
	}
}

func TestVendor(t *testing.T) {
	j, _ := newTest(t, Config{})
	for in, want := range map[string]string{
		"00:0c:29:01:02:03": "VMware",
		"3c:52:82:aa:bb:cc": "Hewlett Packard",
		"dc:a6:32:00:00:01": "Raspberry Pi Trading",
		"52:54:00:12:34:56": "QEMU/KVM",
		"02:00:00:00:00:01": "", // locally administered
		"00:00:00:00:00:00": "XEROX",
	} {
		m, _ := net.ParseMAC(in)
		if got := j.vendor(m); got != want {
			t.Errorf("vendor(%s) = %q, want %q", in, got, want)
		}
	}
	tb := loadOUI(ouiGz)
	if len(tb.keys) < 30000 || len(tb.names) < 15000 {
		t.Fatalf("table has %d keys, %d names", len(tb.keys), len(tb.names))
	}
	if bad := loadOUI([]byte("not gzip")); len(bad.keys) != 0 || bad.lookup(net.HardwareAddr{0, 0x0c, 0x29}) != "" {
		t.Fatal("a damaged table gave names")
	}
}

func TestWriteTable(t *testing.T) {
	j, c := newTest(t, Config{})
	boot(j, c, mac(1), "10.0.0.1")
	j.Discover(Discover{MAC: mac(2), Port: PortDHCP, Arch: 7, Vendor: pxeVendor})
	j.Reply(Reply{MAC: mac(2), Port: PortDHCP, File: "snponly.efi"})
	j.StartTransfer(TransferStart{Proto: "tftp", Peer: peer("10.0.0.2"), MAC: mac(2), File: "snponly.efi", Size: 1000}).Progress(420, 0)
	j.Clients()             // a reader sees it move...
	c.Add(90 * time.Second) // ...and then not
	var buf bytes.Buffer
	if err := WriteTable(&buf, ClientList{Now: c.Now(), Clients: j.Clients()}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%q", buf.String())
	}
	want := []string{
		"MAC                VENDOR    IP        ARCH              STATE                LAST    VERDICT",
		"52:54:00:00:00:02  QEMU/KVM  10.0.0.2  7 EFI x86-64      transfer-failed 42%  1m ago  The TFTP transfer of snponly.efi is stalled at byte 420 of 1,000 (42.0%) with no retransmits (no progress for 90 s).",
		"52:54:00:00:00:01  QEMU/KVM  10.0.0.1  0 x86 BIOS +iPXE  booted               1m ago  Booted in 3.0 s: after undionly.kpxe it fetched /boot.ipxe (300 bytes).",
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[i], want[i])
		}
	}
	// A hostile server's fields cannot move the terminal's cursor or break
	// the columns.
	buf.Reset()
	_ = WriteTable(&buf, ClientList{Now: c.Now(), Clients: []Client{{ID: "x", MAC: "\x1b[2J", Vendor: "a\tb", Verdict: "v\r\nw"}}})
	if strings.ContainsAny(buf.String()[strings.IndexByte(buf.String(), '\n')+1:len(buf.String())-1], "\x1b\t\r\n") {
		t.Fatalf("control characters passed: %q", buf.String())
	}
}
