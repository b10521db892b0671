package statechart

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary documents to the loader; whatever loads must
// also run (start, a few events, time), draw and restore without
// panicking or hanging.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/conformance/*.json")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		var cases []conformanceCase
		json.Unmarshal(data, &cases)
		for _, c := range cases {
			f.Add([]byte(c.Machine))
		}
	}
	for _, s := range []string{`{}`, `[]`, `{"states":{"a":{}}}`, `{"initial":"a","states":{"a":{"type":"history"}}}`,
		`{"id":"x","type":"parallel","states":{"h":{"type":"history"},"r":{}}}`, "{\"a\":1}x", `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return // keep each run short: machines of interest are small
		}
		if _, err := Parse(data); err != nil {
			return
		}
		m, err := Load(data, nil)
		if err != nil {
			return
		}
		Mermaid(m)
		DOT(m)
		sim, _, _ := NewSimulator(m)
		if sim == nil {
			t.Fatal("loaded machine did not start")
		}
		events := m.Events()
		for i := 0; i < 6; i++ {
			if len(events) > 0 {
				sim.Step("send " + events[i%len(events)] + " {\"v\":1}")
			}
			// At most 50 timers per round: a chart may legitimately
			// multiply its timers without bound.
			until := sim.clock.Now().Add(time.Second)
			for n := 0; n < 50 && sim.clock.FireNext(until); n++ {
				sim.sys.Drain()
			}
		}
		if err := consistent(sim.actor.in); err != nil {
			t.Fatal(err)
		}
		snap := sim.actor.Snapshot()
		if _, err := Restore(m, snap); err != nil {
			t.Fatalf("restore of %s: %v", mustJSON(snap), err)
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// consistent checks the configuration invariants: the root is active,
// every active non-root node's parent is active, an active compound
// state has exactly one active child, an active parallel state all its
// regions, and history states are never active.
func consistent(in *Interpreter) error {
	if in.started && !in.active[0] {
		return fmt.Errorf("root not active")
	}
	for _, n := range in.m.nodes {
		if !in.active[n.order] {
			continue
		}
		if n.Type == History {
			return fmt.Errorf("history state %s active", n.ID)
		}
		if n.Parent != nil && !in.active[n.Parent.order] {
			return fmt.Errorf("%s active, its parent is not", n.ID)
		}
		count := 0
		for _, c := range n.regions() {
			if in.active[c.order] {
				count++
			}
		}
		if n.Type == Compound && count != 1 || n.Type == Parallel && count != len(n.regions()) {
			return fmt.Errorf("%s (%s) has %d active children", n.ID, n.Type, count)
		}
	}
	return nil
}
