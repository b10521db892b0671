package top

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/statebus/statebus/client"
)

// stateText is the machine's reported state for the STATE column, "-"
// when it reported none.
func stateText(m client.MachineInfo) string {
	if m.State == nil {
		return "-"
	}
	if s := StateValue(m.State.Value, m.State.Status); s != "" {
		return s
	}
	return "-"
}

// StateValue writes an XState state value short: a string as it is, a
// chain of single-key objects as a dotted path ("active.waiting"), the
// regions of a parallel state side by side in braces, sorted by name
// ("{left.on, right.off}"); anything else as compact JSON. A status other
// than "active" or "" follows in parentheses.
func StateValue(value json.RawMessage, status string) string {
	s := valueText(value)
	if status != "" && status != "active" {
		if s == "" {
			return status
		}
		s += " (" + status + ")"
	}
	return s
}

func valueText(value json.RawMessage) string {
	value = bytes.TrimSpace(value)
	if len(value) == 0 || string(value) == "null" {
		return ""
	}
	var v any
	if err := json.Unmarshal(value, &v); err != nil {
		return string(value)
	}
	return stateString(v)
}

func stateString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k
			if sub := stateString(x[k]); sub != "" {
				parts[i] += "." + sub
			}
		}
		if len(parts) == 1 {
			return parts[0]
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}
