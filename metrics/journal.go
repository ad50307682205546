package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Journeys is what the boot journal counts, read at each scrape.
type Journeys struct {
	// Clients is the number of clients kept, by state now.
	Clients map[string]int
	// Boots counts finished boot attempts by outcome (a state) since the
	// start.
	Boots map[string]uint64
	// Dropped counts new clients not followed because of the rate limit.
	Dropped uint64
}

// WatchJourneys adds the boot journal's series, read through read at each
// scrape: pxeproxy_journal_clients{state}, pxeproxy_boots_total{outcome}
// and pxeproxy_journal_dropped_total. states is the closed set of label
// values: every one is exported (0 when absent from a reading), and keys
// outside it are not, so a label never comes from anything else.
func (m *Metrics) WatchJourneys(states []string, read func() Journeys) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&journeyCollector{
		states: slices.Clone(states),
		read:   read,
		clients: prometheus.NewDesc("pxeproxy_journal_clients",
			"Clients in the boot journal (PXE_JOURNAL_CLIENTS at most), by the state of their latest boot attempt.",
			[]string{"state"}, nil),
		boots: prometheus.NewDesc("pxeproxy_boots_total",
			"Boot attempts by outcome, counted once an attempt has settled (its client quiet for a minute, starting over, or forgotten).",
			[]string{"outcome"}, nil),
		dropped: prometheus.NewDesc("pxeproxy_journal_dropped_total",
			"New clients the boot journal did not follow: more arrived from one source than its rate limit allows.",
			nil, nil),
	})
}

// journeyCollector turns one reading of the journal into the series.
type journeyCollector struct {
	states                  []string
	read                    func() Journeys
	clients, boots, dropped *prometheus.Desc
}

func (c *journeyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.clients
	ch <- c.boots
	ch <- c.dropped
}

func (c *journeyCollector) Collect(ch chan<- prometheus.Metric) {
	j := c.read()
	for _, s := range c.states {
		ch <- prometheus.MustNewConstMetric(c.clients, prometheus.GaugeValue, float64(j.Clients[s]), s)
		ch <- prometheus.MustNewConstMetric(c.boots, prometheus.CounterValue, float64(j.Boots[s]), s)
	}
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(j.Dropped))
}
