package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const pingChart, pongChart = "../../examples/pingpong/ping.json", "../../examples/pingpong/pong.json"

// runCLIInput is runCLI with standard input.
func runCLIInput(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errOut.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), 0
}

func writeChart(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(shortDir(t), "chart.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestChartSimulate(t *testing.T) {
	chart := writeChart(t, `{"id": "door", "initial": "closed", "context": {"opened": 0},
	  "states": {
	    "closed": {"on": {"OPEN": {"target": "open", "actions": [{"type": "increment", "params": {"key": "opened"}}, {"type": "log", "params": {"message": "opening <now>"}}]}}},
	    "open": {"entry": {"type": "sendTo", "params": {"to": "alarm", "event": "DOOR_OPEN", "payload": {"door": 1}}},
	      "after": {"1000": {"target": "closed", "actions": {"type": "log", "params": {"message": "auto-close"}}}}}}}`)
	steps := "send OPEN {\"by\": \"ann\"}\n\n# comment\nadvance 999\nadvance 1\nsend NOTHING\n"
	out, errOut, code := runCLIInput(t, steps, "chart", "simulate", chart)
	want := `{"value":"closed","status":"active","context":{"opened":0},"log":[]}
{"value":"open","status":"active","context":{"opened":1},"log":["opening <now>"],"sent":[{"to":"alarm","event":"DOOR_OPEN","payload":{"door":1}}]}
{"value":"open","status":"active","context":{"opened":1},"log":[]}
{"value":"closed","status":"active","context":{"opened":1},"log":["auto-close"]}
{"value":"closed","status":"active","context":{"opened":1},"log":[]}
`
	if code != 0 || out != want {
		t.Fatalf("exit %d, stderr %q\ngot:\n%swant:\n%s", code, errOut, out, want)
	}
}

func TestChartSimulateErrors(t *testing.T) {
	loop := writeChart(t, `{"id": "m", "initial": "idle", "states": {"idle": {"on": {"GO": "a"}}, "a": {"always": "b"}, "b": {"always": "a"}}}`)
	out, errOut, code := runCLIInput(t, "send GO\nsend GO\n", "chart", "simulate", loop)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 2 || !strings.Contains(lines[1], `"status":"error"`) || !strings.Contains(lines[1], `/states/`) ||
		!strings.Contains(errOut, "did not settle") {
		t.Fatalf("non-settling loop: exit %d\n%s\n%s", code, out, errOut)
	}
	bad := writeChart(t, `{"id": "m", "initial": "a", "states": {"a": {"on": {"E": "nowhere"}}}}`)
	if out, errOut, code := runCLIInput(t, "", "chart", "simulate", bad); code != 1 || out != "" || !strings.Contains(errOut, "/states/a/on/E/target") {
		t.Fatalf("unknown target: exit %d %q %q", code, out, errOut)
	}
	custom := writeChart(t, `{"id": "m", "initial": "a", "states": {"a": {"entry": "notify"}}}`)
	if _, errOut, code := runCLIInput(t, "", "chart", "simulate", custom); code != 1 || !strings.Contains(errOut, `unknown action "notify"`) {
		t.Fatalf("unknown action: exit %d %q", code, errOut)
	}
	if _, errOut, code := runCLIInput(t, "", "chart", "simulate", writeChart(t, `{"id": "m", "initial": `)); code != 1 || !strings.Contains(errOut, "invalid JSON") {
		t.Fatalf("bad JSON: exit %d %q", code, errOut)
	}
	ok := writeChart(t, `{"id": "m", "initial": "a", "states": {"a": {}}}`)
	if _, errOut, code := runCLIInput(t, "jump\n", "chart", "simulate", ok); code != 2 || !strings.Contains(errOut, "line 1") {
		t.Fatalf("bad step: exit %d %q", code, errOut)
	}
	if _, _, code := runCLIInput(t, "", "chart", "simulate"); code != 2 {
		t.Fatalf("no file: exit %d", code)
	}
	if _, _, code := runCLIInput(t, "", "chart", "frobnicate"); code != 2 {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
}

func TestChartCheckAndDiagram(t *testing.T) {
	chart := writeChart(t, `{"id": "m", "initial": "a", "states": {
	  "a": {"entry": "notify", "on": {"GO": {"target": "p", "cond": "ready"}}},
	  "p": {"type": "parallel", "states": {
	    "r1": {"initial": "x", "states": {"x": {"after": {"slow": "y"}}, "y": {"type": "final"}}},
	    "r2": {"initial": "u", "states": {"u": {}, "h": {"type": "history"}}}}}}}`)
	out, errOut, code := runCLI(t, "chart", "check", chart)
	for _, s := range []string{"valid", "#m.p.r1.x (atomic)", "#m.p (parallel)", "GO", "actions: notify", "guards:  ready", "delays:  slow"} {
		if code != 0 || !strings.Contains(out, s) {
			t.Fatalf("check: exit %d, missing %q in\n%s", code, s, out)
		}
	}
	if !strings.Contains(errOut, `"cond"`) {
		t.Errorf("check: no warning for cond: %q", errOut)
	}
	out, _, code = runCLI(t, "chart", "check", chart, "--json")
	var c struct {
		ID     string
		Needs  map[string][]string
		States []struct{ ID, Type string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil || c.ID != "m" || c.Needs["actions"][0] != "notify" || len(c.States) != 9 {
		t.Fatalf("check --json: %d %s", code, out)
	}
	out, _, code = runCLI(t, "chart", "diagram", chart)
	for _, s := range []string{"stateDiagram-v2", "state m_p {", "--", "[*] --> m_p_r1_x", "m_a --> m_p: GO [ready]", "after slow", "m_p_r1_y --> [*]"} {
		if code != 0 || !strings.Contains(out, s) {
			t.Fatalf("mermaid: missing %q in\n%s", s, out)
		}
	}
	out, _, code = runCLI(t, "chart", "diagram", "--format", "dot", chart)
	for _, s := range []string{`digraph "m"`, `subgraph "cluster_m.p"`, "style=dashed", `lhead="cluster_m.p"`} {
		if code != 0 || !strings.Contains(out, s) {
			t.Fatalf("dot: missing %q in\n%s", s, out)
		}
	}
	one := writeChart(t, `{"id": "one", "initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {}}}`)
	if out, _, code := runCLI(t, "chart", "check", one); code != 0 || !strings.HasPrefix(out, "chart one: valid, 3 states, 1 event\n") {
		t.Fatalf("check of a one-event chart: %d\n%s", code, out)
	}
	if _, _, code := runCLI(t, "chart", "check", writeChart(t, `{"states": 1}`)); code != 1 {
		t.Fatalf("invalid chart: exit %d", code)
	}
}

// chartProc is a running "statebus chart run".
type chartProc struct {
	cmd   *exec.Cmd
	lines chan string
	err   *safeBuffer
	done  chan int
}

func startChart(t *testing.T, path, file, id string) *chartProc {
	t.Helper()
	cmd := exec.Command(binary, "chart", "run", file, "--id", id, "--socket", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &chartProc{cmd: cmd, lines: make(chan string, 100), err: &safeBuffer{}, done: make(chan int, 1)}
	cmd.Stderr = p.err
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.done <- ee.ExitCode()
		} else {
			p.done <- 0
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return p
}

func (p *chartProc) waitRunning(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.err.String(), "running") {
		if time.Now().After(deadline) {
			t.Fatalf("chart run did not start: %s", p.err.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exit waits for the process to end and returns its exit code and the
// JSON lines it printed.
func (p *chartProc) exit(t *testing.T) (int, []string) {
	t.Helper()
	var lines []string
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if ok {
				lines = append(lines, l)
				continue
			}
			return <-p.done, lines
		case <-timeout:
			t.Fatalf("chart run did not exit; stderr:\n%s", p.err.String())
		}
	}
}

func TestChartRunPingPongAcrossProcesses(t *testing.T) {
	path := startBusProcess(t)
	pong := startChart(t, path, pongChart, "pong")
	pong.waitRunning(t)
	ping := startChart(t, path, pingChart, "ping")
	code, pingLines := ping.exit(t)
	if code != 0 {
		t.Fatalf("ping exited %d; stderr:\n%s\nout:\n%s", code, ping.err.String(), strings.Join(pingLines, "\n"))
	}
	code, pongLines := pong.exit(t)
	if code != 0 {
		t.Fatalf("pong exited %d; stderr:\n%s", code, pong.err.String())
	}
	var events []string
	for _, l := range pingLines {
		var line struct{ Event, From, Status string }
		json.Unmarshal([]byte(l), &line)
		events = append(events, line.Event+"<"+line.From+" "+line.Status)
	}
	if want := "xstate.init< active,PONG<pong active,PONG<pong active,PONG<pong done"; strings.Join(events, ",") != want {
		t.Fatalf("ping saw %q, want %q", strings.Join(events, ","), want)
	}
	last := pongLines[len(pongLines)-1]
	if !strings.Contains(last, `"event":"STOP"`) || !strings.Contains(last, `"status":"done"`) || !strings.Contains(last, `"hits":3`) {
		t.Fatalf("pong's last line %s", last)
	}
	// The bus released both ids.
	out, _, _ := runCLI(t, "machines", "--socket", path, "--json")
	if strings.Contains(out, "ping") || strings.Contains(out, "pong") {
		t.Fatalf("machines still registered: %s", out)
	}
}

func TestChartRunFailingChart(t *testing.T) {
	path := startBusProcess(t)
	loop := writeChart(t, `{"id": "m", "initial": "a", "states": {"a": {"always": "b"}, "b": {"always": "a"}}}`)
	out, errOut, code := runCLI(t, "chart", "run", loop, "--id", "looper", "--socket", path)
	if code != 1 || !strings.Contains(errOut, "did not settle") || !strings.Contains(out, `"status":"error"`) {
		t.Fatalf("failing chart: exit %d\n%s\n%s", code, out, errOut)
	}
}

// A chart whose send is refused (its target is not on the bus yet) says
// so and exits 1 rather than wait forever for an answer.
func TestChartRunTargetMissing(t *testing.T) {
	path := startBusProcess(t)
	ping := startChart(t, path, pingChart, "ping")
	code, _ := ping.exit(t)
	errOut := ping.err.String()
	if code != 1 || !strings.Contains(errOut, "statebus chart run: PING to pong was not delivered (Target machine not connected: pong); stopping; start pong before this chart\n") {
		t.Fatalf("ping without pong: exit %d; stderr:\n%s", code, errOut)
	}
	// Its id was released.
	out, _, _ := runCLI(t, "machines", "--socket", path, "--json")
	if strings.Contains(out, "ping") {
		t.Fatalf("machines still registered: %s", out)
	}
}

func TestChartRunUnreachable(t *testing.T) {
	_, errOut, code := runCLI(t, "chart", "run", pongChart, "--id", "pong", "--socket", filepath.Join(shortDir(t), "none.sock"), "--timeout", "1s")
	if code != 3 || !strings.Contains(errOut, "is it running") {
		t.Fatalf("no bus: exit %d %q", code, errOut)
	}
}
