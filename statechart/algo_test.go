package statechart

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// traced rewrites a document so that every state that has an object body
// logs "+key" on entry and "-key" on exit: each `"key": {` inside a
// "states" object (written as `"key": {"~": 0,` in the test's text, a
// marker the loader never sees) becomes `"key": {"entry": ..., "exit": ...,`.
func traced(doc string) string {
	re := regexp.MustCompile(`"([A-Za-z0-9]+)": \{"~": 0,?`)
	return re.ReplaceAllStringFunc(doc, func(s string) string {
		k := re.FindStringSubmatch(s)[1]
		out := fmt.Sprintf(`"%s": {"entry": {"type": "log", "message": "+%s"}, "exit": {"type": "log", "message": "-%s"}`, k, k, k)
		if strings.HasSuffix(s, ",") {
			out += ","
		}
		return out
	})
}

// run starts doc and sends the events; it returns the logs of each
// macrostep joined by spaces, the start first, and the interpreter.
func run(t *testing.T, doc string, reg *Registry, events ...string) ([]string, *Interpreter) {
	t.Helper()
	m := mustLoad(t, traced(doc), reg)
	in, err := NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	res, err := in.Start()
	if err != nil {
		t.Fatal(err)
	}
	logs := []string{strings.Join(res.Logs, " ")}
	for _, e := range events {
		res, err := in.Send(Event{Name: e})
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		logs = append(logs, strings.Join(res.Logs, " "))
	}
	return logs, in
}

// nested: a (a1 (x, y), a2), b. Transition actions log "t".
const nested = `{"id": "m", "initial": "a", "states": {
  "a": {"~": 0, "initial": "a1", "on": {"OUT": {"target": "b", "actions": {"type": "log", "message": "t"}},
                                        "REENTER": {"target": "a", "reenter": true, "actions": {"type": "log", "message": "t"}},
                                        "TOCHILD": {"target": ".a2", "actions": {"type": "log", "message": "t"}}},
    "states": {
      "a1": {"~": 0, "initial": "x", "states": {
        "x": {"~": 0, "on": {"ACROSS": {"target": "#m.a.a2", "actions": {"type": "log", "message": "t"}},
                             "SIB": {"target": "y", "actions": {"type": "log", "message": "t"}}}},
        "y": {"~": 0}}},
      "a2": {"~": 0}}},
  "b": {"~": 0, "on": {"BACK": {"target": "#m.a.a1.y", "actions": {"type": "log", "message": "t"}}}}}}`

// Exit runs deepest first, entry outermost first, transition actions
// between; only the states below the transition domain (the least common
// compound ancestor, or the source itself for a non-reentering
// transition to a descendant) are exited and entered (SCXML
// exitStates/enterStates; XState v5 "reenter").
func TestEntryExitOrder(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		want   string // the last macrostep's logs
	}{
		{"start enters outside in", nil, "+a +a1 +x"},
		{"sibling leaf", []string{"SIB"}, "-x t +y"},
		{"across the compound parent", []string{"ACROSS"}, "-x -a1 t +a2"},
		{"ancestor's transition out", []string{"OUT"}, "-x -a1 -a t +b"},
		{"into a deep target from outside", []string{"OUT", "BACK"}, "-b t +a +a1 +y"},
		{"reenter true leaves and enters the source", []string{"REENTER"}, "-x -a1 -a t +a +a1 +x"},
		{"to a child without reenter keeps the source", []string{"TOCHILD"}, "-x -a1 t +a2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs, _ := run(t, nested, nil, tt.events...)
			if got := logs[len(logs)-1]; got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// parallel: p (r1 (a, b), r2 (c, d)), out.
const parallelDoc = `{"id": "m", "initial": "p", "states": {
  "p": {"~": 0, "type": "parallel", "on": {"LEAVE": "out"}, "states": {
    "r1": {"~": 0, "initial": "a", "states": {"a": {"~": 0, "on": {"E": "b", "CROSS": "#m.p.r2.d", "BOTH": "b"}}, "b": {"~": 0}}},
    "r2": {"~": 0, "initial": "c", "states": {"c": {"~": 0, "on": {"F": "d", "BOTH": "d"}}, "d": {"~": 0}}}}},
  "out": {"~": 0, "on": {"MULTI": {"target": ["#m.p.r1.b", "#m.p.r2.d"]}}}}}`

func TestParallelOrder(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		want   string
		active []string
	}{
		{"start enters regions in document order", nil, "+p +r1 +a +r2 +c", []string{"m", "m.p", "m.p.r1", "m.p.r1.a", "m.p.r2", "m.p.r2.c"}},
		{"one region moves, the other stays", []string{"E"}, "-a +b", []string{"m", "m.p", "m.p.r1", "m.p.r1.b", "m.p.r2", "m.p.r2.c"}},
		// Both regions' transitions are taken in one microstep: exits of
		// both (reverse document order), then entries (document order).
		{"both regions take one event", []string{"BOTH"}, "-c -a +b +d", []string{"m", "m.p", "m.p.r1", "m.p.r1.b", "m.p.r2", "m.p.r2.d"}},
		// A target in another region: the domain is p, so both regions are
		// left and re-entered (r1 at its initial state); p stays.
		{"cross region", []string{"CROSS"}, "-c -r2 -a -r1 +r1 +a +r2 +d", []string{"m", "m.p", "m.p.r1", "m.p.r1.a", "m.p.r2", "m.p.r2.d"}},
		{"leaving exits last region first", []string{"LEAVE"}, "-c -r2 -a -r1 -p +out", []string{"m", "m.out"}},
		{"several targets", []string{"LEAVE", "MULTI"}, "-out +p +r1 +b +r2 +d", []string{"m", "m.p", "m.p.r1", "m.p.r1.b", "m.p.r2", "m.p.r2.d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs, in := run(t, parallelDoc, nil, tt.events...)
			if got := logs[len(logs)-1]; got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if got := in.Active(); !slices.Equal(got, tt.active) {
				t.Errorf("active %v, want %v", got, tt.active)
			}
		})
	}
}

// Transition selection: the deepest active state with an enabled
// transition wins; a state whose transitions are all disabled defers to
// its ancestors; within a state the first enabled one in document order.
func TestTransitionSelection(t *testing.T) {
	doc := `{"id": "m", "initial": "a", "context": {"open": false}, "states": {
	  "a": {"initial": "x", "on": {"E": {"actions": {"type": "log", "message": "parent"}}, "G": {"actions": {"type": "log", "message": "parent"}}}, "states": {
	    "x": {"on": {
	      "E": [{"guard": {"type": "eq", "params": {"key": "open", "value": true}}, "actions": {"type": "log", "message": "first"}},
	            {"actions": {"type": "log", "message": "second"}},
	            {"actions": {"type": "log", "message": "third"}}],
	      "G": {"guard": {"type": "eq", "params": {"key": "open", "value": true}}, "actions": {"type": "log", "message": "child"}},
	      "OPEN": {"actions": {"type": "assign", "params": {"key": "open", "value": true}}}}}}}}}`
	tests := []struct {
		events []string
		want   string
	}{
		{[]string{"E"}, "second"},
		{[]string{"G"}, "parent"},
		{[]string{"OPEN", "E"}, "first"},
		{[]string{"OPEN", "G"}, "child"},
		{[]string{"NOPE"}, ""},
	}
	for _, tt := range tests {
		logs, _ := run(t, doc, nil, tt.events...)
		if got := logs[len(logs)-1]; got != tt.want {
			t.Errorf("%v: got %q, want %q", tt.events, got, tt.want)
		}
	}
}

// History: shallow restores the child that was active and enters its
// initial states below; deep restores the whole active configuration;
// before the parent was ever left, the default is used.
func TestHistoryRestores(t *testing.T) {
	doc := `{"id": "m", "initial": "b", "states": {
	  "a": {"initial": "a1", "on": {"OUT": "b"}, "states": {
	    "a1": {"on": {"NEXT": "a2"}},
	    "a2": {"initial": "i", "states": {"i": {"on": {"NEXT": "j"}}, "j": {}}},
	    "sh": {"type": "history", "target": "a2"},
	    "dh": {"type": "history", "history": "deep", "target": "a1"}}},
	  "b": {"on": {"IN": "a", "SHALLOW": "#m.a.sh", "DEEP": "#m.a.dh"}}}}`
	tests := []struct {
		events []string
		want   string
	}{
		// a never left: each history's default target.
		{[]string{"SHALLOW"}, `{"a":{"a2":"i"}}`},
		{[]string{"DEEP"}, `{"a":"a1"}`},
		// a left from a1: both remember a1, over their defaults.
		{[]string{"IN", "OUT", "SHALLOW"}, `{"a":"a1"}`},
		{[]string{"IN", "OUT", "DEEP"}, `{"a":"a1"}`},
		// a left from a2.j: shallow restores a2 at its initial state,
		// deep restores j.
		{[]string{"IN", "NEXT", "NEXT", "OUT", "SHALLOW"}, `{"a":{"a2":"i"}}`},
		{[]string{"IN", "NEXT", "NEXT", "OUT", "DEEP"}, `{"a":{"a2":"j"}}`},
		// Each exit records anew.
		{[]string{"IN", "NEXT", "NEXT", "OUT", "DEEP", "OUT", "SHALLOW"}, `{"a":{"a2":"i"}}`},
	}
	for _, tt := range tests {
		_, in := run(t, doc, nil, tt.events...)
		if got := string(in.Snapshot().Value); got != tt.want {
			t.Errorf("%v: value %s, want %s", tt.events, got, tt.want)
		}
	}
}

// Eventless transitions run after the event's microstep, one microstep
// each, until none is enabled; their guards see the context the event's
// actions left.
func TestEventlessMicrosteps(t *testing.T) {
	doc := `{"id": "m", "initial": "idle", "context": {"n": 0}, "states": {
	  "idle": {"on": {"GO": {"target": "s1", "actions": {"type": "increment", "params": {"key": "n"}}}}},
	  "s1": {"always": [{"target": "s2", "guard": {"type": "eq", "params": {"key": "n", "value": 2}}}, {"target": "s3"}]},
	  "s2": {"always": "s3"},
	  "s3": {"on": {"BACK": "idle"}}}}`
	m := mustLoad(t, doc, nil)
	in, _ := NewInterpreter(m)
	in.Start()
	res, _ := in.Send(Event{Name: "GO"})
	if res.Microsteps != 2 || string(in.Snapshot().Value) != `"s3"` {
		t.Fatalf("n=1: %d microsteps, %s", res.Microsteps, in.Snapshot().Value)
	}
	in.Send(Event{Name: "BACK"})
	res, _ = in.Send(Event{Name: "GO"})
	if res.Microsteps != 3 {
		t.Fatalf("n=2: %d microsteps, want 3 (GO, s1->s2, s2->s3)", res.Microsteps)
	}
	// An event nothing takes still counts its own (empty) microstep.
	if res, _ := in.Send(Event{Name: "NOTHING"}); res.Microsteps != 1 || string(in.Snapshot().Value) != `"s3"` {
		t.Fatalf("unhandled: %d microsteps", res.Microsteps)
	}
}

// WithMaxMicrosteps bounds one macrostep: a chain of exactly the limit
// settles, one more is ErrNotSettled and the machine fails.
func TestMaxMicrosteps(t *testing.T) {
	// GO into s1, then always s1->s2->s3->s4: four microsteps.
	doc := `{"id": "m", "initial": "s0", "states": {
	  "s0": {"on": {"GO": "s1"}}, "s1": {"always": "s2"}, "s2": {"always": "s3"}, "s3": {"always": "s4"}, "s4": {}}}`
	m := mustLoad(t, doc, nil)
	for _, tt := range []struct {
		limit int
		ok    bool
	}{{4, true}, {100, true}, {3, false}, {1, false}} {
		in, err := NewInterpreter(m, WithMaxMicrosteps(tt.limit))
		if err != nil {
			t.Fatal(err)
		}
		in.Start()
		res, err := in.Send(Event{Name: "GO"})
		if tt.ok && (err != nil || res.Microsteps != 4) {
			t.Errorf("limit %d: %v, %d microsteps", tt.limit, err, res.Microsteps)
		}
		if !tt.ok && (!errors.Is(err, ErrNotSettled) || in.Status() != StatusError) {
			t.Errorf("limit %d: %v, status %s", tt.limit, err, in.Status())
		}
	}
}
