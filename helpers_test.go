package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pxeproxy/pxeproxy/internal/testlog"
)

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer = testlog.Buffer

// clearEnv unsets every PXE_ variable for the test, so the host's
// environment cannot leak into the configuration read.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PXE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// loadEnv reads the configuration as main does from an environment holding
// only the PXE_ variables of kv (name, value, name, value...).
func loadEnv(t *testing.T, kv ...string) *Config {
	t.Helper()
	if len(kv)%2 != 0 {
		t.Fatalf("loadEnv: %q is a name without a value", kv[len(kv)-1])
	}
	clearEnv(t)
	for i := 0; i < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// bootFolder returns a new boot folder holding files.
func bootFolder(t *testing.T, files map[string][]byte) string {
	t.Helper()
	root := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// listen68 opens a PXE client's port 68 on ifname, allowed to broadcast its
// DISCOVER. Call it inside the client's namespace (Netns.Do).
func listen68(ifname string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			_ = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
		})
	}}
	return lc.ListenPacket(context.Background(), "udp4", ":68")
}
