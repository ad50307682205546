package main

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/envcfg"
	"github.com/pxeproxy/pxeproxy/internal/testlog"
)

var update = flag.Bool("update", false, "rewrite the environment table in README.md")

func TestConfigDefaults(t *testing.T) {
	c := loadEnv(t)
	bf := c.bootFiles()
	if bf[0] != "undionly.kpxe" || bf[7] != "snponly.efi" || bf[9] != "snponly.efi" || bf[6] != "ipxe-i386.efi" || bf[11] != "ipxe-arm64.efi" {
		t.Fatalf("boot files %v", bf)
	}
	if !bool(c.TFTP) || c.TFTPRoot != "/srv/tftp" || c.TFTPAddr != ":69" || c.IPXEScript != "boot.ipxe" ||
		c.TFTPWindowSizeMax != 64 || c.TFTPMaxTransfers != 256 || time.Duration(c.ShutdownGrace) != 20*time.Second ||
		c.LogFormat != "text" || c.ServerIP.IP != nil || len(c.Interfaces) != 0 || bool(c.AnswerRequest67) ||
		c.JournalClients != 1000 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigValues(t *testing.T) {
	c := loadEnv(t, "PXE_INTERFACES", "lo, lo", "PXE_SERVER_IP", "192.0.2.1",
		"PXE_BOOTFILES", "7=http://10.0.0.5:8080/ipxe.efi, 10=arm32.efi,0=", "PXE_BOOTFILE_ARM64", "",
		"PXE_ALLOW_MACS", "52:54:00,00-1b-21-aa-bb-cc", "PXE_MAC_BOOTFILES", "52:54:00:12:34:56=memtest.kpxe",
		"PXE_TFTP", "off", "PXE_LOG_LEVEL", "DEBUG", "PXE_REPLY_DELAY", "250ms",
		// Removed variables are ignored, whatever their value: a compose
		// file written for an older release still starts.
		"PXE_TFTP_SPIN", "not a duration")
	bf := c.bootFiles()
	if bf[7] != "http://10.0.0.5:8080/ipxe.efi" || bf[10] != "arm32.efi" || bf[9] != "snponly.efi" {
		t.Fatalf("boot files %v", bf)
	}
	if _, ok := bf[11]; ok {
		t.Fatal("an empty PXE_BOOTFILE_ARM64 must switch ARM64 off")
	}
	if _, ok := bf[0]; ok {
		t.Fatal("0= in PXE_BOOTFILES must switch BIOS off")
	}
	if len(c.Interfaces) != 1 || c.ServerIP.String() != "192.0.2.1" || bool(c.TFTP) ||
		len(c.AllowMACs) != 2 || c.AllowMACs[1].String() != "00:1b:21:aa:bb:cc" ||
		len(c.MACBootFiles) != 1 || c.MACBootFiles[0].File != "memtest.kpxe" ||
		time.Duration(c.ReplyDelay) != 250*time.Millisecond {
		t.Fatalf("parsed: %+v", c)
	}
}

// TestConfigErrors: every bad value stops the start with one line naming
// the variable, the value and what is expected.
func TestConfigErrors(t *testing.T) {
	cases := map[string]struct{ key, val, want string }{
		"unknown interface":   {"PXE_INTERFACES", "nosuch0", `PXE_INTERFACES="nosuch0": no interface named "nosuch0"`},
		"bad interface name":  {"PXE_INTERFACES", "eth0/1", `PXE_INTERFACES="eth0/1"`},
		"malformed ip":        {"PXE_SERVER_IP", "10.0.0.300", `PXE_SERVER_IP="10.0.0.300": expected a unicast IPv4 address`},
		"ipv6 boot server":    {"PXE_BOOT_SERVER", "fe80::1", `PXE_BOOT_SERVER="fe80::1": expected a unicast IPv4 address`},
		"pair without =":      {"PXE_BOOTFILES", "7:snponly.efi", `PXE_BOOTFILES="7:snponly.efi": "7:snponly.efi": expected arch=file pairs`},
		"pair with bad arch":  {"PXE_BOOTFILES", "x64=snponly.efi", `PXE_BOOTFILES="x64=snponly.efi"`},
		"arch out of range":   {"PXE_BOOTFILES", "70000=a.efi", `expected arch=file pairs`},
		"level":               {"PXE_LOG_LEVEL", "verbose", `PXE_LOG_LEVEL="verbose": expected debug, info, warn or error`},
		"format":              {"PXE_LOG_FORMAT", "xml", `PXE_LOG_FORMAT="xml": expected text or json`},
		"switch":              {"PXE_TFTP", "maybe", `PXE_TFTP="maybe": expected on or off`},
		"window too large":    {"PXE_TFTP_WINDOWSIZE_MAX", "65", `PXE_TFTP_WINDOWSIZE_MAX=65: expected 1 to 64`},
		"window not a number": {"PXE_TFTP_WINDOWSIZE_MAX", "lots", `PXE_TFTP_WINDOWSIZE_MAX="lots"`},
		"mac":                 {"PXE_ALLOW_MACS", "52:54:zz", `PXE_ALLOW_MACS="52:54:zz": "52:54:zz": expected a MAC address or prefix`},
		"mac too long":        {"PXE_DENY_MACS", "1:2:3:4:5:6:7", `expected a MAC address or prefix`},
		"mac file pair":       {"PXE_MAC_BOOTFILES", "52:54:00", `PXE_MAC_BOOTFILES="52:54:00": "52:54:00": expected mac-or-prefix=file pairs`},
		"delay":               {"PXE_REPLY_DELAY", "soon", `PXE_REPLY_DELAY="soon": expected a duration`},
		"tftp addr":           {"PXE_TFTP_ADDR", "69", `PXE_TFTP_ADDR="69": expected host:port`},
		"http url":            {"PXE_HTTP_URL", "ftp://x", `PXE_HTTP_URL="ftp://x": expected an http:// URL`},
		"https url":           {"PXE_HTTP_URL", "https://10.0.0.5/", `PXE_HTTP_URL="https://10.0.0.5/": expected an http:// URL`},
		"url host name":       {"PXE_HTTP_URL", "http://boot.example/", `host "boot.example" is not an IP address`},
		"bare http":           {"PXE_HTTP_URL", "http://", `PXE_HTTP_URL="http://": expected an http:// URL`},
		"url with space":      {"PXE_HTTP_URL", "http://a b", `PXE_HTTP_URL="http://a b"`},
		"loopback server":     {"PXE_SERVER_IP", "127.0.0.1", `PXE_SERVER_IP="127.0.0.1": expected a unicast IPv4 address on the LAN`},
		"this-network server": {"PXE_SERVER_IP", "0.0.0.1", `PXE_SERVER_IP="0.0.0.1"`},
		"reserved server":     {"PXE_BOOT_SERVER", "240.0.0.1", `PXE_BOOT_SERVER="240.0.0.1"`},
		"rcvbuf wraps":        {"PXE_DHCP_RCVBUF", "2147483648", `PXE_DHCP_RCVBUF=2147483648: expected a size in bytes from 4096`},
		"rcvbuf tiny":         {"PXE_DHCP_RCVBUF", "10", `PXE_DHCP_RCVBUF=10`},
		"long boot file":      {"PXE_BOOTFILE_UEFI", strings.Repeat("a", 256), `PXE_BOOTFILE_UEFI="aaaa`},
		"empty script":        {"PXE_IPXE_SCRIPT", " ", `PXE_IPXE_SCRIPT="": expected a file name or an http:// URL`},
		"delay too long":      {"PXE_REPLY_DELAY", "1000h", `PXE_REPLY_DELAY=1000h0m0s: expected at most 5s`},
		"http addr host name": {"PXE_HTTP_ADDR", "web:8080", `PXE_HTTP_ADDR="web:8080": expected an IP address`},
		"http addr no port":   {"PXE_HTTP_ADDR", ":http", `PXE_HTTP_ADDR=":http": expected a port number`},
		"journal zero":        {"PXE_JOURNAL_CLIENTS", "0", `PXE_JOURNAL_CLIENTS=0: expected 1 to 100000`},
		"journal huge":        {"PXE_JOURNAL_CLIENTS", "1000000", `PXE_JOURNAL_CLIENTS=1000000: expected 1 to 100000`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(c.key, c.val)
			_, err := loadConfig()
			if err == nil {
				t.Fatalf("%s=%q accepted", c.key, c.val)
			}
			if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q, want it to contain %q on one line", msg, c.want)
			}
		})
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"--help"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, v := range envcfg.Vars(Config{}) {
		if v.Name == "" || v.Desc == "" {
			t.Fatalf("config field without envconfig name or desc: %+v", v)
		}
		if !strings.Contains(out.String(), v.Name) {
			t.Errorf("--help does not mention %s", v.Name)
		}
	}
	if err := run([]string{"--bogus"}, &out, &out); err == nil || !strings.Contains(err.Error(), "--help") {
		t.Fatalf("unknown argument: %v", err)
	}
}

// TestREADMEEnvTable keeps the README's environment table generated from
// the Config struct (go test -run TestREADMEEnvTable -update rewrites it).
func TestREADMEEnvTable(t *testing.T) {
	const begin, end = "<!-- env:begin -->\n", "<!-- env:end -->"
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", begin, end)
	}
	want := markdownEnv()
	if got := readme[i+len(begin) : j]; got != want {
		if !*update {
			t.Fatalf("README.md environment table is stale: run go test -run TestREADMEEnvTable -update .")
		}
		readme = readme[:i+len(begin)] + want + readme[j:]
		if err := os.WriteFile("README.md", []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConfigGoodURLs(t *testing.T) {
	for _, v := range []string{"http://10.0.0.5", "http://10.0.0.5:8080/boot/", "http://[fd00::5]:8080/x"} {
		if err := checkHTTPURL(v); err != nil {
			t.Errorf("%q refused: %v", v, err)
		}
	}
}

func TestConfigWarnsWhenEveryArchIsOff(t *testing.T) {
	clearEnv(t)
	for _, k := range []string{"PXE_BOOTFILE_BIOS", "PXE_BOOTFILE_UEFI", "PXE_BOOTFILE_UEFI32", "PXE_BOOTFILE_ARM64"} {
		t.Setenv(k, "")
	}
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if w := c.warnings(); len(w) != 1 || !strings.Contains(w[0], "no PXE client will be answered") {
		t.Fatalf("warnings %q", w)
	}
}

// TestSIGHUPIsLoggedNotFatal: SIGHUP killed the process at once (exit 129,
// buffered log lost). Now it is a logged no-op: this very test process gets
// one and lives on.
func TestSIGHUPIsLoggedNotFatal(t *testing.T) {
	logs := &testlog.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ignoreHangup(ctx, slog.New(slog.NewTextHandler(logs, nil)))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "SIGHUP ignored") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for SIGHUP: %q", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMenuConfigErrors(t *testing.T) {
	cases := map[string]struct{ key, val, want string }{
		"default not an id": {"PXE_MENU_DEFAULT", "Debian 12", `PXE_MENU_DEFAULT="Debian 12": expected an entry id`},
		"default injects":   {"PXE_MENU_DEFAULT", "local\nreboot", `PXE_MENU_DEFAULT="local\nreboot"`},
		"timeout too long":  {"PXE_MENU_TIMEOUT", "25h", `PXE_MENU_TIMEOUT=25h0m0s: expected at most 24h0m0s`},
		"timeout negative":  {"PXE_MENU_TIMEOUT", "-1s", `PXE_MENU_TIMEOUT="-1s": expected a duration`},
		"wds not ipv4":      {"PXE_WDS_SERVER", "wds.example", `PXE_WDS_SERVER="wds.example": expected a unicast IPv4 address`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(c.key, c.val)
			_, err := loadConfig()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%s=%q: error %v, want %q", c.key, c.val, err, c.want)
			}
		})
	}
}
