package main

// The healthcheck subcommand exists because the container image is FROM
// scratch: Docker's HEALTHCHECK has no shell, curl or tftp client to call, so
// the binary probes its own listeners on loopback.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// healthcheckTimeout bounds each probe. Docker's own HEALTHCHECK timeout
// (compose: 5s) must stay above it.
const healthcheckTimeout = 2 * time.Second

// TFTP opcodes (RFC 1350, RFC 2347).
const (
	tftpRRQ   = 1
	tftpDATA  = 3
	tftpERROR = 5
	tftpOACK  = 6
)

// healthcheck probes the local pxeproxy services, configured by the same
// PXE_* variables as the server, and returns the process exit code: 0 when
// they answer (or when nothing local can be probed), 1 otherwise. One line
// describing the result goes to stdout, which Docker keeps in the health log.
func healthcheck(args []string, stdout io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stdout, "usage: pxeproxy healthcheck (configured by the PXE_* environment variables)")
		return 2
	}
	if addr := os.Getenv("PXE_HTTP_ADDR"); addr != "" {
		url, err := healthzURL(addr)
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
	if tftpOff(os.Getenv("PXE_TFTP")) {
		fmt.Fprintln(stdout, "healthy: nothing to probe (PXE_HTTP_ADDR empty and PXE_TFTP=off)")
		return 0
	}
	tftpAddr := os.Getenv("PXE_TFTP_ADDR")
	if tftpAddr == "" {
		tftpAddr = ":69"
	}
	target, err := loopbackTarget(tftpAddr)
	if err != nil {
		fmt.Fprintf(stdout, "unhealthy: PXE_TFTP_ADDR=%q: %v\n", tftpAddr, err)
		return 1
	}
	file := probeFile(os.Getenv("PXE_IPXE_SCRIPT"))
	reply, err := probeTFTP(target, file, healthcheckTimeout)
	if err != nil {
		fmt.Fprintf(stdout, "unhealthy: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "healthy: tftp %s answered %s for %q\n", target, reply, file)
	return 0
}

// tftpOff reports whether PXE_TFTP turns the bundled TFTP server off. Empty
// means the default, on.
func tftpOff(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "off", "false", "0", "no":
		return true
	}
	return false
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

// probeTFTP sends a read request for file to target and waits for one
// well-formed reply (DATA, OACK or ERROR) from the target's host, which it
// names. The request carries tsize=0, like EDK2's size probe: a server that
// supports options answers with an OACK, and the probe then aborts with
// ERROR 8 (RFC 2347 option refusal), which servers treat as the normal end of
// a size probe rather than as a failed transfer (PXE-NOTES §7). A DATA reply
// is aborted with ERROR 0 so the server does not retransmit.
func probeTFTP(target, file string, timeout time.Duration) (string, error) {
	raddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return "", fmt.Errorf("tftp probe: resolve %s: %w", target, err)
	}
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return "", fmt.Errorf("tftp probe: open socket: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", fmt.Errorf("tftp probe: set deadline: %w", err)
	}
	if _, err := conn.WriteToUDP(rrq(file), raddr); err != nil {
		return "", fmt.Errorf("tftp probe: send read request to %s: %w", target, err)
	}
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return "", fmt.Errorf("tftp probe: no reply from %s: %w", target, err)
		}
		// The reply comes from a fresh port (the server's transfer ID,
		// RFC 1350 §4) but from the same host; anything else is not ours.
		if !from.IP.Equal(raddr.IP) {
			continue
		}
		kind, err := classifyTFTP(buf[:n])
		if err != nil {
			return "", fmt.Errorf("tftp probe: reply from %s: %w", from, err)
		}
		switch kind {
		case "OACK":
			_, _ = conn.WriteToUDP(tftpError(8, "healthcheck size probe"), from)
		case "DATA":
			_, _ = conn.WriteToUDP(tftpError(0, "healthcheck done"), from)
		}
		return kind, nil
	}
}

// classifyTFTP names a server reply that a live TFTP loop may send to a read
// request, or says why the packet is not one.
func classifyTFTP(p []byte) (string, error) {
	if len(p) < 4 {
		return "", fmt.Errorf("short packet (%d bytes)", len(p))
	}
	switch op := binary.BigEndian.Uint16(p); op {
	case tftpDATA:
		if binary.BigEndian.Uint16(p[2:]) != 1 {
			return "", fmt.Errorf("data block %d, want 1", binary.BigEndian.Uint16(p[2:]))
		}
		return "DATA", nil
	case tftpOACK:
		if p[len(p)-1] != 0 {
			return "", errors.New("oack options not NUL-terminated")
		}
		return "OACK", nil
	case tftpERROR:
		if len(p) < 5 || p[len(p)-1] != 0 {
			return "", errors.New("error message not NUL-terminated")
		}
		return fmt.Sprintf("ERROR %d %q", binary.BigEndian.Uint16(p[2:]), p[4:len(p)-1]), nil
	default:
		return "", fmt.Errorf("unexpected opcode %d", op)
	}
}

// rrq builds an octet-mode read request asking for the file size (tsize=0).
func rrq(file string) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, uint16(tftpRRQ))
	for _, s := range []string{file, "octet", "tsize", "0"} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	return b.Bytes()
}

// tftpError builds an ERROR packet.
func tftpError(code uint16, msg string) []byte {
	p := binary.BigEndian.AppendUint16(nil, tftpERROR)
	p = binary.BigEndian.AppendUint16(p, code)
	p = append(p, msg...)
	return append(p, 0)
}
