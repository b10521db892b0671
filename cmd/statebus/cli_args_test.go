package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// Flags may follow the positional arguments, "--" ends them, and a usage
// error says why in one line before the usage.
func TestCLIFlagsAnywhere(t *testing.T) {
	path := startBusProcess(t)
	l := startListen(t, path, "worker-1", "--json", "--reply", `{"ok":true}`)

	out, errOut, code := runCLI(t, "send", "worker-1", "JOB", `{"id":7}`, "--socket", path, "--as", "ui-main")
	if code != 0 || !strings.Contains(out, "delivered JOB to worker-1") {
		t.Fatalf("send with trailing flags: %d %q %q", code, out, errOut)
	}
	if s := l.next(t); !strings.Contains(s, `"SourceMachineId":"ui-main"`) || !strings.Contains(s, `"Payload":{"id":7}`) {
		t.Fatalf("listen printed %s", s)
	}
	// After "--" a leading dash is an argument: the JSON number -1.
	out, errOut, code = runCLI(t, "send", "--socket", path, "--", "worker-1", "NEG", "-1")
	if code != 0 {
		t.Fatalf("send -- ... -1: %d %q %q", code, out, errOut)
	}
	if s := l.next(t); !strings.Contains(s, `"EventName":"NEG"`) || !strings.Contains(s, `"Payload":-1`) {
		t.Fatalf("listen printed %s", s)
	}
	out, errOut, code = runCLI(t, "request", "worker-1", "Q", "--socket="+path, "--timeout", "5s")
	if code != 0 || strings.TrimSpace(out) != `{"ok":true}` {
		t.Fatalf("request with trailing flags: %d %q %q", code, out, errOut)
	}
	l.next(t)
	if out, errOut, code = runCLI(t, "machines", "--json", "--socket", path); code != 0 || !strings.Contains(out, "worker-1") {
		t.Fatalf("machines: %d %q %q", code, out, errOut)
	}

	for _, c := range []struct {
		args   []string
		reason string
	}{
		{[]string{"send", "worker-1", "E", "--bogus", "--socket", path}, "statebus send: unknown flag --bogus"},
		{[]string{"send", "--socket", path, "only-target"}, "statebus send: missing EVENT"},
		{[]string{"send", "--socket", path}, "statebus send: missing TARGET EVENT"},
		{[]string{"send", "--socket", path, "t", "E", "1", "2"}, `statebus send: unexpected argument "2"`},
		{[]string{"send", "t", "E", "--socket"}, "statebus send: flag --socket needs a value"},
		{[]string{"send", "t", "E", "--timeout", "soon"}, `statebus send: invalid value "soon" for --timeout`},
		{[]string{"listen", "--socket", path}, "statebus listen: missing ID"},
		{[]string{"machines", "extra", "--socket", path}, `statebus machines: unexpected argument "extra"`},
		{[]string{"ping", "-x"}, "statebus ping: unknown flag -x"},
		{[]string{"chart", "check"}, "statebus chart check: missing FILE.json"},
		{[]string{"chart", "diagram", pingChart, "--format", "png"}, `statebus chart diagram: --format "png"`},
		{[]string{"serve", "--bogus"}, "statebus serve: unknown flag --bogus"},
	} {
		out, errOut, code := runCLI(t, c.args...)
		first, _, _ := strings.Cut(errOut, "\n")
		if code != 2 || out != "" || !strings.HasPrefix(first, c.reason) || !strings.Contains(errOut, "\nUsage: statebus ") {
			t.Errorf("%q: exit %d, stdout %q, stderr:\n%s", c.args, code, out, errOut)
		}
	}
}

// Help shows flags as the README writes them.
func TestCLIHelpSpellsFlagsWithTwoDashes(t *testing.T) {
	for _, args := range [][]string{{"send", "--help"}, {"listen", "-h"}, {"serve", "--help"}, {"chart", "run", "--help"}, {"ping", "--help"}} {
		out, errOut, code := runCLI(t, args...)
		if code != 0 || out != "" || !strings.Contains(errOut, "\n  --socket PATH\n") || strings.Contains(errOut, "\n  -socket") {
			t.Errorf("%q: exit %d, stderr:\n%s", args, code, errOut)
		}
	}
	if _, errOut, _ := runCLI(t, "ping", "--help"); !strings.Contains(errOut, "\n  -c int\n") || !strings.Contains(errOut, "\n  --timeout duration\n") {
		t.Errorf("ping --help:\n%s", errOut)
	}
}

// A pretty-printed payload, or one with echo's newline, is sent on one
// line: the event arrives intact and the bus still answers the next
// command.
func TestCLIPayloadCompacted(t *testing.T) {
	path := startBusProcess(t)
	l := startListen(t, path, "--json", "--reply", "{\n  \"ok\": true\n}\n", "worker-1")
	pretty := "{\n \"a\": 1,\n \"b\": [1, 2]\n}\n"
	payload := func(line string) string {
		t.Helper()
		var ev struct{ EventName string }
		var p struct{ Payload json.RawMessage }
		if json.Unmarshal([]byte(line), &ev) != nil || json.Unmarshal([]byte(line), &p) != nil {
			t.Fatalf("listen printed %q", line)
		}
		return ev.EventName + " " + string(p.Payload)
	}
	for _, c := range [][]string{
		{"send", "--socket", path, "worker-1", "FROM_STDIN", "-"},
		{"send", "--socket", path, "worker-1", "FROM_ARG", pretty},
		{"request", "--socket", path, "worker-1", "ASK", "-"},
		{"publish", "--socket", path, "NEWS", "-"},
	} {
		out, errOut, code := runCLIInput(t, pretty, c...)
		if code != 0 {
			t.Fatalf("%q: exit %d %q %q", c, code, out, errOut)
		}
		if c[0] == "request" && strings.TrimSpace(out) != `{"ok":true}` {
			t.Fatalf("request printed %q", out)
		}
		if got, want := payload(l.next(t)), c[len(c)-2]+` {"a":1,"b":[1,2]}`; got != want {
			t.Fatalf("%q: listen saw %s, want %s", c, got, want)
		}
		// The connection and the bus are still fine.
		if out, errOut, code := runCLI(t, "send", "--socket", path, "worker-1", "NEXT"); code != 0 {
			t.Fatalf("send after %q: %d %q %q", c, code, out, errOut)
		}
		if got := payload(l.next(t)); got != "NEXT null" {
			t.Fatalf("after %q listen saw %s", c, got)
		}
	}
	if _, errOut, code := runCLIInput(t, "{\"a\":\n", "send", "--socket", path, "worker-1", "E", "-"); code != 2 || !strings.Contains(errOut, "not valid JSON") {
		t.Fatalf("truncated JSON: %d %q", code, errOut)
	}
}
