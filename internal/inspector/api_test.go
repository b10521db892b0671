package inspector_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/statebus/statebus/internal/inspector"
	"github.com/statebus/statebus/internal/protocol"
	"github.com/statebus/statebus/internal/server"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
	return resp.StatusCode
}

// The snapshot has health, counters and every machine, with the state of
// those that reported one; /api/machines/{id} adds the definition.
func TestSnapshotAndMachine(t *testing.T) {
	b := startBus(t, server.Config{}, inspector.Options{})
	a, c := dialRaw(t, b.path), dialRaw(t, b.path)
	register(a, "light")
	register(c, "panel")
	a.call(reportLine("light", `{"on":{"color":"red","power":"low"}}`, `{"n":1}`, chart))
	c.call(eventLine("panel", "light", "NEXT", `{"k":1}`))
	a.reply() // the pushed event

	var snap inspector.Snapshot
	if code := getJSON(t, b.http.URL+"/api/snapshot", &snap); code != 200 {
		t.Fatalf("/api/snapshot: %d", code)
	}
	if !snap.Health.IsHealthy || snap.Counters.ConnectionCount != 2 || snap.Counters.RegisteredMachines != 2 || snap.Counters.EventsRouted != 1 {
		t.Errorf("snapshot health/counters: %+v %+v", snap.Health, snap.Counters)
	}
	if time.Since(time.Time(snap.Time)) > time.Minute || snap.Counters.Failures == nil {
		t.Errorf("snapshot time %v, failures %v", time.Time(snap.Time), snap.Counters.Failures)
	}
	byID := map[string]protocol.MachineData{}
	for _, m := range snap.Machines {
		byID[m.MachineId] = m
	}
	if len(byID) != 2 || byID["panel"].State != nil || byID["light"].State == nil ||
		string(byID["light"].State.Value) != `{"on":{"color":"red","power":"low"}}` || string(byID["light"].State.Context) != `{"n":1}` {
		t.Fatalf("snapshot machines: %+v", snap.Machines)
	}

	var mv inspector.MachineView
	if code := getJSON(t, b.http.URL+"/api/machines/light", &mv); code != 200 {
		t.Fatalf("/api/machines/light: %d", code)
	}
	if mv.MachineId != "light" || mv.State == nil || mv.State.Status != "active" || string(mv.Definition) != chart {
		t.Errorf("/api/machines/light: %+v def %s", mv, mv.Definition)
	}
	mv = inspector.MachineView{}
	if code := getJSON(t, b.http.URL+"/api/machines/panel", &mv); code != 200 || mv.State != nil || string(mv.Definition) != "null" {
		t.Errorf("/api/machines/panel: %d %+v", code, mv)
	}
	if code := getJSON(t, b.http.URL+"/api/machines/nobody", nil); code != http.StatusNotFound {
		t.Errorf("/api/machines/nobody: %d, want 404", code)
	}

	// The page and its assets are served, with a policy that allows
	// nothing from elsewhere.
	resp, err := http.Get(b.http.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "statebus") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("/: %d %q", resp.StatusCode, resp.Header)
	}
	if strings.Contains(string(page), "http://") || strings.Contains(string(page), "https://") {
		t.Error("the page refers to another site")
	}
	for _, asset := range []string{"app.js", "seq.js", "chart.js", "style.css"} {
		if code := getJSON(t, b.http.URL+"/static/"+asset, nil); code != 200 {
			t.Errorf("/static/%s: %d", asset, code)
		}
	}
}

// sseReader reads server-sent events.
type sseReader struct {
	r    *bufio.Reader
	resp *http.Response
}

func openEvents(t *testing.T, url string) *sseReader {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &sseReader{r: bufio.NewReader(resp.Body), resp: resp}
}

// next returns the next event's name and data.
func (s *sseReader) next(t *testing.T) (string, string) {
	t.Helper()
	var name, data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
}

// nextTrace returns the next trace that satisfies ok, skipping others.
func (s *sseReader) nextTrace(t *testing.T, ok func(protocol.Trace) bool) protocol.Trace {
	t.Helper()
	for {
		name, data := s.next(t)
		if name != "trace" {
			continue
		}
		var tr protocol.Trace
		if err := json.Unmarshal([]byte(data), &tr); err != nil {
			t.Fatalf("trace %s: %v", data, err)
		}
		if ok(tr) {
			return tr
		}
	}
}

// The event stream starts with a snapshot, then delivers traces as they
// happen and a snapshot every interval; query parameters filter it.
func TestEventStream(t *testing.T) {
	b := startBus(t, server.Config{}, inspector.Options{SnapshotInterval: 50 * time.Millisecond})
	a, c := dialRaw(t, b.path), dialRaw(t, b.path)
	register(a, "worker-1")
	register(c, "ui-main")
	c.drain()

	all := openEvents(t, b.http.URL+"/api/events")
	if name, data := all.next(t); name != "hello" || !strings.Contains(data, `"MachineId":"worker-1"`) {
		t.Fatalf("first event %s %s", name, data)
	}
	only := openEvents(t, b.http.URL+"/api/events?machines=nobody*&kinds=event&max=4")
	only.next(t) // hello

	a.call(eventLine("worker-1", "ui-main", "JOB_DONE", `{"id":7}`))
	a.send(eventLine("worker-1", "nobody", "LOST", `"abcdefgh"`))
	if m := a.reply(); m["Code"] != "target_not_connected" {
		t.Fatalf("LOST: %v", m)
	}
	tr := all.nextTrace(t, func(tr protocol.Trace) bool { return tr.Event == "JOB_DONE" })
	if tr.Type != "event" || tr.Outcome != "delivered" || tr.Source != "worker-1" || tr.Target != "ui-main" || string(tr.Payload) != `{"id":7}` {
		t.Errorf("JOB_DONE trace: %+v", tr)
	}
	tr = all.nextTrace(t, func(tr protocol.Trace) bool { return tr.Event == "LOST" })
	if tr.Outcome != "target_not_connected" || tr.Error == "" {
		t.Errorf("LOST trace: %+v", tr)
	}
	// The filtered stream sees only the failure, its payload cut to 4 bytes.
	tr = only.nextTrace(t, func(protocol.Trace) bool { return true })
	if tr.Event != "LOST" || !tr.Truncated || string(tr.Payload) != `"\"abc"` {
		t.Errorf("filtered stream: %+v payload %s", tr, tr.Payload)
	}
	// A state report is a trace with the state; snapshots keep coming.
	a.call(reportLine("worker-1", `"busy"`, `{}`, ""))
	tr = all.nextTrace(t, func(tr protocol.Trace) bool { return tr.Type == "state" })
	if tr.Source != "worker-1" || !strings.Contains(string(tr.Payload), `"Value":"busy"`) {
		t.Errorf("state trace: %+v %s", tr, tr.Payload)
	}
	for {
		name, data := all.next(t)
		if name == "snapshot" {
			var s inspector.Snapshot
			if err := json.Unmarshal([]byte(data), &s); err != nil || len(s.Machines) != 2 {
				t.Fatalf("snapshot event: %v %s", err, data)
			}
			break
		}
	}
	if code := getJSON(t, b.http.URL+"/api/events?kinds=bogus", nil); code != http.StatusBadRequest {
		t.Errorf("unknown kind: %d, want 400", code)
	}
}

// With a token, / and /api/* need it: ?token= once (then a cookie), or a
// Bearer header.
func TestTokenRequired(t *testing.T) {
	token := "s3cret-token"
	b := startBus(t, server.Config{Token: token}, inspector.Options{Token: func() string { return token }})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(path string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", b.http.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, p := range []string{"/", "/api/snapshot", "/api/events", "/api/machines/x", "/static/app.js", "/?token=wrong", "/api/snapshot?token=s3cret"} {
		if resp := do(p); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", p, resp.StatusCode)
		}
	}
	if resp := do("/api/snapshot", "Authorization", "Bearer wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong Bearer: %d", resp.StatusCode)
	}
	if resp := do("/api/snapshot", "Authorization", "Bearer "+token); resp.StatusCode != 200 {
		t.Errorf("Bearer: %d", resp.StatusCode)
	}
	if resp := do("/api/snapshot?token=" + token); resp.StatusCode != 200 {
		t.Errorf("?token= on the API: %d", resp.StatusCode)
	}
	resp := do("/?token=" + token)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == inspector.TokenCookie {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" || cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("/?token=: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := do("/", "Cookie", cookie.Name+"="+cookie.Value); resp.StatusCode != 200 {
		t.Errorf("/ with the cookie: %d", resp.StatusCode)
	}
	if resp := do("/api/snapshot", "Cookie", cookie.Name+"=nope"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong cookie: %d", resp.StatusCode)
	}
}

// Only loopback Host names are served (DNS rebinding), unless AllowRemote.
func TestHostChecked(t *testing.T) {
	b := startBus(t, server.Config{}, inspector.Options{})
	for host, want := range map[string]int{"evil.example:80": http.StatusMisdirectedRequest, "localhost:1": 200, "127.0.0.1": 200, "[::1]:9": 200} {
		req, _ := http.NewRequest("GET", b.http.URL+"/api/snapshot", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// Served beyond loopback, the inspector insists on a token.
func TestRemoteNeedsToken(t *testing.T) {
	b := startBus(t, server.Config{}, inspector.Options{AllowRemote: true})
	req, _ := http.NewRequest("GET", b.http.URL+"/api/snapshot", nil)
	req.Host = "bus.example:9475"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("remote without a token: %d, want 403", resp.StatusCode)
	}
	token := "tok"
	b = startBus(t, server.Config{}, inspector.Options{AllowRemote: true, Token: func() string { return token }})
	req, _ = http.NewRequest("GET", b.http.URL+"/api/snapshot", nil)
	req.Host = "bus.example:9475"
	req.Header.Set("Authorization", "Bearer tok")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("remote with the token: %d, want 200", resp.StatusCode)
	}
}

// A browser that never reads its event stream must not slow the bus:
// its Tap drops, the senders are answered at once.
func TestStalledStreamDoesNotBlockRouting(t *testing.T) {
	b := startBus(t, server.Config{}, inspector.Options{Buffer: 8, WriteTimeout: 30 * time.Second})
	a, c := dialRaw(t, b.path), dialRaw(t, b.path)
	register(a, "src")
	register(c, "dst")
	c.drain()

	// Ask for the stream and never read a byte of it.
	nc, err := net.Dial("tcp", b.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	fmt.Fprintf(nc, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	waitFor(t, "the stream's tap", func() bool { return b.srv.Monitors() == 1 })

	// 8 MiB of traffic, far more than the socket buffers hold.
	payload := `"` + strings.Repeat("x", 4096) + `"`
	const n, batch = 2048, 64
	start := time.Now()
	line := eventLine("src", "dst", "BULK", payload) + "\n"
	for i := 0; i < n; i += batch {
		a.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := a.nc.Write([]byte(strings.Repeat(line, batch))); err != nil {
			t.Fatal(err)
		}
		for range batch {
			if m := a.reply(); m["Success"] != true {
				t.Fatalf("event %d: %v", i, m)
			}
		}
	}
	elapsed := time.Since(start)
	if b.srv.TracesDropped() == 0 {
		t.Errorf("the stalled stream's tap dropped nothing (%d events)", n)
	}
	// Generous: a stalled monitor would hold the bus for WriteTimeout (30 s).
	if elapsed > 15*time.Second {
		t.Errorf("%d events took %v with a stalled stream", n, elapsed)
	}
	t.Logf("%d events of 4 KiB in %v, %d traces dropped for the stalled stream", n, elapsed, b.srv.TracesDropped())
}
