package statechart

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every load error points at the offending value with a JSON Pointer
// (RFC 6901: "~" and "/" in keys escaped as ~0 and ~1).
func TestLoadErrorPaths(t *testing.T) {
	tests := []struct {
		doc, path string
		unknown   bool // wraps ErrUnknownName
	}{
		{`{"id": "m", "initial": "a", "states": {"a": {"on": {"E": {"target": "nowhere"}}}}}`, "/states/a/on/E/target", false},
		{`{"id": "m", "initial": "a", "states": {"a": {"on": {"E": [{"target": "a"}, {"target": "zz"}]}}}}`, "/states/a/on/E/1/target", false},
		{`{"id": "m", "initial": "a", "states": {"a": {"exit": ["log0", "nope"]}}}`, "/states/a/exit/0", true},
		{`{"id": "m", "initial": "a", "states": {"a": {"on": {"E": {"guard": "g"}}}}}`, "/states/a/on/E/guard", true},
		{`{"id": "m", "initial": "a", "states": {"a": {"on": {"E": {"guard": {"type": "and", "params": {"guards": ["x"]}}}}}}}`, "/states/a/on/E/guard/params/guards/0", true},
		{`{"id": "m", "initial": "a/b", "states": {"a/b": {"states": {"c~d": {"type": "weird"}}, "initial": "c~d"}}}`, "/states/a~1b/states/c~0d/type", false},
		{`{"id": "m", "initial": "a", "states": {"a": {"after": {"soon": "a"}}}}`, "/states/a/after/soon", true},
		{`{"id": "m", "initial": "a", "states": {"a": {"always": {"target": "a", "actions": {"type": "raise", "params": {}}}}}}`, "/states/a/always/actions", false},
	}
	for _, tt := range tests {
		_, err := Load([]byte(tt.doc), nil)
		var le *LoadError
		if !errors.As(err, &le) {
			t.Errorf("%s: %v, want a *LoadError", tt.doc, err)
			continue
		}
		if le.Path != tt.path || errors.Is(err, ErrUnknownName) != tt.unknown {
			t.Errorf("%s:\n got %q (%v)\nwant %q, unknown name %v", tt.doc, le.Path, err, tt.path, tt.unknown)
		}
		if !strings.HasPrefix(err.Error(), "statechart: "+tt.path+": ") {
			t.Errorf("message %q does not start with the path", err)
		}
	}
	if err := (&LoadError{Msg: "x"}).Error(); err != "statechart: /: x" {
		t.Errorf("whole-document error reads %q", err)
	}
}

func TestVirtualClock(t *testing.T) {
	t0 := time.Unix(100, 0)
	c := NewVirtualClock(t0)
	var got []string
	add := func(name string) func() { return func() { got = append(got, name) } }
	c.AfterFunc(2*time.Second, add("b"))
	c.AfterFunc(time.Second, add("a1"))
	stopped := c.AfterFunc(time.Second, add("never"))
	c.AfterFunc(time.Second, func() {
		got = append(got, "a2")
		c.AfterFunc(500*time.Millisecond, add("chained")) // due at 1.5s, inside the advance
	})
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop must report true once, then false")
	}
	if c.FireNext(t0.Add(999 * time.Millisecond)) {
		t.Fatal("fired before its time")
	}
	if c.Pending() != 3 {
		t.Fatalf("pending %d", c.Pending())
	}
	c.Advance(1800 * time.Millisecond)
	if want := []string{"a1", "a2", "chained"}; !slices.Equal(got, want) || !c.Now().Equal(t0.Add(1800*time.Millisecond)) {
		t.Fatalf("fired %v at %v, want %v at +1.8s", got, c.Now(), want)
	}
	// FireNext moves the clock to the timer's due time, not to until.
	if !c.FireNext(t0.Add(time.Hour)) || !c.Now().Equal(t0.Add(2*time.Second)) || got[len(got)-1] != "b" {
		t.Fatalf("FireNext: %v at %v", got, c.Now())
	}
	if c.Pending() != 0 || c.FireNext(t0.Add(time.Hour)) {
		t.Fatal("timers left")
	}
}

// Delayed sends go through the System's Clock: they fire only as the
// clock reaches them, leaving a state cancels its "after" timers, and
// cancel stops a pending delayed raise.
func TestDelayedSendsOnTheClock(t *testing.T) {
	m := mustLoad(t, `{"id": "m", "initial": "wait", "context": {"pings": 0}, "states": {
	  "wait": {"after": {"1000": "late"}, "on": {"SKIP": "armed"}},
	  "armed": {"entry": {"type": "raise", "params": {"event": "PING", "delay": 300, "id": "p"}},
	            "on": {"PING": {"actions": {"type": "increment", "params": {"key": "pings"}}},
	                   "STOP": {"actions": {"type": "cancel", "params": {"id": "p"}}},
	                   "AGAIN": {"target": "armed", "reenter": true}}},
	  "late": {}}}`, nil)
	clock := NewVirtualClock(time.Unix(0, 0))
	sys := NewSystem(WithClock(clock))
	a, err := sys.Spawn("m", m)
	if err != nil {
		t.Fatal(err)
	}
	advance := func(d time.Duration) {
		until := clock.Now().Add(d)
		for clock.FireNext(until) {
			sys.Drain()
		}
		clock.Advance(until.Sub(clock.Now()))
		sys.Drain()
	}
	value := func() string { return string(a.Snapshot().Value) }
	sys.Drain()
	if clock.Pending() != 1 {
		t.Fatalf("pending %d after start", clock.Pending())
	}
	advance(999 * time.Millisecond)
	if value() != `"wait"` {
		t.Fatalf("left early: %s", value())
	}
	advance(time.Millisecond)
	if value() != `"late"` {
		t.Fatalf("after 1000ms: %s", value())
	}

	// Leaving "wait" before its delay drops the timer.
	a2, _ := sys.Spawn("m2", m)
	sys.Drain()
	sys.Deliver("m2", Event{Name: "SKIP"})
	sys.Drain()
	if clock.Pending() != 1 { // only armed's PING: wait's timer is gone
		t.Fatalf("pending %d", clock.Pending())
	}
	advance(300 * time.Millisecond)
	if a2.Snapshot().Context["pings"] != 1.0 {
		t.Fatalf("context %v", a2.Snapshot().Context)
	}
	advance(5 * time.Second)
	if string(a2.Snapshot().Value) != `"armed"` {
		t.Fatalf("wait's timer fired after it was left: %s", a2.Snapshot().Value)
	}
	// Re-entering arms a new PING; cancel stops it.
	sys.Deliver("m2", Event{Name: "AGAIN"})
	sys.Deliver("m2", Event{Name: "STOP"})
	sys.Drain()
	advance(time.Second)
	if a2.Snapshot().Context["pings"] != 1.0 {
		t.Fatalf("cancelled ping arrived: %v", a2.Snapshot().Context)
	}
}

// A snapshot taken in a parallel, nested configuration with history and
// context restores to an interpreter that behaves the same from then on.
func TestSnapshotRoundTripBehavesTheSame(t *testing.T) {
	m := mustLoad(t, `{"id": "m", "initial": "p", "context": {"n": 0, "deep": {"list": [1, {"x": "y"}]}}, "states": {
	  "p": {"type": "parallel", "on": {"OUT": "q"}, "states": {
	    "r1": {"initial": "a", "states": {"a": {"on": {"NEXT": "b"}}, "b": {"initial": "b1", "states": {"b1": {"on": {"NEXT": "b2"}}, "b2": {}}},
	           "h": {"type": "history", "history": "deep", "target": "a"}}},
	    "r2": {"initial": "c", "states": {"c": {"on": {"NEXT": {"target": "d", "actions": {"type": "increment", "params": {"key": "n"}}}}}, "d": {}}}}},
	  "q": {"on": {"BACK": "#m.p.r1.h"}}}}`, nil)
	orig, _ := NewInterpreter(m)
	orig.Start()
	orig.Send(Event{Name: "NEXT"})
	orig.Send(Event{Name: "NEXT"})
	b, err := json.Marshal(orig.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var snap Snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatal(err)
	}
	back, err := Restore(m, snap)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Active(), orig.Active()) || !reflect.DeepEqual(back.Context(), orig.Context()) {
		t.Fatalf("restored %v %v, want %v %v", back.Active(), back.Context(), orig.Active(), orig.Context())
	}
	for _, e := range []string{"OUT", "BACK", "NEXT", "OUT", "BACK"} {
		orig.Send(Event{Name: e})
		back.Send(Event{Name: e})
		x, _ := json.Marshal(orig.Snapshot())
		y, _ := json.Marshal(back.Snapshot())
		if string(x) != string(y) {
			t.Fatalf("after %s:\n%s\n%s", e, x, y)
		}
	}
	// The snapshot's context is a copy.
	snap2 := back.Snapshot()
	snap2.Context["deep"].(map[string]any)["list"] = nil
	if back.Context()["deep"].(map[string]any)["list"] == nil {
		t.Fatal("a snapshot shares the machine's context")
	}
}

// A System serves its mailboxes round-robin, one event per machine in
// turn; Deliver and Stop refuse unknown ids; Done closes at a top-level
// final state; Run processes what arrives until its context ends.
func TestSystemMailboxes(t *testing.T) {
	m := mustLoad(t, `{"id": "w", "initial": "on", "states": {"on": {"on": {"END": "off"}}, "off": {"type": "final"}}}`, nil)
	var mu sync.Mutex
	var order []string
	sys := NewSystem(WithObserver(func(st Step) {
		mu.Lock()
		order = append(order, st.Machine+":"+st.Event.Name)
		mu.Unlock()
	}))
	a, _ := sys.Spawn("a", m)
	sys.Spawn("b", m)
	if _, err := sys.Spawn("a", m); err == nil {
		t.Fatal("spawned a second a")
	}
	for _, e := range []string{"E1", "E2"} {
		sys.Deliver("a", Event{Name: e})
		sys.Deliver("b", Event{Name: e})
	}
	if n := sys.Drain(); n != 6 {
		t.Fatalf("drained %d events, want 6", n)
	}
	if want := []string{"a:xstate.init", "b:xstate.init", "a:E1", "b:E1", "a:E2", "b:E2"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	if err := sys.Deliver("zz", Event{Name: "E"}); !errors.Is(err, ErrUnknownMachine) {
		t.Fatalf("deliver to nobody: %v", err)
	}
	if err := sys.Send("zz", Event{Name: "E"}); !errors.Is(err, ErrUnknownMachine) {
		t.Fatalf("send without transport: %v", err)
	}
	sys.Deliver("b", Event{Name: "QUEUED"})
	if err := sys.Stop("b"); err != nil || sys.Hosts("b") || !errors.Is(sys.Stop("b"), ErrUnknownMachine) {
		t.Fatalf("stop: %v, hosts %v", err, sys.Hosts("b"))
	}
	sys.Drain()
	if slices.Contains(order, "b:QUEUED") {
		t.Fatal("a stopped machine processed its mailbox")
	}

	ctx, cancel := contextWithTimeout(t, 10*time.Second)
	defer cancel()
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan error)
	go func() { ran <- sys.Run(runCtx) }()
	sys.Deliver("a", Event{Name: "END"})
	select {
	case <-a.Done():
	case <-ctx.Done():
		t.Fatal("a did not finish")
	}
	if a.Snapshot().Status != StatusDone {
		t.Fatalf("status %s", a.Snapshot().Status)
	}
	stopRun()
	if err := <-ran; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}

func TestDiagrams(t *testing.T) {
	m := mustLoad(t, `{"id": "m", "initial": "a", "context": {"k": 1}, "states": {
	  "a": {"initial": "x", "on": {"GO": {"target": "p", "guard": {"type": "eq", "params": {"key": "k", "value": 1}}, "actions": [{"type": "log", "message": "hi"}]}},
	    "states": {"x": {"after": {"1000": "y"}, "on": {"a:b": "y"}}, "y": {"always": "#m.done"}, "h": {"type": "history", "history": "deep", "target": "x"}}},
	  "a_x": {},
	  "p": {"type": "parallel", "onDone": "done", "states": {"r1": {"initial": "f", "states": {"f": {"type": "final"}}}, "r2": {}}},
	  "done": {"type": "final"}}}`, nil)
	mermaid := Mermaid(m)
	for _, line := range []string{
		"stateDiagram-v2",
		`    state "a" as m_a`,
		`    state m_a {`,
		`        state "H*" as m_a_h`,
		`        [*] --> m_a_x`,
		`        m_a_x --> m_a_y: after 1000ms`,
		`        m_a_x --> m_a_y: a#colon;b`,
		`        m_a_y --> m_done: always`,
		`    state "a_x" as m_a_5f_x`, // not m_a_x: "_" is escaped so ids stay distinct
		`        --`,
		`            m_p_r1_f --> [*]`,
		`    m_done --> [*]`,
		`    [*] --> m_a`,
		`    m_a --> m_p: GO [eq] / log`,
		`    m_p --> m_done: done`,
	} {
		if !slices.Contains(strings.Split(mermaid, "\n"), line) {
			t.Errorf("Mermaid lacks %q:\n%s", line, mermaid)
		}
	}
	if strings.Count(mermaid, "{") != strings.Count(mermaid, "}") {
		t.Errorf("unbalanced blocks:\n%s", mermaid)
	}
	dot := DOT(m)
	for _, line := range []string{
		`digraph "m" {`,
		`    subgraph "cluster_m.p" {`,
		`      style=dashed;`,
		`      "m.a.h" [label="H*", shape=circle];`,
		`    "m.done" [label="done", peripheries=2];`,
		`  "m.a.__initial" -> "m.p.__initial" [label="GO [eq] / log", ltail="cluster_m.a", lhead="cluster_m.p"];`,
		`  "m.a.x" -> "m.a.y" [label="after 1000ms"];`,
		`  "m.a.x" -> "m.a.y" [label="a:b"];`,
		`  "m.p.__initial" -> "m.done" [label="done", ltail="cluster_m.p"];`,
	} {
		if !slices.Contains(strings.Split(dot, "\n"), line) {
			t.Errorf("DOT lacks %q:\n%s", line, dot)
		}
	}
	if strings.Count(dot, "{") != strings.Count(dot, "}") || !strings.HasSuffix(dot, "}\n") {
		t.Errorf("unbalanced DOT:\n%s", dot)
	}
}

// Built-in guards and actions at their edges.
func TestBuiltinEdges(t *testing.T) {
	guard := func(g string) string {
		return `{"id": "m", "initial": "a", "context": {"obj": {"x": [1, 2]}, "n": 1, "nul": null}, "states": {"a": {"on": {"E": {"target": "b", "guard": ` + g + `}}}, "b": {}}}`
	}
	for _, tt := range []struct {
		g    string
		want bool
	}{
		{`{"type": "and", "params": {"guards": []}}`, true},
		{`{"type": "or", "params": {"guards": []}}`, false},
		{`{"type": "not", "params": {"guards": [{"type": "or", "params": {"guards": []}}]}}`, true},
		{`{"type": "eq", "params": {"key": "obj", "value": {"x": [1, 2]}}}`, true},
		{`{"type": "eq", "params": {"key": "obj", "value": {"x": [2, 1]}}}`, false},
		{`{"type": "eq", "params": {"key": "n", "value": 1.0}}`, true},
		{`{"type": "eq", "params": {"key": "n", "value": "1"}}`, false},
		{`{"type": "eq", "params": {"key": "missing", "value": null}}`, true},
		{`{"type": "eq", "params": {"key": "nul", "value": null}}`, true},
		{`{"type": "stateIn", "params": {"state": "#m.a"}}`, true},
		{`{"type": "stateIn", "params": {"state": "#m.b"}}`, false},
		{`{"type": "and", "params": {"guards": [{"type": "stateIn", "params": {"state": "#m"}}, {"type": "not", "params": {"guard": {"type": "eq", "params": {"key": "n", "value": 2}}}}]}}`, true},
	} {
		_, in := run(t, guard(tt.g), nil, "E")
		if got := string(in.Snapshot().Value) == `"b"`; got != tt.want {
			t.Errorf("%s: %v, want %v", tt.g, got, tt.want)
		}
	}

	m := mustLoad(t, `{"id": "m", "initial": "a", "context": {"c": 5}, "states": {"a": {"on": {"E": {"actions": [
	    {"type": "assign", "params": {"key": "all", "fromEvent": ""}},
	    {"type": "assign", "params": {"key": "second", "fromEvent": "list.1.name"}},
	    {"type": "assign", "params": {"key": "missing", "fromEvent": "list.9.name"}},
	    {"type": "assign", "params": {"key": "through", "fromEvent": "n.deeper"}},
	    {"type": "increment", "params": {"key": "c", "by": -2.5}},
	    {"type": "increment", "params": {"key": "fresh"}}]}}}}}`, nil)
	in, _ := NewInterpreter(m)
	in.Start()
	if _, err := in.Send(Event{Name: "E", Data: json.RawMessage(`{"n": 3, "list": [{"name": "x"}, {"name": "y"}]}`)}); err != nil {
		t.Fatal(err)
	}
	ctx := in.Context()
	want := map[string]any{
		"all":    map[string]any{"n": 3.0, "list": []any{map[string]any{"name": "x"}, map[string]any{"name": "y"}}},
		"second": "y", "missing": nil, "through": nil, "c": 2.5, "fresh": 1.0,
	}
	if !reflect.DeepEqual(ctx, want) {
		t.Fatalf("context %v, want %v", ctx, want)
	}
	for path, want := range map[string]any{"": nil, "a": nil, "a.b": nil} {
		if v, err := (Event{}).Field(path); err != nil || v != want {
			t.Errorf("empty payload %q: %v %v", path, v, err)
		}
	}
	if _, err := (Event{Name: "E", Data: json.RawMessage(`{`)}).Field("a"); err == nil {
		t.Error("bad payload read without an error")
	}
}
