package metrics

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches the handler's text output and parses it.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// series flattens the pxeproxy_ families into "name{k=v,...}" -> value, with
// histograms as name_count, name_sum and name_bucket{le=...}.
func series(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "pxeproxy_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			key := func(n string, extra ...string) string {
				all := append(append([]string{}, ls...), extra...)
				if len(all) == 0 {
					return n
				}
				return n + "{" + strings.Join(all, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key(name)] = m.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out[key(name+"_count")] = float64(h.GetSampleCount())
				out[key(name+"_sum")] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					out[key(name+"_bucket", fmt.Sprintf("le=%g", b.GetUpperBound()))] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

func TestKnownLoad(t *testing.T) {
	m := New(Config{Archs: []uint16{0, 7, 9, 16}})
	for range 3 {
		m.ProxyReply(67, 0, "bios")
	}
	m.ProxyReply(67, 7, "uefi")
	m.ProxyReply(4011, 7, "uefi")
	m.ProxyReply(67, 16, "http")
	for range 5 {
		m.ProxyIgnored(67, "not-pxe")
	}
	m.ProxyIgnored(4011, "no-bootfile")

	m.TFTPDone(TFTPTransfer{Bytes: 70000, Dur: 300 * time.Millisecond, BlockSize: 1468, WindowSize: 1})
	m.TFTPDone(TFTPTransfer{Bytes: 200000, Dur: 2 * time.Second, BlockSize: 1468, WindowSize: 16, Retransmits: 3})
	m.TFTPDone(TFTPTransfer{Probe: true, BlockSize: 1468})
	m.TFTPDone(TFTPTransfer{Failure: FailNotFound})
	m.TFTPDone(TFTPTransfer{Failure: FailAccess})
	m.TFTPDone(TFTPTransfer{Bytes: 1000, Retransmits: 5, Failure: FailOther})
	m.TFTPDone(TFTPTransfer{Failure: FailBusy})
	m.TFTPDone(TFTPTransfer{Failure: "client-chosen"}) // never a label of its own
	m.HTTPServed(1 << 20)
	m.HTTPServed(100)
	m.HTTPServed(0) // HEAD
	m.HTTPRefused()
	m.Conflict("10.0.0.1", "pxeclient-option60")
	m.Conflict("10.0.0.1", "pxeclient-option60")
	m.Conflict("10.0.0.2", "second-proxydhcp")

	got := series(scrape(t, m.Handler()))
	want := map[string]float64{
		`pxeproxy_proxy_replies_total{arch=0,class=bios,port=67}`:    3,
		`pxeproxy_proxy_replies_total{arch=7,class=uefi,port=67}`:    1,
		`pxeproxy_proxy_replies_total{arch=7,class=uefi,port=4011}`:  1,
		`pxeproxy_proxy_replies_total{arch=16,class=http,port=67}`:   1,
		`pxeproxy_proxy_ignored_total{port=67,reason=not-pxe}`:       5,
		`pxeproxy_proxy_ignored_total{port=4011,reason=no-bootfile}`: 1,

		`pxeproxy_tftp_transfers_total{result=ok}`:                2,
		`pxeproxy_tftp_transfers_total{result=probe}`:             1,
		`pxeproxy_tftp_transfers_total{result=failed}`:            5,
		`pxeproxy_tftp_failures_total{reason=not-found}`:          1,
		`pxeproxy_tftp_failures_total{reason=access-denied}`:      1,
		`pxeproxy_tftp_failures_total{reason=busy}`:               1,
		`pxeproxy_tftp_failures_total{reason=other}`:              2,
		`pxeproxy_tftp_bytes_total`:                               271000,
		`pxeproxy_tftp_retransmits_total`:                         8,
		`pxeproxy_tftp_transfer_duration_seconds_count`:           2,
		`pxeproxy_tftp_transfer_duration_seconds_sum`:             2.3,
		`pxeproxy_tftp_transfer_duration_seconds_bucket{le=0.25}`: 0,
		`pxeproxy_tftp_transfer_duration_seconds_bucket{le=0.5}`:  1,
		`pxeproxy_tftp_transfer_duration_seconds_bucket{le=2.5}`:  2,
		`pxeproxy_tftp_blksize_bytes_count`:                       2,
		`pxeproxy_tftp_blksize_bytes_bucket{le=1456}`:             0,
		`pxeproxy_tftp_blksize_bytes_bucket{le=1468}`:             2,
		`pxeproxy_tftp_windowsize_count`:                          2,
		`pxeproxy_tftp_windowsize_sum`:                            17,
		`pxeproxy_tftp_windowsize_bucket{le=1}`:                   1,
		`pxeproxy_tftp_windowsize_bucket{le=8}`:                   1,
		`pxeproxy_tftp_windowsize_bucket{le=16}`:                  2,

		`pxeproxy_http_bytes_total`: 1<<20 + 100,
		`pxeproxy_http_files_total`: 3,

		`pxeproxy_http_connections_refused_total`: 1,

		`pxeproxy_conflicts_total{kind=pxeclient-option60,server=10.0.0.1}`: 2,
		`pxeproxy_conflicts_total{kind=second-proxydhcp,server=10.0.0.2}`:   1,
	}
	for k, w := range want {
		v, ok := got[k]
		if !ok {
			t.Errorf("%s: missing from scrape", k)
			continue
		}
		if v != w {
			t.Errorf("%s = %v, want %v", k, v, w)
		}
	}
	// No series beyond the expected label sets: counters were not
	// created for combinations that never happened.
	for k := range got {
		if strings.Contains(k, "_total") {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected series %s = %v", k, got[k])
			}
		}
	}
}

func TestHelpAndPrefix(t *testing.T) {
	fams := scrape(t, New(Config{}).Handler())
	var names []string
	for name, f := range fams {
		if !strings.HasPrefix(name, "pxeproxy_") {
			continue
		}
		names = append(names, name)
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP text", name)
		}
	}
	// Before any event: the unlabelled series at 0 and the pre-created
	// transfer results; labelled families appear with their first event.
	sort.Strings(names)
	want := "pxeproxy_http_bytes_total pxeproxy_http_connections_refused_total pxeproxy_http_files_total pxeproxy_tftp_blksize_bytes " +
		"pxeproxy_tftp_bytes_total pxeproxy_tftp_retransmits_total pxeproxy_tftp_transfer_duration_seconds " +
		"pxeproxy_tftp_transfers_total pxeproxy_tftp_windowsize"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("families before any event:\n got %s\nwant %s", got, want)
	}
	// The runtime collectors are in the private registry too.
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("go_goroutines missing: Go collector not registered")
	}
}

func TestConflictServerCap(t *testing.T) {
	m := New(Config{Archs: []uint16{0}})
	for i := range maxConflictServers + 10 {
		m.Conflict(fmt.Sprintf("10.1.%d.%d", i/256, i%256), "k")
	}
	m.Conflict("10.1.0.0", "k") // a known server keeps its label after the cap
	got := series(scrape(t, m.Handler()))
	servers := 0
	for k := range got {
		if strings.HasPrefix(k, "pxeproxy_conflicts_total{") {
			servers++
		}
	}
	if servers != maxConflictServers+1 {
		t.Errorf("conflict series = %d, want %d (cap plus other)", servers, maxConflictServers+1)
	}
	if v := got[`pxeproxy_conflicts_total{kind=k,server=other}`]; v != 10 {
		t.Errorf("other = %v, want 10", v)
	}
	if v := got[`pxeproxy_conflicts_total{kind=k,server=10.1.0.0}`]; v != 2 {
		t.Errorf("10.1.0.0 = %v, want 2", v)
	}
}

// TestTFTPFailureCap floods TFTPDone with failure words it does not know:
// they all count as other, and no new series appears.
func TestTFTPFailureCap(t *testing.T) {
	m := New(Config{Archs: []uint16{0}})
	for i := range 1000 {
		m.TFTPDone(TFTPTransfer{Failure: fmt.Sprint("reason-", i)})
	}
	m.TFTPDone(TFTPTransfer{Failure: FailNotFound})
	got := series(scrape(t, m.Handler()))
	var failures []string
	for k := range got {
		if strings.HasPrefix(k, "pxeproxy_tftp_failures_total") {
			failures = append(failures, k)
		}
	}
	sort.Strings(failures)
	if want := "pxeproxy_tftp_failures_total{reason=not-found} pxeproxy_tftp_failures_total{reason=other}"; strings.Join(failures, " ") != want {
		t.Errorf("failure series %v, want %s", failures, want)
	}
	if v := got[`pxeproxy_tftp_failures_total{reason=other}`]; v != 1000 {
		t.Errorf("other = %v, want 1000", v)
	}
	if v := got[`pxeproxy_tftp_transfers_total{result=failed}`]; v != 1001 {
		t.Errorf("failed = %v, want 1001", v)
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.ProxyReply(67, 0, "bios")
	m.ProxyIgnored(67, "not-pxe")
	m.TFTPDone(TFTPTransfer{})
	m.HTTPServed(1)
	m.HTTPRefused()
	m.Conflict("a", "b")
	m.WatchLog(func() uint64 { return 1 })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Errorf("nil Metrics handler: status %d, want 404", rec.Code)
	}
}

// TestConcurrent runs the hooks from many goroutines (go test -race) and
// checks that no increment is lost.
func TestConcurrent(t *testing.T) {
	m := New(Config{Archs: []uint16{0}})
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m.ProxyReply(67, 0, "bios")
				m.ProxyIgnored(67, "not-pxe")
				m.TFTPDone(TFTPTransfer{Bytes: 10, BlockSize: 512, WindowSize: 1})
				m.HTTPServed(1)
				m.Conflict(fmt.Sprintf("10.2.%d.%d", w, i%100), "k")
			}
		})
	}
	// Scrapes race with the writers.
	for range 5 {
		scrape(t, m.Handler())
	}
	wg.Wait()
	got := series(scrape(t, m.Handler()))
	for k, w := range map[string]float64{
		`pxeproxy_proxy_replies_total{arch=0,class=bios,port=67}`: workers * each,
		`pxeproxy_proxy_ignored_total{port=67,reason=not-pxe}`:    workers * each,
		`pxeproxy_tftp_transfers_total{result=ok}`:                workers * each,
		`pxeproxy_tftp_bytes_total`:                               workers * each * 10,
		`pxeproxy_http_bytes_total`:                               workers * each,
	} {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	var conflicts float64
	servers := 0
	for k, v := range got {
		if strings.HasPrefix(k, "pxeproxy_conflicts_total{") {
			conflicts += v
			servers++
		}
	}
	if conflicts != workers*each || servers > maxConflictServers+1 {
		t.Errorf("conflicts = %v over %d series, want %d over at most %d", conflicts, servers, workers*each, maxConflictServers+1)
	}
}

// TestLabelFlood sends every option 93 value and thousands of distinct
// words through each labelled method, as a hostile LAN (or a caller passing
// packet bytes by mistake) would: the series stay within the configured
// architectures plus "other" and the caps, every event is still counted,
// and the page stays small.
func TestLabelFlood(t *testing.T) {
	archs := []uint16{0, 7, 9}
	m := New(Config{Archs: archs})
	const n = 1 << 16
	for a := range n {
		m.ProxyReply(67, a, "ipxe")
	}
	for i := range 5000 {
		m.ProxyReply(1024+i, 7, fmt.Sprint("class-", i))
		m.ProxyIgnored(4011, fmt.Sprint("reason-", i))
		m.Conflict(fmt.Sprintf("10.3.%d.%d", i/256, i%256), fmt.Sprint("kind-", i))
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Body.Len() > 64<<10 {
		t.Errorf("/metrics is %d bytes after the flood, want at most 64 KiB", rec.Body.Len())
	}
	got := series(scrape(t, m.Handler()))
	count := map[string]int{}
	sum := map[string]float64{}
	archLabels := map[string]bool{}
	for k, v := range got {
		name, labels, _ := strings.Cut(k, "{")
		count[name]++
		sum[name] += v
		if name == "pxeproxy_proxy_replies_total" && strings.Contains(labels, "class=ipxe") {
			_, a, _ := strings.Cut(labels, "arch=")
			a, _, _ = strings.Cut(a, ",")
			archLabels[a] = true
		}
	}
	if want := map[string]bool{"0": true, "7": true, "9": true, "other": true}; !maps.Equal(archLabels, want) {
		t.Errorf("%d arch labels (%v...), want the configured ones and other", len(archLabels), slices.Sorted(maps.Keys(archLabels))[:4])
	}
	for name, max := range map[string]int{
		// ipxe x (3 archs + other), then classes: each distinct port and
		// class pair until both caps, then other.
		"pxeproxy_proxy_replies_total": len(archs) + 1 + maxPorts*maxWords + 1,
		"pxeproxy_proxy_ignored_total": maxReasons + 1,
		"pxeproxy_conflicts_total":     (maxConflictServers + 1) * (maxWords + 1),
	} {
		if count[name] > max {
			t.Errorf("%s: %d series, want at most %d", name, count[name], max)
		}
	}
	for name, want := range map[string]float64{
		"pxeproxy_proxy_replies_total": n + 5000,
		"pxeproxy_proxy_ignored_total": 5000,
		"pxeproxy_conflicts_total":     5000,
	} {
		if sum[name] != want {
			t.Errorf("%s: %v counted, want %v", name, sum[name], want)
		}
	}
}

// TestLogDropped: the log writer's count of dropped lines is read at each
// scrape, so an alert sees a stuck log output while it is stuck.
func TestLogDropped(t *testing.T) {
	m := New(Config{})
	var dropped uint64
	m.WatchLog(func() uint64 { return dropped })
	for _, n := range []uint64{0, 12345} {
		dropped = n
		if got := series(scrape(t, m.Handler()))["pxeproxy_log_dropped_total"]; got != float64(n) {
			t.Errorf("pxeproxy_log_dropped_total = %v, want %d", got, n)
		}
	}
}
