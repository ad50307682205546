// Package metrics counts what pxeproxy does, for Prometheus.
//
// Contract: every series is named pxeproxy_* and lives in a private registry
// (never the global one, so tests and embedders get clean counts), and every
// label has a closed or capped set of values: the option 93 architectures
// given in Config.Archs (every other number is "other"), fixed TFTP result
// and failure words, the boot journal's states, and for every other label (ports, client classes, the
// callers' reason and kind words, conflicting server addresses) the first
// few distinct values seen, then "other". Nothing a LAN packet carries can
// add series without bound. The methods take plain values (the command adapts
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

// Caps on the distinct values of labels that are not a closed set. The
// source of a DHCP offer can be spoofed, so every new address would
// otherwise be a new series forever; the others are fixed words of the
// callers, capped in case a caller passes something it should not.
const (
	maxConflictServers = 64
	maxWords           = 16 // classes, kinds
	// maxReasons is above the fixed reasons of proxy and proxy6 together
	// (21): at 16, the first reasons a LAN host provoked took every label,
	// and bad-giaddr or mac-denied then counted as "other".
	maxReasons = 48
	maxPorts   = 4
)

// other is the label value of everything outside a closed set or past a cap.
const other = "other"

// Config says which label values are expected. The zero value labels every
// architecture "other".
type Config struct {
	// Archs are the option 93 architectures that have a boot file: each is
	// its own arch label; any other number a client sends is "other".
	Archs []uint16
}

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
	FailBusy     = "busy"  // refused: too many transfers at once, in all or from one address
	FailOther    = "other" // timeouts, client aborts
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
	httpRefd prometheus.Counter
	conflict *prometheus.CounterVec
	handler  http.Handler

	archs                map[int]string // the closed set of arch labels
	ports, classes       *capped
	reasons, kinds, srvs *capped
}

// New returns Metrics with every series registered, plus the Go runtime and
// process collectors (memory, goroutines, open files) of the private registry.
func New(cfg Config) *Metrics {
	m := &Metrics{
		reg:     prometheus.NewRegistry(),
		archs:   make(map[int]string, len(cfg.Archs)),
		ports:   newCapped(maxPorts),
		classes: newCapped(maxWords),
		reasons: newCapped(maxReasons),
		kinds:   newCapped(maxWords),
		srvs:    newCapped(maxConflictServers),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pxeproxy_proxy_replies_total",
			Help: "ProxyDHCP replies sent, by local port (67 or 4011), client architecture (option 93 number of a configured boot file, else other) and client class (bios, uefi, ipxe, http).",
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
			Help: "Failed TFTP transfers by reason: not-found, access-denied, busy (refused: too many at once), other (timeouts, client aborts).",
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
		httpRefd: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pxeproxy_http_connections_refused_total",
			Help: "HTTP connections refused because every connection at the per-client or global cap had a request in progress.",
		}),
		conflict: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pxeproxy_conflicts_total",
			Help: "Offers from other DHCP/ProxyDHCP servers that can misdirect PXE clients, by server address (at most 64, then \"other\") and kind.",
		}, []string{"server", "kind"}),
	}
	for _, a := range cfg.Archs {
		m.archs[int(a)] = strconv.Itoa(int(a))
	}
	m.reg.MustRegister(m.replies, m.ignored, m.tftpXfer, m.tftpFail, m.tftpByte, m.tftpRetx,
		m.tftpDur, m.tftpBlk, m.tftpWin, m.httpByte, m.httpResp, m.httpRefd, m.conflict,
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
	a, ok := m.archs[arch]
	if !ok {
		// iPXE clients get the script whatever their option 93 says, so
		// the number itself is the client's choice.
		a = other
	}
	m.replies.WithLabelValues(m.port(port), a, m.classes.label(class)).Inc()
}

func (m *Metrics) port(p int) string { return m.ports.label(strconv.Itoa(p)) }

// ProxyIgnored counts one packet not answered; it fits
// proxy.Server.OnIgnore. reason must come from a fixed set (proxy.Reason).
func (m *Metrics) ProxyIgnored(port int, reason string) {
	if m == nil {
		return
	}
	m.ignored.WithLabelValues(m.port(port), m.reasons.label(reason)).Inc()
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
		if reason != FailNotFound && reason != FailAccess && reason != FailBusy {
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

// HTTPRefused counts one HTTP connection refused at a connection cap; it
// fits httpd.Config.OnRefused.
func (m *Metrics) HTTPRefused() {
	if m == nil {
		return
	}
	m.httpRefd.Inc()
}

// Conflict counts one offending offer from another server (its address) of
// a kind named by the conflict detector from its own fixed set.
func (m *Metrics) Conflict(server, kind string) {
	if m == nil {
		return
	}
	m.conflict.WithLabelValues(m.srvs.label(server), m.kinds.label(kind)).Inc()
}

// WatchLog adds pxeproxy_log_dropped_total, read through dropped at each
// scrape: the log lines dropped because the log output did not keep up
// (logfmt.Writer.Dropped). The log says so in one line once the output
// moves again; the counter lets an alert see it while the output is stuck.
func (m *Metrics) WatchLog(dropped func() uint64) {
	if m == nil || dropped == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "pxeproxy_log_dropped_total",
		Help: "Log lines dropped because the log output did not keep up (a full disk, a stalled docker logs pipe): at most 4 MiB wait.",
	}, func() float64 { return float64(dropped()) }))
}

// capped hands out label values first come, first served, up to max
// distinct ones; every later new value is "other".
type capped struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func newCapped(max int) *capped { return &capped{max: max, seen: map[string]bool{}} }

func (c *capped) label(v string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seen[v] {
		if len(c.seen) >= c.max {
			return other
		}
		c.seen[v] = true
	}
	return v
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
