package inspector_test

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/statebus/statebus/internal/inspector"
	"github.com/statebus/statebus/internal/metrics"
	"github.com/statebus/statebus/internal/protocol"
)

type fakeTap struct{ c chan protocol.Trace }

func (f *fakeTap) C() <-chan protocol.Trace { return f.c }
func (f *fakeTap) Close()                   {}

type fakeBus struct {
	mu    sync.Mutex
	taps  []*fakeTap
	state json.RawMessage
}

func (b *fakeBus) Snapshot() metrics.Snapshot {
	return metrics.Snapshot{Now: time.Now(), StartedAt: time.Now().Add(-time.Hour), ConnectionCount: 3}
}
func (b *fakeBus) Health() metrics.Health { return metrics.Health{IsHealthy: true} }
func (b *fakeBus) Machines() []protocol.MachineData {
	return []protocol.MachineData{{MachineId: "ping", ProcessName: "statebus", ProcessId: 42}, {MachineId: "pong"}}
}
func (b *fakeBus) MachineState(id string) (*protocol.State, json.RawMessage, bool) {
	def := `{"id":"ping","initial":"idle","context":{"n":0},"states":{"idle":{"on":{"GO":"run"}},"run":{"type":"parallel","states":{"a":{"initial":"a1","states":{"a1":{"on":{"X":"a2"}},"a2":{}}},"b":{"initial":"b1","states":{"b1":{},"b2":{"type":"final"},"hist":{"type":"history"}}}}},"done":{"type":"final"}}}`
	return &protocol.State{Value: json.RawMessage(`{"run":{"a":"a2","b":"b1"}}`), Status: "active", Context: json.RawMessage(`{"n":3}`)}, json.RawMessage(def), true
}
func (b *fakeBus) Tap(f protocol.TraceFilter, n int) inspector.Tap {
	t := &fakeTap{c: make(chan protocol.Trace, n)}
	b.mu.Lock()
	b.taps = append(b.taps, t)
	b.mu.Unlock()
	return t
}

func TestDevPage(t *testing.T) {
	if os.Getenv("INSPECTOR_DEV") == "" {
		t.Skip("dev only")
	}
	bus := &fakeBus{}
	insp := inspector.New(bus, inspector.Options{})
	hs := httptest.NewServer(insp)
	t.Cleanup(hs.Close)
	t.Cleanup(insp.Close)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "machines", `document.querySelectorAll('#machines tbody tr').length == 2`)
	bus.mu.Lock()
	tap := bus.taps[0]
	bus.mu.Unlock()
	for i := range 20 {
		tr := protocol.Trace{Seq: uint64(i), Time: protocol.Time(time.Now()), Type: "event", Outcome: "delivered", Source: "ping", Target: "pong", Event: "PING", Payload: json.RawMessage(`{"n":1}`)}
		if i%3 == 1 {
			tr.Source, tr.Target, tr.Event = "pong", "ping", "PONG"
		}
		if i == 7 {
			tr.Outcome, tr.Target = "target_not_connected", "nobody"
		}
		if i == 9 {
			tr.Type = "state"
			tr.Payload = json.RawMessage(`{"Value":{"run":{"a":"a1","b":"b1"}},"Status":"active","Context":{"n":4}}`)
		}
		tap.c <- tr
	}
	waitJS(t, ctx, "events", `document.querySelectorAll('#events li').length >= 20`)
	waitJS(t, ctx, "seq", `document.querySelectorAll('#seq g.msg').length >= 19`)
	waitJS(t, ctx, "chart", `document.querySelectorAll('.chart rect.state.active').length >= 3`)
	time.Sleep(2 * time.Second)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("/tmp/insp/dev.png", png, 0o644)
	t.Log(evalJS[string](t, ctx, `JSON.stringify(window.inspectorErrors)`))
}
