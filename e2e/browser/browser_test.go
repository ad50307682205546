// Package browser is the e2e suite's real-browser check (scenario browser,
// e2e/scenario-browser.sh): headless Chromium keeps pxeproxy's journeys page
// open while QEMU clients boot through pxeproxy, and the page must show each
// client's row, a progress bar that moves during a download, and the verdict
// booted. It needs a running pxeproxy and booting clients, so it skips unless
// PXE_BROWSER_URL is set.
package browser

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pxeproxy/pxeproxy/internal/browsertest"
)

// sample is what the page showed in a client's row at one moment; the page
// records one each time it changes (recorder).
type sample struct {
	T       float64 `json:"t"` // ms since the recorder started
	State   string  `json:"state"`
	Verdict string  `json:"verdict"`
	File    string  `json:"file"`  // the file of a running download, from the verdict
	Width   float64 `json:"width"` // the progress bar's width in %, -1 for no bar
}

// recorder runs in the page: every 50 ms it reads the rows of the clients
// (%s: their ids, a JSON array) as a user sees them and appends a sample to
// window.rowSamples[id] when one changed. It runs in the page rather than
// from the test so that a short step of a bar is not lost between two CDP
// round trips.
const recorder = `(() => {
  const ids = %s, t0 = Date.now(), last = {};
  window.rowSamples = {};
  for (const id of ids) window.rowSamples[id] = [];
  setInterval(() => {
    for (const id of ids) {
      const tr = document.querySelector('tr[data-id=' + JSON.stringify(id) + ']');
      if (tr === null) continue;
      const state = tr.querySelector("td.state").textContent, verdict = tr.querySelector("td.verdict").textContent;
      const fill = tr.querySelector(".fill"), m = /^Downloading (\S+) over/.exec(verdict);
      const s = {t: Date.now() - t0, state: state, verdict: verdict, file: m ? m[1] : "", width: fill ? parseFloat(fill.style.width || "-1") : -1};
      const key = s.state + "|" + s.verdict;
      if (key !== last[id]) { last[id] = key; window.rowSamples[id].push(s); }
    }
  }, 50);
})()`

// moves returns the file whose bar showed the most distinct widths, at least
// two and one of them strictly between 0 and 100%, and those widths in the
// order seen; "" when no bar moved.
func moves(samples []sample) (string, []float64) {
	widths := map[string][]float64{}
	var order []string
	for _, s := range samples {
		if s.File == "" || s.Width < 0 {
			continue
		}
		if _, ok := widths[s.File]; !ok {
			order = append(order, s.File)
		}
		if !slices.Contains(widths[s.File], s.Width) {
			widths[s.File] = append(widths[s.File], s.Width)
		}
	}
	best := ""
	for _, f := range order {
		inside := slices.ContainsFunc(widths[f], func(w float64) bool { return w > 0 && w < 100 })
		if len(widths[f]) >= 2 && inside && len(widths[f]) > len(widths[best]) {
			best = f
		}
	}
	return best, widths[best]
}

func describe(samples []sample) string {
	var b strings.Builder
	for _, s := range samples {
		fmt.Fprintf(&b, "\n  %6.1fs %s: %s", s.T/1000, s.State, s.Verdict)
		if s.Width >= 0 {
			fmt.Fprintf(&b, " [bar %g%%]", s.Width)
		}
	}
	return b.String()
}

// TestBootInBrowser: the page at PXE_BROWSER_URL shows the clients
// PXE_BROWSER_MAC (a comma-separated list) boot. Each one's row appears, the
// progress bar of one of its downloads takes at least two widths, it reads
// only in-progress or booted all along (a verdict of failure during a boot
// that works is a bug), and it ends at booted, with a verdict that names
// PXE_BROWSER_FILE when set, so that a boot that goes on past its first
// later stage is followed to the end. The screenshot, with the last
// client's detail view open, goes to PXE_BROWSER_SHOT (default: the test's
// temp dir). PXE_BROWSER_TIMEOUT (a Go duration, default 5m) bounds the wait.
func TestBootInBrowser(t *testing.T) {
	url := os.Getenv("PXE_BROWSER_URL")
	if url == "" {
		t.Skip("PXE_BROWSER_URL is not set: this test watches a real boot and runs from the e2e scenario browser " +
			"(E2E_ONLY=browser e2e/run.sh); journal's TestBrowser covers the page alone")
	}
	var ids []string
	for _, s := range strings.Split(os.Getenv("PXE_BROWSER_MAC"), ",") {
		mac, err := net.ParseMAC(strings.TrimSpace(s))
		if err != nil {
			t.Fatalf("PXE_BROWSER_MAC: %v", err)
		}
		ids = append(ids, mac.String())
	}
	timeout := 5 * time.Minute
	if s := os.Getenv("PXE_BROWSER_TIMEOUT"); s != "" {
		var err error
		if timeout, err = time.ParseDuration(s); err != nil {
			t.Fatalf("PXE_BROWSER_TIMEOUT: %v", err)
		}
	}
	last := os.Getenv("PXE_BROWSER_FILE")
	shot := os.Getenv("PXE_BROWSER_SHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "journeys.png")
	}
	bin := browsertest.Find()
	if bin == "" {
		t.Fatal("no Chromium found (apt-get install chromium, or set PXE_CHROMIUM)")
	}

	ctx := browsertest.Start(t, bin, 1280, 720, timeout)

	start := time.Now()
	js, err := json.Marshal(ids)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720), chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`#conn.live`)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(recorder, js))); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	// The scenario starts the clients when it reads this line.
	t.Logf("page live: %s", url)

	var rows map[string][]sample
	read := func() {
		t.Helper()
		r, err := chromedp.Run(ctx, chromedp.Evaluate[map[string][]sample](`window.rowSamples`))
		if err != nil {
			t.Fatalf("read the rows' samples: %v", err)
		}
		rows = r
	}
	done := func() bool {
		for _, id := range ids {
			ss := rows[id]
			if len(ss) == 0 {
				return false
			}
			if s := ss[len(ss)-1]; s.State != "booted" || !strings.Contains(s.Verdict, last) {
				return false
			}
		}
		return true
	}
	for read(); !done(); read() {
		select {
		case <-ctx.Done():
			for _, id := range ids {
				t.Logf("%s showed:%s", id, describe(rows[id]))
			}
			t.Fatalf("not every client reached a booted verdict naming %q within %s", last, timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
	for _, id := range ids {
		ss := rows[id]
		t.Logf("%s showed:%s", id, describe(ss))
		for _, s := range ss {
			if s.State != "in-progress" && s.State != "booted" {
				t.Errorf("%s read %s during a boot that worked: %s", id, s.State, s.Verdict)
			}
		}
		file, widths := moves(ss)
		if file == "" {
			t.Errorf("%s: the progress bar never moved during a download (fewer than two widths for every file)", id)
			continue
		}
		fin := ss[len(ss)-1]
		t.Logf("%s verdict: %s", id, fin.Verdict)
		// One line per client for the scenario's note.
		t.Logf("seen: %s row after %.1fs, %s bar at %d widths (%.1f%% to %.1f%%), booted after %.1fs", id, ss[0].T/1000,
			path.Base(file), len(widths), slices.Min(widths), slices.Max(widths), fin.T/1000)
	}

	// The picture: the rows, and the last client's timeline, as an admin sees them.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-id="`+ids[len(ids)-1]+`"]`)), chromedp.WaitVisible(chromedp.CSS(`#detail`)),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#timeline tbody tr').length >= 5 && document.querySelector('#dverdict').textContent.includes("Booted in")`,
			chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatalf("detail view: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes) after %s", shot, len(png), time.Since(start).Round(time.Second))
}
