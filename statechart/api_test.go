package statechart

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRegisteredActionsGuardsDelays(t *testing.T) {
	var got []string
	reg := NewRegistry().
		Action("record", func(s *Scope, p map[string]any) error {
			got = append(got, s.Event().Name+":"+p["what"].(string))
			return s.Assign("last", p["what"])
		}).
		Guard("isBig", func(s *Scope, p map[string]any) (bool, error) {
			var in struct{ N float64 }
			if err := s.Event().Decode(&in); err != nil {
				return false, err
			}
			return in.N > p["min"].(float64), nil
		}).
		Delay("backoff", func(s *Scope) (time.Duration, error) { return 250 * time.Millisecond, nil })
	m := mustLoad(t, `{"id": "m", "initial": "a", "states": {
	  "a": {"on": {"N": [{"target": "big", "guard": {"type": "isBig", "params": {"min": 10}}, "actions": {"type": "record", "params": {"what": "big"}}},
	                     {"actions": {"type": "record", "params": {"what": "small"}}}]}},
	  "big": {"after": {"backoff": "a"}}}}`, reg)
	sim, _, err := NewSimulator(m)
	if err != nil {
		t.Fatal(err)
	}
	sim.Step(`send N {"N": 3}`)
	l, _ := sim.Step(`send N {"N": 30}`)
	if string(l.Value) != `"big"` || l.Context["last"] != "big" || strings.Join(got, ",") != "N:small,N:big" {
		t.Fatalf("%s %v %v", l.Value, l.Context, got)
	}
	sim.Step("advance 249")
	if l, _ := sim.Step("advance 1"); string(l.Value) != `"a"` {
		t.Fatalf("named delay: %s", l.Value)
	}
	if n := m.Needs(); strings.Join(n.Actions, ",") != "record" || n.Guards[0] != "isBig" || n.Delays[0] != "backoff" {
		t.Fatalf("needs %+v", n)
	}
}

func TestActionAndGuardFailures(t *testing.T) {
	boom := errors.New("boom")
	reg := NewRegistry().
		Action("fail", func(*Scope, map[string]any) error { return boom }).
		Guard("sneaky", func(s *Scope, _ map[string]any) (bool, error) { s.SendSelf("X", nil); return true, nil })
	m := mustLoad(t, `{"id": "m", "initial": "a", "states": {"a": {"on": {
	  "F": {"actions": "fail"}, "G": {"target": "a", "guard": "sneaky"}}}}}`, reg)
	for ev, want := range map[string]error{"F": boom, "G": errInGuard} {
		in, _ := NewInterpreter(m)
		in.Start()
		_, err := in.Send(Event{Name: ev})
		var re *RunError
		if !errors.Is(err, want) || !errors.As(err, &re) || !strings.HasPrefix(re.Path, "/states/a/on/"+ev) {
			t.Fatalf("%s: %v", ev, err)
		}
		if in.Status() != StatusError || in.Snapshot().Status != StatusError || in.Snapshot().Error == "" {
			t.Fatalf("%s: status %s", ev, in.Status())
		}
		if _, err := in.Send(Event{Name: "F"}); !errors.Is(err, ErrNotActive) {
			t.Fatalf("send after failure: %v", err)
		}
	}
}

func TestRegistryRefusesBuiltinsAndDuplicates(t *testing.T) {
	for name, reg := range map[string]func(){
		"builtin action": func() { NewRegistry().Action("log", func(*Scope, map[string]any) error { return nil }) },
		"builtin guard":  func() { NewRegistry().Guard("and", func(*Scope, map[string]any) (bool, error) { return true, nil }) },
		"duplicate": func() {
			r := NewRegistry().Delay("d", func(*Scope) (time.Duration, error) { return 0, nil })
			r.Delay("d", func(*Scope) (time.Duration, error) { return 0, nil })
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			reg()
		}()
	}
}

func TestParseDoesNotNeedNames(t *testing.T) {
	doc := []byte(`{"id": "m", "initial": "a", "states": {"a": {"entry": "x", "on": {"E": {"target": "a", "guard": "g"}}}}}`)
	m, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewInterpreter(m); err == nil {
		t.Fatal("a parsed machine ran")
	}
	_, err = Load(doc, nil)
	var le *LoadError
	if !errors.Is(err, ErrUnknownName) || !errors.As(err, &le) || le.Path != "/states/a/entry" {
		t.Fatalf("load: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`[1]`:                                   "must be a JSON object",
		`{"id": "a.b"}`:                         "/id",
		`{"states": {"a": {}}}`:                 `needs an "initial"`,
		`{"initial": "b", "states": {"a": {}}}`: "/initial",
		`{"initial": "a", "states": {"a": {}, "a": {}}}`:                                             "duplicate key",
		`{"initial": "a", "states": {"a": {"id": "x"}, "b": {"id": "x"}}}`:                           "duplicate state id",
		`{"initial": "a", "states": {"a": {"invoke": {"src": "x"}}}}`:                                "invoke is not supported",
		`{"initial": "h", "states": {"h": {"type": "history"}, "a": {}}}`:                            "needs a default target",
		`{"initial": "a", "states": {"a": {"after": {"soon": "a"}}}}`:                                `unknown delay "soon"`,
		`{"initial": "a", "states": {"a": {"type": "final", "states": {"b": {}}}}}`:                  "cannot have child states",
		`{"initial": "a", "states": {"a": {"on": {"E": {"target": ["#m", 1]}}}}}`:                    "every target must be a string",
		`{"initial": "a", "states": {"a": {"on": {"E": {"in": "#x"}}}}}`:                             `"in" (XState v4) is not supported`,
		`{"initial": "a", "states": {"a": {"entry": {"type": "sendTo", "params": {"event": "E"}}}}}`: `"to"`,
		`{"initial": "a", "states": {"a": {"entry": {"type": "log"}}}}`:                              `"message"`,
		`{"initial": "a", "states": {"a": {"type": "weird"}}}`:                                       "unknown state type",
		`{"initial": "a", "states": {"a": {}}} {}`:                                                   "after the top-level value",
		strings.Repeat(`{"a":`, 300) + "1" + strings.Repeat("}", 300):                                "nested too deeply",
	} {
		_, err := Load([]byte(doc), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: %v, want %q", doc, err, want)
		}
	}
}

func TestSnapshotRestore(t *testing.T) {
	m := mustLoad(t, `{"id": "m", "initial": "off", "context": {"n": 1}, "states": {
	  "off": {"on": {"ON": "on.hist"}},
	  "on": {"initial": "a", "on": {"OFF": "off"}, "states": {
	    "a": {"on": {"NEXT": "b"}}, "b": {}, "hist": {"type": "history"}}}}}`, nil)
	in, _ := NewInterpreter(m)
	in.Start()
	for _, e := range []string{"ON", "NEXT", "OFF"} {
		in.Send(Event{Name: e})
	}
	snap := in.Snapshot()
	b, _ := json.Marshal(snap)
	if want := `{"value":"off","status":"active","context":{"n":1},"history":{"m.on.hist":["m.on.b"]}}`; string(b) != want {
		t.Fatalf("snapshot %s, want %s", b, want)
	}
	var back Snapshot
	json.Unmarshal(b, &back)
	in2, err := Restore(m, back)
	if err != nil {
		t.Fatal(err)
	}
	in2.Send(Event{Name: "ON"})
	if v := string(in2.Snapshot().Value); v != `{"on":"b"}` {
		t.Fatalf("restored history: %s", v)
	}
	for _, bad := range []string{`{"value":"nope","status":"active","context":{}}`, `{"value":{"on":"a","off":{}},"status":"active","context":{}}`,
		`{"value":"off","status":"sleeping","context":{}}`, `{"value":"off","status":"active","context":{},"history":{"m.off":["m.on.a"]}}`} {
		var s Snapshot
		json.Unmarshal([]byte(bad), &s)
		if _, err := Restore(m, s); err == nil {
			t.Errorf("restored %s", bad)
		}
	}
}
