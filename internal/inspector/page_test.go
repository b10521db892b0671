package inspector_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/statebus/statebus/internal/config"
	"github.com/statebus/statebus/internal/daemon"
)

// The page in a real headless Chromium against a real daemon: machines
// appear, events show in the list and the sequence diagram (failures in
// red), the filter and pause work, and a chart's highlighted state follows
// ReportState. With STATEBUS_INSPECTOR_SCREENSHOT=FILE it saves a
// screenshot there (docs/inspector.png is made this way).
func TestPageInBrowser(t *testing.T) {
	ctx := newBrowser(t) // skips, saying so, without a Chromium
	const token = "t0ken-for-the-page"
	path := filepath.Join(shortDir(t), "bus.sock")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := daemon.Start(sctx, daemon.Options{
		Sources: config.Sources{Environ: []string{}},
		Override: func(c *config.Config) error {
			c.SocketPath, c.HTTPAddress, c.Token = path, "127.0.0.1:0", token
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	base := "http://" + d.HTTPAddr()

	// /healthz and /metrics stay open; the page wants the token.
	for p, want := range map[string]int{"/healthz": 200, "/metrics": 200, "/": 401, "/api/snapshot": 401} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", p, resp.StatusCode, want)
		}
	}

	ping, pong, ui := dialRaw(t, path), dialRaw(t, path), dialRaw(t, path)
	auth := `{"Type":"Ping","Token":"` + token + `"}`
	for _, c := range []*rawConn{ping, pong, ui} {
		c.call(auth)
	}
	register(ping, "ping")
	register(pong, "pong")
	register(ui, "ui-main")
	ping.call(reportLine("ping", `"off"`, `{"n":0}`, chart))

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?token="+token)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the page at / without the token in its address", `location.pathname == "/" && location.search == ""`)
	waitJS(t, ctx, "three machines in the table",
		`['ping','pong','ui-main'].every(id => document.querySelector('#machines tr[data-machine="'+id+'"]'))`)
	waitJS(t, ctx, "ping's chart with 'off' highlighted",
		`!!document.querySelector('.chart[data-machine="ping"] rect.state.active.leaf[data-path="off"]')`)

	for i := range 3 {
		ping.call(eventLine("ping", "pong", "PING", fmt.Sprintf(`{"n":%d}`, i)))
		pong.call(eventLine("pong", "ping", "PONG", fmt.Sprintf(`{"n":%d}`, i)))
	}
	ui.send(eventLine("ui-main", "nobody", "HELLO", `{}`))
	if m := ui.next("Reply"); m["Code"] != "target_not_connected" {
		t.Fatalf("HELLO to nobody: %v", m)
	}
	waitJS(t, ctx, "PING and PONG in the events list",
		`document.querySelectorAll('#events li[data-event="PING"]').length == 3 && document.querySelectorAll('#events li[data-event="PONG"]').length == 3`)
	waitJS(t, ctx, "PING arrows in the sequence diagram",
		`document.querySelectorAll('#seq g.msg[data-event="PING"]').length == 3 && !!document.querySelector('#seq-head g.head[data-machine="pong"]')`)
	waitJS(t, ctx, "the failed HELLO in red with its code",
		`[...document.querySelectorAll('#seq g.msg.failed[data-event="HELLO"] text')].some(t => t.textContent.includes('target_not_connected'))`)

	// The filter shows only what matches; a payload expands.
	evalJS[bool](t, ctx, `(() => { const f = document.querySelector('#f-event'); f.value = 'PONG'; f.dispatchEvent(new Event('input')); return true })()`)
	waitJS(t, ctx, "only PONG rows under the filter",
		`(() => { const rows = [...document.querySelectorAll('#events li')]; return rows.length == 3 && rows.every(r => r.dataset.event == 'PONG') })()`)
	evalJS[bool](t, ctx, `(() => { document.querySelector('#events li details summary').click(); return true })()`)
	waitJS(t, ctx, "an expanded payload", `!!document.querySelector('#events li details[open] pre') && document.querySelector('#events li details[open] pre').textContent.includes('"n"')`)
	evalJS[bool](t, ctx, `(() => { const f = document.querySelector('#f-event'); f.value = ''; f.dispatchEvent(new Event('input')); return true })()`)

	// Paused, the list stands still; resumed, it catches up.
	evalJS[bool](t, ctx, `(() => { document.querySelector('#pause').click(); return true })()`)
	ping.call(eventLine("ping", "pong", "WHILE_PAUSED", `{}`))
	waitJS(t, ctx, "the pause counter", `document.querySelector('#paused-count').textContent.startsWith('1 new')`)
	if n := evalJS[int](t, ctx, `document.querySelectorAll('#events li[data-event="WHILE_PAUSED"]').length`); n != 0 {
		t.Errorf("a paused list shows %d new rows", n)
	}
	evalJS[bool](t, ctx, `(() => { document.querySelector('#pause').click(); return true })()`)
	waitJS(t, ctx, "the row after resuming", `!!document.querySelector('#events li[data-event="WHILE_PAUSED"]')`)

	// A request and its reply, a publish.
	ui.send(`{"Type":"Request","Payload":{"SourceMachineId":"ui-main","TargetMachineId":"pong","EventName":"STATUS","Payload":{}},"Id":9}`)
	req := pong.next("Request")
	rid := req["Data"].(map[string]any)["RequestId"]
	pong.call(fmt.Sprintf(`{"Type":"Reply","Payload":{"RequestId":%v,"Payload":{"ok":true}}}`, rid))
	if m := ui.next("Reply"); m["Success"] != true {
		t.Fatalf("STATUS: %v", m)
	}
	ui.call(`{"Type":"Publish","Payload":{"SourceMachineId":"ui-main","EventName":"TICK","Payload":{}}}`)
	waitJS(t, ctx, "the request, its reply and the publish in the diagram",
		`!!document.querySelector('#seq g.msg.request[data-event="STATUS"]') && !!document.querySelector('#seq g.msg.reply') && !!document.querySelector('#seq g.msg.publish[data-event="TICK"]')`)

	// The chart follows the reported state, regions and all.
	ping.call(reportLine("ping", `{"on":{"color":"red","power":"low"}}`, `{"n":1}`, ""))
	waitJS(t, ctx, "on.color.red and on.power.low highlighted",
		`(() => { const c = document.querySelector('.chart[data-machine="ping"]'); return ['on','on.color','on.color.red','on.power.low'].every(p => c.querySelector('rect.state.active[data-path="'+p+'"]')) && !c.querySelector('rect.state.active[data-path="off"]') })()`)
	ping.call(reportLine("ping", `{"on":{"color":"green","power":"low"}}`, `{"n":2}`, ""))
	waitJS(t, ctx, "green instead of red",
		`(() => { const c = document.querySelector('.chart[data-machine="ping"]'); return !!c.querySelector('rect.state.active.leaf[data-path="on.color.green"]') && !c.querySelector('rect.state.active[data-path="on.color.red"]') && c.querySelector('pre.context').textContent.includes('"n": 2') })()`)
	waitJS(t, ctx, "ping's state in the machines table", `document.querySelector('#machines tr[data-machine="ping"] td.state').textContent.includes('color.green')`)
	waitJS(t, ctx, "the graphs drawn from a few snapshots", `document.querySelectorAll('#graph-eps polyline').length == 1 && document.querySelector('#graph-eps polyline').getAttribute('points').split(' ').length >= 2`)

	if errs := evalJS[string](t, ctx, `JSON.stringify(window.inspectorErrors)`); errs != "[]" {
		t.Errorf("page errors: %s", errs)
	}
	if file := os.Getenv("STATEBUS_INSPECTOR_SCREENSHOT"); file != "" {
		// A few seconds of steady traffic, so that the graphs and rates
		// have something to show.
		for i := range 60 {
			ping.call(eventLine("ping", "pong", "PING", fmt.Sprintf(`{"n":%d}`, i)))
			pong.call(eventLine("pong", "ping", "PONG", fmt.Sprintf(`{"n":%d}`, i)))
			if i%10 == 0 {
				ui.send(eventLine("ui-main", "worker-7", "JOB", `{"id":7}`))
				ui.next("Reply")
			}
			time.Sleep(60 * time.Millisecond) // pacing the traffic, not waiting for a condition
		}
		screenshot(t, ctx, file)
	}
}

func screenshot(t *testing.T, ctx context.Context, file string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
}
