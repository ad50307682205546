// Package browser is the e2e suite's real-browser check (scenario browser,
// e2e/scenario-browser.sh): headless Chromium keeps pxeproxy's journeys page
// open while a QEMU client boots through pxeproxy, and the page must show
// that client's row, a progress bar that moves during a download, and the
// verdict booted. It needs a running pxeproxy and a booting client, so it
// skips unless PXE_BROWSER_URL is set.
package browser

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// sample is what the page showed in the client's row at one moment; the
// page records one each time it changes (recorder).
type sample struct {
	T       float64 `json:"t"` // ms since the recorder started
	State   string  `json:"state"`
	Verdict string  `json:"verdict"`
	File    string  `json:"file"`  // the file of a running download, from the verdict
	Width   float64 `json:"width"` // the progress bar's width in %, -1 for no bar
}

// recorder runs in the page: every 50 ms it reads the row of the client
// (%q: its id) as a user sees it and appends a sample to window.rowSamples
// when something changed. It runs in the page rather than from the test so
// that a short step of the bar is not lost between two CDP round trips.
const recorder = `(() => {
  const row = 'tr[data-id=' + JSON.stringify(%q) + ']', t0 = Date.now();
  let last = "";
  window.rowSamples = [];
  setInterval(() => {
    const tr = document.querySelector(row);
    if (tr === null) return;
    const state = tr.querySelector("td.state").textContent, verdict = tr.querySelector("td.verdict").textContent;
    const fill = tr.querySelector(".fill"), m = /^Downloading (\S+) over/.exec(verdict);
    const s = {t: Date.now() - t0, state: state, verdict: verdict, file: m ? m[1] : "", width: fill ? parseFloat(fill.style.width || "-1") : -1};
    const key = s.state + "|" + s.verdict;
    if (key !== last) { last = key; window.rowSamples.push(s); }
  }, 50);
})()`

// chromium is $PXE_CHROMIUM, else Debian's /usr/bin/chromium, else a
// Chromium or Chrome on $PATH.
func chromium() string {
	if p := os.Getenv("PXE_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// moves returns, for the first file whose bar showed at least two distinct
// widths, one of them strictly between 0 and 100%, the file and those widths
// in the order seen.
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
	for _, f := range order {
		inside := slices.ContainsFunc(widths[f], func(w float64) bool { return w > 0 && w < 100 })
		if len(widths[f]) >= 2 && inside {
			return f, widths[f]
		}
	}
	return "", nil
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

// TestBootInBrowser: the page at PXE_BROWSER_URL shows the client
// PXE_BROWSER_MAC boot. Its row appears, the progress bar of one download
// takes at least two widths, and the row ends at booted (with a verdict that
// names PXE_BROWSER_FILE when set, so that a boot that goes on past its
// first later stage is followed to the end). The screenshot, with the
// client's detail view open, goes to PXE_BROWSER_SHOT (default: the test's
// temp dir). PXE_BROWSER_TIMEOUT (a Go duration, default 5m) bounds the wait.
func TestBootInBrowser(t *testing.T) {
	url := os.Getenv("PXE_BROWSER_URL")
	if url == "" {
		t.Skip("PXE_BROWSER_URL is not set: this test watches a real boot and runs from the e2e scenario browser " +
			"(E2E_ONLY=browser e2e/run.sh); journal's TestBrowser covers the page alone")
	}
	mac, err := net.ParseMAC(os.Getenv("PXE_BROWSER_MAC"))
	if err != nil {
		t.Fatalf("PXE_BROWSER_MAC: %v", err)
	}
	timeout := 5 * time.Minute
	if s := os.Getenv("PXE_BROWSER_TIMEOUT"); s != "" {
		if timeout, err = time.ParseDuration(s); err != nil {
			t.Fatalf("PXE_BROWSER_TIMEOUT: %v", err)
		}
	}
	last := os.Getenv("PXE_BROWSER_FILE")
	shot := os.Getenv("PXE_BROWSER_SHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "journeys.png")
	}
	bin := chromium()
	if bin == "" {
		t.Fatal("no Chromium found (apt-get install chromium, or set PXE_CHROMIUM)")
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 720),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	defer cancelT()

	start := time.Now()
	id := mac.String()
	row := `tr[data-id="` + id + `"]`
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720), chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`#conn.live`)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(recorder, id))); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	// The scenario starts the client when it reads this line.
	t.Logf("page live: %s", url)

	var samples []sample
	read := func() {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[[]sample](`window.rowSamples`))
		if err != nil {
			t.Fatalf("read the row's samples: %v (so far:%s)", err, describe(samples))
		}
		samples = s
	}
	done := func() bool {
		if len(samples) == 0 {
			return false
		}
		s := samples[len(samples)-1]
		return s.State == "booted" && strings.Contains(s.Verdict, last)
	}
	for read(); !done(); read() {
		select {
		case <-ctx.Done():
			t.Fatalf("no booted verdict naming %q for %s within %s; the row showed:%s", last, id, timeout, describe(samples))
		case <-time.After(250 * time.Millisecond):
		}
	}
	t.Logf("the row showed:%s", describe(samples))
	file, widths := moves(samples)
	if file == "" {
		t.Fatalf("the progress bar never moved during a download (fewer than two widths for every file)")
	}
	parts := make([]string, len(widths))
	for i, w := range widths {
		parts[i] = strconv.FormatFloat(w, 'f', 1, 64) + "%"
	}
	fin := samples[len(samples)-1]
	// One line for the scenario's note.
	t.Logf("seen: row after %.1fs; %s bar %s; booted after %.1fs: %s", samples[0].T/1000, file,
		strings.Join(parts, " "), fin.T/1000, fin.Verdict)

	// The picture: the client's row and its timeline, as an admin sees them.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row)), chromedp.WaitVisible(chromedp.CSS(`#detail`)),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#timeline tbody tr').length >= 6 && document.querySelector('#dverdict').textContent.includes("Booted in")`,
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
