package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// healthcheck runs `pxeproxy healthcheck args...` and returns its exit code.
func healthcheck(args []string, stdout *bytes.Buffer) int {
	var ec exitCode
	if err := run(append([]string{"healthcheck"}, args...), stdout, stdout); errors.As(err, &ec) {
		return int(ec)
	} else if err != nil {
		return -1
	}
	return 0
}

func setEnv(t *testing.T, kv map[string]string) {
	t.Helper()
	clearEnv(t)
	for k, v := range kv {
		if v != "" {
			t.Setenv(k, v)
		}
	}
}

func TestHealthcheckBadConfig(t *testing.T) {
	setEnv(t, map[string]string{"PXE_TFTP": "maybe"})
	var out bytes.Buffer
	if code := healthcheck(nil, &out); code != 1 || !strings.Contains(out.String(), "PXE_TFTP") {
		t.Fatalf("exit code %d, output %q: want 1 naming the variable", code, out.String())
	}
}

// TestHealthcheckNothingToProbe: the command reads the same settings as
// the server (the probes are tested in internal/instance).
func TestHealthcheckNothingToProbe(t *testing.T) {
	setEnv(t, map[string]string{"PXE_TFTP": "off"})
	var out bytes.Buffer
	if got := healthcheck(nil, &out); got != 0 {
		t.Fatalf("exit code = %d, want 0; output %q", got, out.String())
	}
	if !strings.Contains(out.String(), "nothing to probe") {
		t.Errorf("output %q does not say why", out.String())
	}
}

func TestHealthcheckUsage(t *testing.T) {
	var out bytes.Buffer
	if got := healthcheck([]string{"-x"}, &out); got != 2 {
		t.Fatalf("exit code = %d, want 2", got)
	}
}
