// Package metrics counts what pxeproxy does, for Prometheus.
//
// Contract: every series is named pxeproxy_* and lives in a private registry
// (never the global one, so tests and embedders get clean counts), and every
// label has a bounded set of values: ports, option 93 architectures that
// have a configured boot file, client classes, the fixed reason words of
// the callers, fixed TFTP result words, the boot journal's closed set of
// states, and at most maxConflictServers server addresses. Nothing taken verbatim from a packet becomes a label
// unless it is capped. The methods take plain values (the command adapts
// its services' callbacks), so this package imports none of pxeproxy's. They
// are safe for concurrent use and a nil *Metrics ignores every call, so
// callers need no "metrics on?" checks.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxConflictServers caps the distinct server addresses labelled in
// pxeproxy_conflicts_total: the source of a DHCP offer can be spoofed, and
// every new address would otherwise be a new series forever.
const maxConflictServers = 64

// otherServer is the server label used beyond maxConflictServers.
const otherServer = "other"

// TFTP result label values.
const (
	ResultOK     = "ok"
	ResultFailed = "failed"
	ResultProbe  = "probe" // EDK2 tsize probe aborted with ERROR 8 (docs/pxe-notes.md §7)
)

// TFTP failure reason label values.
const (
	FailNotFound = "not-found"
	FailAccess   = "access-denied"
	FailOther    = "other" // timeouts, client aborts, busy
)

// TFTPTransfer is one finished TFTP request as the metrics count it.
type TFTPTransfer struct {
	// Bytes is the payload the client acknowledged.
	Bytes int64
	// Retransmits counts DATA and OACK packets sent more than once.
	Retransmits int
	// Probe marks an EDK2-style tsize probe: neither ok nor failed.
	Probe bool
	// Failure is empty for a completed transfer, else why it failed:
	// FailNotFound, FailAccess, or FailOther (any other word counts as it).
	Failure string
	// Dur, BlockSize and WindowSize of completed transfers feed the
	// histograms.
	Dur                   time.Duration
	BlockSize, WindowSize int
}

// Metrics holds every pxeproxy series in its own registry.
type Metrics struct {
	reg *prometheus.Registry

	replies  *prometheus.CounterVec
	ignored  *prometheus.CounterVec
	tftpXfer *prometheus.CounterVec
	tftpFail *prometheus.CounterVec
	tftpByte prometheus.Counter
	tftpRetx prometheus.Counter
	tftpDur  prometheus.Histogram
	tftpBlk  prometheus.Histogram
	tftpWin  prometheus.Histogram
	httpByte prometheus.Counter
	httpResp prometheus.Counter
	conflict *prometheus.CounterVec
	handler  http.Handler

	mu      sync.Mutex
	servers map[string]bool // conflict server labels handed out so far
}

// New returns Metrics with every series registered, plus the Go runtime and
// process collectors (memory, goroutines, open files) of the private registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pxeproxy_proxy_replies_total",
			Help: "ProxyDHCP replies sent, by local port (67 or 4011), client architecture (option 93 number) and client class (bios, uefi, ipxe, http).",
		}, []string{"port", "arch", "class"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pxeproxy_proxy_ignored_total",
			Help: "Packets on port 67 or 4011 not answered, by local port and reason (not-pxe is ordinary DHCP traffic and expected).",
		}, []string{"port", "reason"}),
		tftpXfer: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pxeproxy_tftp_transfers_total",
			Help: "TFTP read requests finished, by result: ok, failed (including refused and busy), probe (EDK2 tsize probe, normal before the real download).",
		}, []string{"result"}),
		tftpFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pxeproxy_tftp_failures_total",
			Help: "Failed TFTP transfers by reason: not-found, access-denied, other (timeouts, client aborts, busy).",
		}, []string{"reason"}),
		tftpByte: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pxeproxy_tftp_bytes_total",
			Help: "TFTP payload bytes acknowledged by clients, completed and failed transfers alike.",
		}),
		tftpRetx: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pxeproxy_tftp_retransmits_total",
			Help: "TFTP DATA and OACK packets sent more than once (lost packets or slow clients).",
		}),
		tftpDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pxeproxy_tftp_transfer_duration_seconds",
			Help:    "Duration of completed TFTP transfers, from read request to last ACK.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		tftpBlk: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pxeproxy_tftp_blksize_bytes",
			Help: "Block size of completed TFTP transfers (RFC 2348; 512 when not negotiated).",
			// 1408-1468: what firmware asks for on a 1500-byte MTU.
			Buckets: []float64{512, 1024, 1408, 1432, 1456, 1468, 4096, 8192, 16384, 32768, 65464},
		}),
		tftpWin: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pxeproxy_tftp_windowsize",
			Help:    "Window size of completed TFTP transfers (RFC 7440; 1 is lock-step).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}),
		httpByte: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pxeproxy_http_bytes_total",
			Help: "Boot file bytes sent over HTTP.",
		}),
		httpResp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pxeproxy_http_files_total",
			Help: "Boot file responses over HTTP with status 200 or 206 (HEAD included).",
		}),
		conflict: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pxeproxy_conflicts_total",
			Help: "Offers from other DHCP/ProxyDHCP servers that can misdirect PXE clients, by server address (at most 64, then \"other\") and kind.",
		}, []string{"server", "kind"}),
		servers: map[string]bool{},
	}
	m.reg.MustRegister(m.replies, m.ignored, m.tftpXfer, m.tftpFail, m.tftpByte, m.tftpRetx,
		m.tftpDur, m.tftpBlk, m.tftpWin, m.httpByte, m.httpResp, m.conflict,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Results exist from the start at 0, so a dashboard's rate() and
	// "failed / all" work before the first failure.
	for _, r := range []string{ResultOK, ResultFailed, ResultProbe} {
		m.tftpXfer.WithLabelValues(r)
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry: m.reg, // also counts scrape errors in promhttp_* series
		// A failing collector (e.g. /proc unreadable in a sandbox) must not
		// hide every pxeproxy series.
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m
}

// ProxyReply counts one reply sent from local port to a client of
// architecture arch (option 93) and class.
func (m *Metrics) ProxyReply(port, arch int, class string) {
	if m == nil {
		return
	}
	m.replies.WithLabelValues(strconv.Itoa(port), strconv.Itoa(arch), class).Inc()
}

// ProxyIgnored counts one packet not answered; it fits
// proxy.Server.OnIgnore. reason must come from a fixed set (proxy.Reason).
func (m *Metrics) ProxyIgnored(port int, reason string) {
	if m == nil {
		return
	}
	m.ignored.WithLabelValues(strconv.Itoa(port), reason).Inc()
}

// TFTPDone counts one finished TFTP request.
func (m *Metrics) TFTPDone(t TFTPTransfer) {
	if m == nil {
		return
	}
	m.tftpByte.Add(float64(t.Bytes))
	m.tftpRetx.Add(float64(t.Retransmits))
	switch {
	case t.Probe:
		m.tftpXfer.WithLabelValues(ResultProbe).Inc()
	case t.Failure != "":
		reason := t.Failure
		if reason != FailNotFound && reason != FailAccess {
			reason = FailOther
		}
		m.tftpXfer.WithLabelValues(ResultFailed).Inc()
		m.tftpFail.WithLabelValues(reason).Inc()
	default:
		m.tftpXfer.WithLabelValues(ResultOK).Inc()
		m.tftpDur.Observe(t.Dur.Seconds())
		m.tftpBlk.Observe(float64(t.BlockSize))
		m.tftpWin.Observe(float64(t.WindowSize))
	}
}

// HTTPServed counts one boot file response over HTTP that sent bytes of
// file content.
func (m *Metrics) HTTPServed(bytes int64) {
	if m == nil {
		return
	}
	m.httpResp.Inc()
	m.httpByte.Add(float64(bytes))
}

// Conflict counts one offending offer from another server (its address) of
// a kind named by the conflict detector from its own fixed set.
func (m *Metrics) Conflict(server, kind string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if !m.servers[server] {
		if len(m.servers) < maxConflictServers {
			m.servers[server] = true
		} else {
			server = otherServer
		}
	}
	m.mu.Unlock()
	m.conflict.WithLabelValues(server, kind).Inc()
}

// Registry returns the private registry, for tests and for adding
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format; for a nil
// *Metrics it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}
