package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runCLI runs the built binary and returns stdout, stderr and exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func startBusProcess(t *testing.T) string {
	t.Helper()
	path := filepath.Join(shortDir(t), "bus.sock")
	p := startServe(t, nil, "--socket", path)
	p.listening(t)
	return path
}

// listener is a running "statebus listen".
type listener struct {
	cmd   *exec.Cmd
	lines chan string
	err   *safeBuffer
}

func startListen(t *testing.T, path string, args ...string) *listener {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"listen", "--socket", path}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut safeBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := &listener{cmd: cmd, lines: make(chan string, 100), err: &errOut}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
		close(l.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errOut.String(), "listening as") {
		if time.Now().After(deadline) {
			t.Fatalf("listen did not start: %s", errOut.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return l
}

func (l *listener) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-l.lines:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("listen printed nothing")
	}
	return ""
}

func TestCLISendListenRequestPublish(t *testing.T) {
	path := startBusProcess(t)
	l := startListen(t, path, "--json", "--reply", `{"ok":true}`, "worker-1")

	out, errOut, code := runCLI(t, "send", "--socket", path, "--as", "ui-main", "worker-1", "JOB", `{"id":7,"big":123456789012345678901234567890}`)
	if code != 0 || !strings.Contains(out, "delivered JOB to worker-1") {
		t.Fatalf("send: %d %q %q", code, out, errOut)
	}
	var ev struct {
		Kind, SourceMachineId, TargetMachineId, EventName string
		Payload                                           json.RawMessage
	}
	if err := json.Unmarshal([]byte(l.next(t)), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != "Event" || ev.SourceMachineId != "ui-main" || ev.EventName != "JOB" || string(ev.Payload) != `{"id":7,"big":123456789012345678901234567890}` {
		t.Fatalf("listen printed %+v", ev)
	}

	out, _, code = runCLI(t, "request", "--socket", path, "worker-1", "Q", "[1]")
	if code != 0 || strings.TrimSpace(out) != `{"ok":true}` {
		t.Fatalf("request: %d %q", code, out)
	}
	l.next(t)
	out, _, code = runCLI(t, "request", "--socket", path, "--json", "worker-1", "Q", "[2]")
	if code != 0 || strings.TrimSpace(out) != `{"EventName":"Q","Payload":{"ok":true},"Replied":true,"TargetMachineId":"worker-1"}` {
		t.Fatalf("request --json: %d %q", code, out)
	}
	l.next(t)
	out, _, code = runCLI(t, "request", "--socket", path, "--json", "nobody", "Q")
	if code != 1 || !strings.Contains(out, `"Replied":false`) || !strings.Contains(out, `"Error":"Target machine not connected: nobody"`) {
		t.Fatalf("request --json to nobody: %d %q", code, out)
	}

	out, _, code = runCLI(t, "publish", "--socket", path, "--json", "NEWS", `"hi"`)
	if code != 0 || !strings.Contains(out, `"Recipients":1`) {
		t.Fatalf("publish: %d %q", code, out)
	}
	if s := l.next(t); !strings.Contains(s, `"NEWS"`) {
		t.Fatalf("listen printed %s", s)
	}

	// Exit codes: 1 when the bus refuses, 2 on usage errors.
	_, errOut, code = runCLI(t, "send", "--socket", path, "nobody", "E")
	if code != 1 || !strings.Contains(errOut, "Target machine not connected: nobody") {
		t.Fatalf("send to nobody: %d %q", code, errOut)
	}
	out, _, code = runCLI(t, "send", "--socket", path, "--json", "nobody", "E")
	if code != 1 || !strings.Contains(out, `"Delivered":false`) {
		t.Fatalf("send --json to nobody: %d %q", code, out)
	}
	if _, _, code = runCLI(t, "send", "--socket", path, "worker-1", "E", "{bad"); code != 2 {
		t.Fatalf("bad JSON: exit %d", code)
	}
	if _, _, code = runCLI(t, "send", "--socket", path, "only-target"); code != 2 {
		t.Fatalf("missing event: exit %d", code)
	}
	// Sending as a machine someone else owns is refused.
	if _, errOut, code = runCLI(t, "send", "--socket", path, "--as", "worker-1", "worker-1", "E"); code != 1 || !strings.Contains(errOut, "owner") {
		t.Fatalf("spoofed source: %d %q", code, errOut)
	}
}

func TestCLIMachinesHealthPing(t *testing.T) {
	path := startBusProcess(t)
	startListen(t, path, "m-1", "m-2")

	out, _, code := runCLI(t, "machines", "--socket", path)
	if code != 0 || !strings.Contains(out, "MACHINE") || !strings.Contains(out, "m-1") || !strings.Contains(out, "m-2") {
		t.Fatalf("machines: %d %q", code, out)
	}
	out, _, code = runCLI(t, "machines", "--socket", path, "--json")
	var list []struct{ ID string }
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Fatalf("machines --json: %d %q", code, out)
	}
	out, _, code = runCLI(t, "health", "--socket", path)
	if code != 0 || !strings.Contains(out, "healthy") || !strings.Contains(out, "machines") {
		t.Fatalf("health: %d %q", code, out)
	}
	out, _, code = runCLI(t, "health", "--socket", path, "--json")
	var h struct{ Health struct{ IsHealthy bool } }
	if code != 0 || json.Unmarshal([]byte(out), &h) != nil || !h.Health.IsHealthy {
		t.Fatalf("health --json: %d %q", code, out)
	}
	out, _, code = runCLI(t, "ping", "--socket", path, "-c", "3", "-i", "1ms")
	if code != 0 || strings.Count(out, "pong from") != 3 || !strings.Contains(out, "p99") {
		t.Fatalf("ping: %d %q", code, out)
	}
	// Unreachable: exit 3 with a clear message.
	_, errOut, code := runCLI(t, "health", "--socket", filepath.Join(shortDir(t), "none.sock"), "--timeout", "1s")
	if code != 3 || !strings.Contains(errOut, "is it running") {
		t.Fatalf("health on nothing: %d %q", code, errOut)
	}
}

func TestCLISelfTest(t *testing.T) {
	out, _, code := runCLI(t, "self-test")
	if code != 0 || !strings.Contains(out, "OK: all") || strings.Contains(out, "FAIL") {
		t.Fatalf("self-test: %d\n%s", code, out)
	}
	if !strings.Contains(out, "PASS  publish reaches the other client") {
		t.Fatalf("self-test on its own bus skipped publish:\n%s", out)
	}
	// Against a running bus it reaches its own ids only: a machine on the
	// bus gets nothing from it.
	path := startBusProcess(t)
	l := startListen(t, path, "--json", "bystander")
	out, _, code = runCLI(t, "self-test", "--socket", path)
	if code != 0 || !strings.Contains(out, "testing the bus at "+path) || !strings.Contains(out, "SKIP  publish") {
		t.Fatalf("self-test against a running bus: %d\n%s", code, out)
	}
	if _, errOut, code := runCLI(t, "send", "--socket", path, "bystander", "AFTER_SELF_TEST"); code != 0 {
		t.Fatalf("send: %d %q", code, errOut)
	}
	if s := l.next(t); !strings.Contains(s, `"EventName":"AFTER_SELF_TEST"`) {
		t.Fatalf("a machine on the bus got %s from self-test", s)
	}
	_, _, code = runCLI(t, "self-test", "--socket", filepath.Join(shortDir(t), "none.sock"), "--timeout", "1s")
	if code == 0 {
		t.Fatal("self-test against nothing exited 0")
	}
}

// clientLog matches a line the client logs through log/slog's default.
var clientLog = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (INFO|WARN) statebus client: `)

func TestCLIListenSurvivesBusRestart(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "bus.sock")
	bus := startServe(t, nil, "--socket", path)
	bus.listening(t)
	l := startListen(t, path, "survivor")
	bus.cmd.Process.Signal(syscall.SIGTERM)
	bus.wait(t)
	bus2 := startServe(t, nil, "--socket", path)
	bus2.listening(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, _, code := runCLI(t, "send", "--socket", path, "survivor", "BACK")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("listen never re-registered after the restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := l.next(t); !strings.Contains(s, "BACK") {
		t.Fatalf("listen printed %q", s)
	}
	// It said so, each message on one line (the error of the broken
	// connection has two: "disconnected from the bus" and "EOF").
	if !strings.Contains(l.err.String(), "statebus listen: disconnected (") {
		t.Fatalf("listen did not report the disconnection:\n%s", l.err.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(l.err.String()), "\n") {
		if !strings.HasPrefix(line, "statebus listen: ") && !clientLog.MatchString(line) {
			t.Errorf("listen's stderr has a broken line %q:\n%s", line, l.err.String())
		}
	}
}

func TestCLIHelp(t *testing.T) {
	for _, cmd := range []string{"send", "publish", "request", "listen", "machines", "health", "ping", "self-test", "serve"} {
		_, errOut, code := runCLI(t, cmd, "--help")
		if code != 0 || !strings.Contains(errOut, "Usage: statebus "+cmd) {
			t.Errorf("%s --help: %d %q", cmd, code, errOut)
		}
	}
}
