package statechart

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// A conformance case: a machine, and steps with the Line each must
// produce. The first step has no "do": it is the start. Only the keys an
// expectation lists are compared ("value", "status", "context", "log",
// "sent", "error" — "error" as a substring).
type conformanceCase struct {
	Name    string                       `json:"name"`
	Source  string                       `json:"source"` // where XState documents the behaviour
	Machine json.RawMessage              `json:"machine"`
	Steps   []map[string]json.RawMessage `json:"steps"`
}

func TestConformance(t *testing.T) {
	files, err := filepath.Glob("testdata/conformance/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	total := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []conformanceCase
		if err := json.Unmarshal(data, &cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range cases {
			total++
			t.Run(filepath.Base(f)+"/"+c.Name, func(t *testing.T) { runCase(t, c) })
		}
	}
	t.Logf("%d cases in %d files", total, len(files))
}

func runCase(t *testing.T, c conformanceCase) {
	m, err := Load(c.Machine, nil)
	if err != nil {
		if want, ok := c.Steps[0]["loadError"]; ok {
			var sub string
			json.Unmarshal(want, &sub)
			if !bytes.Contains([]byte(err.Error()), []byte(sub)) {
				t.Fatalf("load error %q, want it to contain %q", err, sub)
			}
			return
		}
		t.Fatalf("load: %v", err)
	}
	if _, ok := c.Steps[0]["loadError"]; ok {
		t.Fatal("loaded, want a load error")
	}
	sim, line, _ := NewSimulator(m)
	if sim == nil {
		t.Fatal("simulator did not start")
	}
	for i, st := range c.Steps {
		if i > 0 {
			var do string
			json.Unmarshal(st["do"], &do)
			line, err = sim.Step(do)
			if err != nil && st["error"] == nil {
				t.Fatalf("step %d %q: %v", i, do, err)
			}
		}
		checkLine(t, i, st, line)
	}
}

func checkLine(t *testing.T, i int, want map[string]json.RawMessage, got Line) {
	t.Helper()
	gotJSON, _ := json.Marshal(got)
	var gotMap map[string]json.RawMessage
	json.Unmarshal(gotJSON, &gotMap)
	for k, w := range want {
		switch k {
		case "do", "note":
			continue
		case "error":
			var sub string
			json.Unmarshal(w, &sub)
			if !bytes.Contains([]byte(got.Error), []byte(sub)) {
				t.Errorf("step %d: error %q, want it to contain %q", i, got.Error, sub)
			}
			continue
		}
		g := gotMap[k]
		if k == "value" && !compactEqual(g, w) || k != "value" && !jsonEqual(g, w) {
			t.Errorf("step %d %s: got %s, want %s\n(line %s)", i, k, g, w, gotJSON)
		}
	}
}

// compactEqual compares two JSON texts exactly, key order included.
func compactEqual(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}

// jsonEqual compares two JSON values, ignoring object key order.
func jsonEqual(a, b json.RawMessage) bool {
	var va, vb any
	json.Unmarshal(a, &va)
	json.Unmarshal(b, &vb)
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}
