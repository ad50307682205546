package metrics

import (
	"testing"
)

// TestWatchJourneys: every state of the closed set is a series at each
// scrape, 0 when the journal has none in it; a key outside the set never
// becomes a label.
func TestWatchJourneys(t *testing.T) {
	m := New(Config{})
	reading := Journeys{
		Clients: map[string]int{"booted": 3, "in-progress": 1, "made-up": 9},
		Boots:   map[string]uint64{"booted": 7, "refused": 2, "made-up": 5},
		Dropped: 4,
	}
	m.WatchJourneys([]string{"in-progress", "booted", "refused"}, func() Journeys { return reading })
	fams := scrape(t, m.Handler())
	got := map[string]float64{}
	for _, name := range []string{"pxeproxy_journal_clients", "pxeproxy_boots_total", "pxeproxy_journal_dropped_total"} {
		f, ok := fams[name]
		if !ok {
			t.Fatalf("%s missing", name)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
		for _, s := range f.GetMetric() {
			key := name
			for _, l := range s.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[key] = s.GetGauge().GetValue() + s.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"pxeproxy_journal_clients{state=in-progress}": 1,
		"pxeproxy_journal_clients{state=booted}":      3,
		"pxeproxy_journal_clients{state=refused}":     0,
		"pxeproxy_boots_total{outcome=in-progress}":   0,
		"pxeproxy_boots_total{outcome=booted}":        7,
		"pxeproxy_boots_total{outcome=refused}":       2,
		"pxeproxy_journal_dropped_total":              4,
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	var nilM *Metrics
	nilM.WatchJourneys(nil, nil) // no panic
}
