package inspector_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPath finds a Chromium. Without one the browser tests skip, saying
// so, unless STATEBUS_REQUIRE_BROWSER is set (.ci/run sets it once it has
// installed Debian's chromium): then they fail.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "headless_shell", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("STATEBUS_REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium found (chromium, chromium-browser, headless_shell, google-chrome) and STATEBUS_REQUIRE_BROWSER is set")
	}
	t.Skip("SKIPPED: no Chromium found; install Debian's chromium (apt-get install chromium) to run the inspector's browser test (.ci/run does)")
	return ""
}

// newBrowser starts a headless Chromium with no network side traffic and a
// fresh profile; the returned context drives one tab. It is closed at the
// end of the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browserPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1500),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	// The first Do starts the browser, which lives as long as ctx: no
	// timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v", browserPath(t), err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// waitJS waits until the page's expression is truthy, or fails the test
// after the deadline, saying what it waited for.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		var errs string
		ectx, ecancel := context.WithTimeout(ctx, 2*time.Second)
		defer ecancel()
		errs, _ = chromedp.Run(ectx, chromedp.Evaluate[string](`JSON.stringify(window.inspectorErrors || [])`))
		t.Fatalf("waiting for %s (%s): %v; page errors: %s", what, expr, err, errs)
	}
}

// evalJS evaluates expr in the page.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ectx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}
