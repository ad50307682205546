// Package instance talks to a running pxeproxy on loopback, for the
// subcommands run next to it (in its container, or over SSH on its host):
// the healthcheck and the boot journal's table. Both are configured by the
// same settings as the server, so they find its listeners without flags.
package instance

// The healthcheck exists because the container image is FROM scratch:
// Docker's HEALTHCHECK has no shell, curl or tftp client to call, so the
// binary probes its own listeners on loopback.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pxeproxy/pxeproxy/tftpd"
)

// healthcheckTimeout bounds each probe. Docker's own HEALTHCHECK timeout
// (compose: 5s) must stay above it.
const healthcheckTimeout = 2 * time.Second

// Config is where the running instance listens: the server's own settings.
type Config struct {
	// HTTPAddr is PXE_HTTP_ADDR ("": no HTTP listener).
	HTTPAddr string
	// TFTP is PXE_TFTP, TFTPAddr PXE_TFTP_ADDR.
	TFTP     bool
	TFTPAddr string
	// IPXEScript is PXE_IPXE_SCRIPT, the file the TFTP probe asks for.
	IPXEScript string
}

// Healthcheck probes the local pxeproxy services and returns the process
// exit code: 0 when they answer (or when nothing local can be probed), 1
// otherwise. One line describing the result goes to stdout, which Docker
// keeps in the health log.
func Healthcheck(cfg Config, stdout io.Writer) int {
	if cfg.HTTPAddr != "" {
		url, err := healthzURL(cfg.HTTPAddr)
		if err == nil {
			err = probeHTTP(url, healthcheckTimeout)
		}
		if err != nil {
			fmt.Fprintf(stdout, "unhealthy: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "healthy: %s answered 200\n", url)
		return 0
	}
	if !cfg.TFTP {
		fmt.Fprintln(stdout, "healthy: nothing to probe (PXE_HTTP_ADDR empty and PXE_TFTP=off)")
		return 0
	}
	target, err := loopbackTarget(cfg.TFTPAddr)
	if err != nil {
		fmt.Fprintf(stdout, "unhealthy: PXE_TFTP_ADDR=%q: %v\n", cfg.TFTPAddr, err)
		return 1
	}
	file := probeFile(cfg.IPXEScript)
	reply, err := tftpd.Probe(target, file, healthcheckTimeout)
	if err != nil {
		fmt.Fprintf(stdout, "unhealthy: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "healthy: tftp %s answered %s for %q\n", target, reply, file)
	return 0
}

// probeFile picks the file name asked for in the TFTP probe. A URL in
// PXE_IPXE_SCRIPT is not a TFTP file, so the default name is asked instead:
// any reply, even "file not found", proves the server loop is alive.
func probeFile(script string) string {
	if script == "" || strings.Contains(script, "://") {
		return "boot.ipxe"
	}
	return script
}

// loopbackTarget turns a listen address into the address to probe: a
// wildcard or empty host (":69", "0.0.0.0:69", "[::]:69") is probed on
// 127.0.0.1; a listener bound to one address is probed on that address.
func loopbackTarget(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("parse listen address: %w", err)
	}
	if port == "" {
		return "", errors.New("parse listen address: missing port")
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// healthzURL is the URL probed for a PXE_HTTP_ADDR listen address.
func healthzURL(listen string) (string, error) {
	target, err := loopbackTarget(listen)
	if err != nil {
		return "", fmt.Errorf("PXE_HTTP_ADDR=%q: %w", listen, err)
	}
	return "http://" + target + "/healthz", nil
}

// probeHTTP succeeds when GET url answers 200 within timeout.
func probeHTTP(url string, timeout time.Duration) error {
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("http probe: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("http probe: %s answered %s", url, resp.Status)
	}
	return nil
}
